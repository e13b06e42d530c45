package domain

import (
	"encoding/json"
	"fmt"
	"sort"

	"meterline/functions/subscriptions/contracts"
)

// CustomerSnapshotSchema is the version of customerSnapshot's shape. Change it with the shape
// or the meaning of the Customer's state: snapshots of another version are then ignored and
// the streams replayed.
const CustomerSnapshotSchema = 1

// customerSnapshot is the Customer's state as its snapshot stores it (aggregate.Snapshotter):
// everything Apply builds and the commands read.
type customerSnapshot struct {
	Created      bool                      `json:"created"`
	Terms        contracts.CustomerCreated `json:"terms"`
	Balance      int64                     `json:"balance"`
	Locked       bool                      `json:"locked"`
	Reports      []string                  `json:"reports"` // recent report ids, oldest first
	Charges      map[string]int64          `json:"charges"`
	Payments     map[string]int64          `json:"payments"`
	UnitsByMonth map[string]int64          `json:"unitsByMonth"`
	Unbilled     map[string]monthSnapshot  `json:"unbilled"`
	Invoices     []Invoice                 `json:"invoices"` // by id
	Open         []string                  `json:"open"`     // unpaid, oldest first
	Credit       int64                     `json:"credit"`
}

type monthSnapshot struct {
	Units       int64 `json:"units"`
	Consumption int64 `json:"consumption"`
	Charges     int64 `json:"charges"`
}

// SnapshotSchema implements aggregate.Snapshotter.
func (c *Customer) SnapshotSchema() int { return CustomerSnapshotSchema }

// Snapshot implements aggregate.Snapshotter.
func (c *Customer) Snapshot() (any, error) {
	s := customerSnapshot{
		Created: c.created, Terms: c.terms, Balance: c.balance, Locked: c.locked,
		Reports: c.reportOrder, Charges: c.charges, Payments: c.payments, UnitsByMonth: c.unitsByMonth,
		Unbilled: make(map[string]monthSnapshot, len(c.unbilled)),
		Invoices: make([]Invoice, 0, len(c.invoices)),
		Open:     c.open, Credit: c.credit,
	}
	for m, t := range c.unbilled {
		s.Unbilled[m] = monthSnapshot{Units: t.units, Consumption: t.consumption, Charges: t.charges}
	}
	for _, inv := range c.invoices {
		s.Invoices = append(s.Invoices, *inv)
	}
	sort.Slice(s.Invoices, func(i, j int) bool { return s.Invoices[i].ID < s.Invoices[j].ID })
	return s, nil
}

// Restore implements aggregate.Snapshotter, on a Customer fresh from NewCustomer. It refuses
// a snapshot that contradicts itself (the caller then replays the stream).
func (c *Customer) Restore(data []byte) error {
	var s customerSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("customer snapshot: %w", err)
	}
	if len(s.Reports) > RecentReports {
		return fmt.Errorf("customer snapshot: %d report ids, at most %d", len(s.Reports), RecentReports)
	}
	c.created, c.terms, c.balance, c.locked, c.credit = s.Created, s.Terms, s.Balance, s.Locked, s.Credit
	for _, id := range s.Reports {
		if c.reports[id] {
			return fmt.Errorf("customer snapshot: report id %q twice", id)
		}
		c.reports[id] = true
	}
	c.reportOrder = s.Reports
	copyInto(c.charges, s.Charges)
	copyInto(c.payments, s.Payments)
	copyInto(c.unitsByMonth, s.UnitsByMonth)
	for m, t := range s.Unbilled {
		c.unbilled[m] = &monthTotals{units: t.Units, consumption: t.Consumption, charges: t.Charges}
	}
	for _, inv := range s.Invoices {
		if _, dup := c.invoices[inv.ID]; dup || inv.ID == "" {
			return fmt.Errorf("customer snapshot: invoice id %q empty or twice", inv.ID)
		}
		c.invoices[inv.ID] = &inv
	}
	for _, id := range s.Open {
		if inv, ok := c.invoices[id]; !ok || inv.Status == InvoicePaid {
			return fmt.Errorf("customer snapshot: open invoice %q unknown or paid", id)
		}
	}
	c.open = s.Open
	return nil
}

func copyInto(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] = v
	}
}

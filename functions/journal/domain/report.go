package domain

import (
	"time"

	"meterline/shared/fault"
)

// Movement is what one event says about a customer's month: usage measured by the Cloud API,
// or money billed, invoiced or received by Subscriptions. The ACL makes it from the contexts'
// events.
type Movement struct {
	CustomerID string
	Month      string // "2026-03", UTC
	Kind       MovementKind
	Units      int64
	Requests   int64
	Amount     int64 // minor units
	Currency   string
}

// MovementKind says which line of the report a movement goes to.
type MovementKind string

const (
	UsageMeasured   MovementKind = "usage"       // cloudapi.UsageReported
	ConsumptionPaid MovementKind = "consumption" // subscriptions.ConsumptionAdded: usage billed
	ChargeMade      MovementKind = "charge"      // subscriptions.ChargeAdded
	InvoiceMade     MovementKind = "invoice"     // subscriptions.InvoiceIssued, by its period
	PaymentMade     MovementKind = "payment"     // subscriptions.PaymentReceived
)

// MonthlyReport is a customer's revenue and usage in one calendar month (UTC): what the Cloud
// API measured, what Subscriptions billed (consumption beyond the included units, and one-off
// charges), invoiced and received.
type MonthlyReport struct {
	CustomerID  string `json:"customerId"`
	Month       string `json:"month"`
	Currency    string `json:"currency,omitempty"`
	Usage       Usage  `json:"usage"`
	Consumption Billed `json:"consumption"`
	Charges     Billed `json:"charges"`
	Revenue     int64  `json:"revenue"` // consumption + charges
	Invoiced    Billed `json:"invoiced"`
	Payments    Billed `json:"payments"`
	Events      int    `json:"events"` // how many events the report folds
}

// Usage is the metered API's measure of a month.
type Usage struct {
	Reports  int   `json:"reports"`
	Units    int64 `json:"units"`
	Requests int64 `json:"requests"`
}

// Billed is a count of items and their total in minor units.
type Billed struct {
	Count  int   `json:"count"`
	Units  int64 `json:"units,omitempty"`
	Amount int64 `json:"amount"`
}

// Apply folds one movement into the report. Sums only: the result does not depend on the order
// of the movements (the projection applies each event once, in received order).
func (r *MonthlyReport) Apply(m Movement) {
	r.CustomerID, r.Month = m.CustomerID, m.Month
	if r.Currency == "" {
		r.Currency = m.Currency
	}
	r.Events++
	switch m.Kind {
	case UsageMeasured:
		r.Usage.Reports++
		r.Usage.Units += m.Units
		r.Usage.Requests += m.Requests
	case ConsumptionPaid:
		r.Consumption.add(m)
		r.Revenue += m.Amount
	case ChargeMade:
		r.Charges.add(m)
		r.Revenue += m.Amount
	case InvoiceMade:
		r.Invoiced.add(m)
	case PaymentMade:
		r.Payments.add(m)
	}
}

func (b *Billed) add(m Movement) {
	b.Count++
	b.Units += m.Units
	b.Amount += m.Amount
}

// Month is the calendar month of t (UTC), as reports name it: "2026-03".
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// ParseMonth checks a month as the report's URL gives it.
func ParseMonth(s string) (string, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || Month(t) != s {
		return "", fault.InvalidField("month", "must be a month like 2026-03")
	}
	return s, nil
}

// ErrNoReport: nothing was recorded for that customer in that month.
var ErrNoReport = fault.New(fault.NotFound, "report_not_found", "no revenue or usage recorded for this customer in this month")

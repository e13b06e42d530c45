package domain

import (
	"sort"
	"time"

	"meterline/shared/views"
)

// Account statuses.
const (
	StatusActive = "active"
	StatusLocked = "locked"
)

// Invoice statuses, in the only order an invoice moves through them.
const (
	InvoiceOutstanding = "outstanding"
	InvoiceOverdue     = "overdue"
	InvoicePaid        = "paid"
)

var invoiceRank = map[string]int{"": 0, InvoiceOutstanding: 1, InvoiceOverdue: 2, InvoicePaid: 3}

// Account is a customer's account as the portal shows it: a view document of the customer's
// stream (views.Tracked holds the versions applied).
type Account struct {
	views.Tracked
	CustomerID     string              `json:"customerId"`
	Name           string              `json:"name"`
	Plan           string              `json:"plan"`
	Currency       string              `json:"currency"`
	CreditLimit    int64               `json:"creditLimit"`
	IncludedUnits  int64               `json:"includedUnits"`
	PricePerUnit   int64               `json:"pricePerUnit"`
	Balance        int64               `json:"balance"`
	BalanceVersion int64               `json:"balanceVersion"`
	Status         string              `json:"status"`
	StatusVersion  int64               `json:"statusVersion"`
	Invoices       map[string]*Invoice `json:"invoices"`
	Billed         map[string]*Billed  `json:"billed"` // by month "2026-11"
	Payments       int64               `json:"payments"`
}

// Invoice is one invoice of the account. Issued is false while only later facts (paid,
// overdue) have arrived: such an invoice is kept but not shown.
type Invoice struct {
	InvoiceID string    `json:"invoiceId"`
	Period    string    `json:"period"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	IssuedAt  time.Time `json:"issuedAt"`
	DueAt     time.Time `json:"dueAt"`
	Status    string    `json:"status"`
	Issued    bool      `json:"issued"`
}

// Billed is what a month's consumption and one-off charges cost so far.
type Billed struct {
	Units       int64 `json:"units"`
	Consumption int64 `json:"consumption"`
	Charges     int64 `json:"charges"`
}

// Apply merges one account fact, recorded at version of the customer's stream. Each version is
// applied once (the projection sees to it), in any order.
func (a *Account) Apply(version int64, fact any) {
	switch f := fact.(type) {
	case AccountOpened:
		a.CustomerID, a.Name, a.Plan, a.Currency = f.CustomerID, f.Name, f.Plan, f.Currency
		a.CreditLimit, a.IncludedUnits, a.PricePerUnit = f.CreditLimit, f.IncludedUnits, f.PricePerUnit
	case AccountStatusChanged:
		a.CustomerID = f.CustomerID
		if version > a.StatusVersion {
			a.Status, a.StatusVersion = StatusActive, version
			if f.Locked {
				a.Status = StatusLocked
			}
		}
		a.setBalance(version, f.Balance, f.Currency)
	case BalanceChanged:
		a.CustomerID = f.CustomerID
		a.setBalance(version, f.Balance, f.Currency)
	case ConsumptionBilled:
		b := a.billed(f.Month)
		b.Units += f.Units
		b.Consumption += f.Amount
	case ChargeBilled:
		a.billed(f.Month).Charges += f.Amount
	case PaymentMade:
		a.Payments += f.Amount
	case InvoiceIssued:
		inv := a.invoice(f.InvoiceID)
		inv.Period, inv.Amount, inv.Currency, inv.IssuedAt, inv.DueAt = f.Period, f.Amount, f.Currency, f.IssuedAt, f.DueAt
		inv.Issued = true
		inv.advance(InvoiceOutstanding)
	case InvoiceWentOverdue:
		a.invoice(f.InvoiceID).advance(InvoiceOverdue)
	case InvoiceSettled:
		a.invoice(f.InvoiceID).advance(InvoicePaid)
	}
}

func (a *Account) setBalance(version, balance int64, currency string) {
	if version > a.BalanceVersion {
		a.Balance, a.BalanceVersion = balance, version
		if currency != "" {
			a.Currency = currency
		}
	}
}

func (a *Account) billed(month string) *Billed {
	if a.Billed == nil {
		a.Billed = map[string]*Billed{}
	}
	if a.Billed[month] == nil {
		a.Billed[month] = &Billed{}
	}
	return a.Billed[month]
}

func (a *Account) invoice(id string) *Invoice {
	if a.Invoices == nil {
		a.Invoices = map[string]*Invoice{}
	}
	if a.Invoices[id] == nil {
		a.Invoices[id] = &Invoice{InvoiceID: id}
	}
	return a.Invoices[id]
}

func (inv *Invoice) advance(status string) {
	if invoiceRank[status] > invoiceRank[inv.Status] {
		inv.Status = status
	}
}

// StatusOrActive is the account's status; an account with no lock fact yet is active.
func (a Account) StatusOrActive() string {
	if a.Status == "" {
		return StatusActive
	}
	return a.Status
}

// IssuedInvoices lists the invoices that were issued, newest period first.
func (a Account) IssuedInvoices() []Invoice {
	out := []Invoice{}
	for _, inv := range a.Invoices {
		if inv.Issued {
			out = append(out, *inv)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Period != out[j].Period {
			return out[i].Period > out[j].Period
		}
		return out[i].InvoiceID > out[j].InvoiceID
	})
	return out
}

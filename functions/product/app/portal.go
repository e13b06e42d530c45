package app

import (
	"context"
	"sort"
	"time"

	"meterline/functions/product/domain"
)

// Portal answers what a signed-in user sees, from the portal's own views only.
type Portal struct{ Views Views }

// Me is GET /api/product/me.
type Me struct {
	Email       string           `json:"email"`
	UserID      string           `json:"userId"`
	CustomerID  string           `json:"customerId"`
	Name        string           `json:"name"`
	Plan        string           `json:"plan"`
	Balance     int64            `json:"balance"` // minor units
	Currency    string           `json:"currency"`
	CreditLimit int64            `json:"creditLimit"`
	Status      string           `json:"status"` // "active" | "locked"
	Payments    int64            `json:"payments"`
	Invoices    []domain.Invoice `json:"invoices"`
	Billed      []MonthBilled    `json:"billed"` // newest month first
	Usage       UsageView        `json:"usage"`
}

// MonthBilled is one month's billed consumption and charges.
type MonthBilled struct {
	Month string `json:"month"`
	domain.Billed
}

// UsageView is the Cloud API consumption: Reported as the Cloud API reported it, Billed as
// Subscriptions billed it (the two differ while a report is in flight).
type UsageView struct {
	Reported     int64             `json:"reported"` // units
	Requests     int64             `json:"requests"`
	Reports      int64             `json:"reports"`
	ReportedTill *time.Time        `json:"reportedTill,omitempty"`
	Billed       int64             `json:"billed"` // units billed, all months
	Daily        []domain.DayUsage `json:"daily"`  // oldest first
}

// Me reads the session's account and usage.
func (p Portal) Me(ctx context.Context, s Session) (Me, error) {
	account, _, err := p.Views.Accounts.Get(ctx, s.CustomerID)
	if err != nil {
		return Me{}, err
	}
	usage, _, err := p.Views.Usage.Get(ctx, s.CustomerID)
	if err != nil {
		return Me{}, err
	}
	me := Me{
		Email: s.Email, UserID: s.UserID, CustomerID: s.CustomerID,
		Name: account.Name, Plan: account.Plan, Balance: account.Balance, Currency: account.Currency,
		CreditLimit: account.CreditLimit, Status: account.StatusOrActive(), Payments: account.Payments,
		Invoices: account.IssuedInvoices(), Billed: []MonthBilled{},
		Usage: UsageView{Reported: usage.Units, Requests: usage.Requests, Reports: usage.Reports, Daily: usage.Days()},
	}
	if !usage.ReportedTill.IsZero() {
		t := usage.ReportedTill
		me.Usage.ReportedTill = &t
	}
	for month, b := range account.Billed {
		me.Billed = append(me.Billed, MonthBilled{Month: month, Billed: *b})
		me.Usage.Billed += b.Units
	}
	sort.Slice(me.Billed, func(i, j int) bool { return me.Billed[i].Month > me.Billed[j].Month })
	return me, nil
}

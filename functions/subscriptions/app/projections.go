package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

// Projector keeps one view document per stream whose name starts with Prefix (key: the rest of
// the name). Project reads the stream from the event store after the document's version and
// applies each event with When, so it does not matter which message prompted it, how often, or
// in which order.
type Projector[T any] struct {
	Prefix  string
	Docs    Docs[T]
	Version func(doc *T) *int64                       // where the document keeps its stream version
	When    func(doc *T, e any, env eventstore.Event) // applies one event (e is the decoded payload)

	store  eventstore.Store
	events *eventstore.Registry
}

// Handles reports whether stream is one of this projection's.
func (p *Projector[T]) Handles(stream string) bool {
	return strings.HasPrefix(stream, p.Prefix) && ValidID(strings.TrimPrefix(stream, p.Prefix))
}

// Project brings the document of stream up to date with the event store.
func (p *Projector[T]) Project(ctx context.Context, stream string) error {
	if !p.Handles(stream) {
		return nil
	}
	key := strings.TrimPrefix(stream, p.Prefix)
	doc, _, err := p.Docs.Get(ctx, key)
	if err != nil {
		return err
	}
	events, err := p.store.Read(ctx, stream, *p.Version(&doc)+1)
	if err != nil || len(events) == 0 {
		return err
	}
	payloads := make([]any, len(events))
	for i, e := range events {
		v, err := p.events.Decode(e)
		if err != nil && !errors.Is(err, eventstore.ErrUnknownEventType) {
			return err
		}
		payloads[i] = v // nil for a type this version does not know: skipped, version still moves on
	}
	_, err = p.Docs.Update(ctx, key, func(d *T) error {
		version := p.Version(d)
		for i, e := range events {
			if e.Version <= *version {
				continue // applied by a concurrent projection run
			}
			if e.Version != *version+1 {
				return fmt.Errorf("project %s: document at version %d, next event at %d", stream, *version, e.Version)
			}
			if payloads[i] != nil {
				p.When(d, payloads[i], e)
			}
			*version = e.Version
		}
		return nil
	})
	return err
}

// CustomerView is what GET /api/subscriptions/customers/{customerId} shows.
type CustomerView struct {
	CustomerID    string        `json:"customerId"`
	Name          string        `json:"name"`
	Plan          string        `json:"plan"`
	Balance       int64         `json:"balance"`
	Currency      string        `json:"currency"`
	CreditLimit   int64         `json:"creditLimit"`
	Status        string        `json:"status"` // "active" | "locked"
	PricePerUnit  int64         `json:"pricePerUnit"`
	IncludedUnits int64         `json:"includedUnits"`
	Consumption   Consumption   `json:"consumption"`
	Charges       int64         `json:"charges"`  // sum of one-off charges
	Payments      int64         `json:"payments"` // sum of payments
	Invoices      []InvoiceView `json:"invoices"`
	Version       int64         `json:"version"` // last event of the customer stream applied
}

// Consumption sums the billed usage, overall and per month.
type Consumption struct {
	Units  int64        `json:"units"`
	Amount int64        `json:"amount"`
	Months []MonthUsage `json:"months"`
}

type MonthUsage struct {
	Month  string `json:"month"`
	Units  int64  `json:"units"`
	Amount int64  `json:"amount"`
}

type InvoiceView struct {
	InvoiceID string    `json:"invoiceId"`
	Period    string    `json:"period"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"` // outstanding | paid | expired
	IssuedAt  time.Time `json:"issuedAt"`
	DueAt     time.Time `json:"dueAt"`
}

// projectCustomer is the CustomerView projection.
func projectCustomer(v *CustomerView, event any, _ eventstore.Event) {
	switch e := event.(type) {
	case contracts.CustomerCreated:
		v.CustomerID, v.Name, v.Plan, v.Currency = e.CustomerID, e.Name, e.Plan, e.Currency
		v.CreditLimit, v.PricePerUnit, v.IncludedUnits = e.CreditLimit, e.PricePerUnit, e.IncludedUnits
		v.Status = "active"
		v.Invoices = []InvoiceView{}
		v.Consumption.Months = []MonthUsage{}
	case contracts.BalanceChanged:
		v.Balance = e.Balance
	case contracts.CustomerLocked:
		v.Status = "locked"
	case contracts.CustomerUnlocked:
		v.Status = "active"
	case contracts.ConsumptionAdded:
		v.Consumption.Units += e.Units
		v.Consumption.Amount += e.Amount
		i := sort.Search(len(v.Consumption.Months), func(i int) bool { return v.Consumption.Months[i].Month >= e.Month })
		if i == len(v.Consumption.Months) || v.Consumption.Months[i].Month != e.Month {
			v.Consumption.Months = append(v.Consumption.Months[:i], append([]MonthUsage{{Month: e.Month}}, v.Consumption.Months[i:]...)...)
		}
		v.Consumption.Months[i].Units += e.Units
		v.Consumption.Months[i].Amount += e.Amount
	case contracts.ChargeAdded:
		v.Charges += e.Amount
	case contracts.PaymentReceived:
		v.Payments += e.Amount
	case contracts.InvoiceIssued:
		v.Invoices = append(v.Invoices, InvoiceView{InvoiceID: e.InvoiceID, Period: e.Period, Amount: e.Amount,
			Currency: e.Currency, Status: "outstanding", IssuedAt: e.IssuedAt, DueAt: e.DueAt})
	case contracts.InvoicePaid:
		setInvoiceStatus(v, e.InvoiceID, "paid")
	case contracts.InvoiceExpired:
		setInvoiceStatus(v, e.InvoiceID, "expired")
	}
}

func setInvoiceStatus(v *CustomerView, invoiceID, status string) {
	for i := range v.Invoices {
		if v.Invoices[i].InvoiceID == invoiceID {
			v.Invoices[i].Status = status
		}
	}
}

// OutstandingInvoices lists a customer's invoices neither paid nor expired: what the invoice
// expiry tracker watches (seed 001's InvoiceDeliveryView).
type OutstandingInvoices struct {
	CustomerID string                        `json:"customerId"`
	Invoices   map[string]OutstandingInvoice `json:"invoices"`
	Version    int64                         `json:"version"`
}

type OutstandingInvoice struct {
	InvoiceID string    `json:"invoiceId"`
	Amount    int64     `json:"amount"`
	IssuedAt  time.Time `json:"issuedAt"`
	DueAt     time.Time `json:"dueAt"`
}

// projectOutstanding is the OutstandingInvoices projection (seed 001's
// InvoiceDeliveryProjection).
func projectOutstanding(v *OutstandingInvoices, event any, _ eventstore.Event) {
	if v.Invoices == nil {
		v.Invoices = map[string]OutstandingInvoice{}
	}
	switch e := event.(type) {
	case contracts.CustomerCreated:
		v.CustomerID = e.CustomerID
	case contracts.InvoiceIssued:
		v.Invoices[e.InvoiceID] = OutstandingInvoice{InvoiceID: e.InvoiceID, Amount: e.Amount, IssuedAt: e.IssuedAt, DueAt: e.DueAt}
	case contracts.InvoicePaid:
		delete(v.Invoices, e.InvoiceID)
	case contracts.InvoiceExpired:
		delete(v.Invoices, e.InvoiceID)
	}
}

// UserView is what GET /api/subscriptions/customers/{customerId}/users/{userId} shows. It never
// holds a password or key hash.
type UserView struct {
	UserID      string    `json:"userId"`
	CustomerID  string    `json:"customerId"`
	Email       string    `json:"email"`
	Status      string    `json:"status"` // "active" | "locked"
	PasswordSet bool      `json:"passwordSet"`
	Keys        []KeyView `json:"keys"`
	Version     int64     `json:"version"`
}

type KeyView struct {
	KeyID    string    `json:"keyId"`
	Status   string    `json:"status"` // "active" | "revoked"
	IssuedAt time.Time `json:"issuedAt"`
}

// projectUser is the UserView projection.
func projectUser(v *UserView, event any, env eventstore.Event) {
	switch e := event.(type) {
	case contracts.UserCreated:
		v.UserID, v.CustomerID, v.Email, v.Status = e.UserID, e.CustomerID, e.Email, "active"
		v.Keys = []KeyView{}
	case contracts.UserPasswordSet:
		v.PasswordSet = true
	case contracts.ApiKeyIssued:
		v.Keys = append(v.Keys, KeyView{KeyID: e.KeyID, Status: "active", IssuedAt: env.CreatedAt})
	case contracts.ApiKeyRevoked:
		for i := range v.Keys {
			if v.Keys[i].KeyID == e.KeyID {
				v.Keys[i].Status = "revoked"
			}
		}
	case contracts.UserLocked:
		v.Status = "locked"
	case contracts.UserUnlocked:
		v.Status = "active"
	}
}

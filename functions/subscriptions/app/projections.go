package app

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/views"
)

// The projections of Subscriptions' own streams. The outbox hands them every event right after
// its publication (Config: the outbox's Local), so a client reads its own writes, and the sweep
// hands them again whatever a crash left. They read their stream from the event store past a
// gap (blocks.Projection.Store), so each view is a plain left fold of its stream.

var customerTypes = []string{
	contracts.TypeCustomerCreated, contracts.TypeBalanceChanged, contracts.TypeCustomerLocked, contracts.TypeCustomerUnlocked,
	contracts.TypeConsumptionAdded, contracts.TypeChargeAdded, contracts.TypePaymentReceived,
	contracts.TypeInvoiceIssued, contracts.TypeInvoicePaid, contracts.TypeInvoiceExpired,
}

// CustomerViews is the CustomerView projection, on docs, reading gaps from store.
func CustomerViews(docs *views.Docs[CustomerView], store blocks.StreamReader) blocks.Projection[any, CustomerView] {
	return blocks.Projection[any, CustomerView]{
		Name:   "CustomerViews",
		Source: ownEvents(customerTypes...),
		Docs:   docs, Store: store,
		Key:  streamKey(contracts.CustomerStream("")),
		When: projectCustomer,
	}
}

// Outstanding is the OutstandingInvoices projection (seed 001's InvoiceDeliveryProjection).
func Outstanding(docs *views.Docs[OutstandingInvoices], store blocks.StreamReader) blocks.Projection[any, OutstandingInvoices] {
	return blocks.Projection[any, OutstandingInvoices]{
		Name: "OutstandingInvoices",
		Source: ownEvents(contracts.TypeCustomerCreated, contracts.TypeInvoiceIssued,
			contracts.TypeInvoicePaid, contracts.TypeInvoiceExpired),
		Docs: docs, Store: store,
		Key:  streamKey(contracts.CustomerStream("")),
		When: projectOutstanding,
	}
}

// UserViews is the UserView projection.
func UserViews(docs *views.Docs[UserView], store blocks.StreamReader) blocks.Projection[any, UserView] {
	return blocks.Projection[any, UserView]{
		Name: "UserViews",
		Source: ownEvents(contracts.TypeUserCreated, contracts.TypeUserPasswordSet, contracts.TypeApiKeyIssued,
			contracts.TypeApiKeyRevoked, contracts.TypeUserLocked, contracts.TypeUserUnlocked),
		Docs: docs, Store: store,
		Key:  streamKey(contracts.UserStream("")),
		When: projectUser,
	}
}

// contractTypes reads Subscriptions' own events.
var contractTypes = func() *eventstore.Registry {
	r := eventstore.NewRegistry()
	contracts.Register(r)
	return r
}()

// ownEvents is the source of a projection of Subscriptions' own events: no topic (the outbox
// feeds it), the contract types as facts.
func ownEvents(types ...string) blocks.Source[any] {
	return blocks.Source[any]{Types: types, Translate: func(e eventstore.Event) (any, error) {
		v, err := contractTypes.Decode(e)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %s: %v", blocks.ErrMalformed, e.Type, e.ID, err)
		}
		return v, nil
	}}
}

// streamKey keys a view by the id in its stream's name (prefix + id): one document per stream.
func streamKey(prefix string) func(blocks.Event[any]) string {
	return func(e blocks.Event[any]) string {
		id, ok := strings.CutPrefix(e.Stream, prefix)
		if !ok || !ValidID(id) {
			return ""
		}
		return id
	}
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
	views.Tracked `openapi:"-"` // bookkeeping, not part of the contract
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
func projectCustomer(v *CustomerView, event blocks.Event[any]) {
	switch e := event.Fact.(type) {
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
	views.Tracked
}

type OutstandingInvoice struct {
	InvoiceID string    `json:"invoiceId"`
	Amount    int64     `json:"amount"`
	IssuedAt  time.Time `json:"issuedAt"`
	DueAt     time.Time `json:"dueAt"`
}

// projectOutstanding is the OutstandingInvoices projection (seed 001's
// InvoiceDeliveryProjection).
func projectOutstanding(v *OutstandingInvoices, event blocks.Event[any]) {
	if v.Invoices == nil {
		v.Invoices = map[string]OutstandingInvoice{}
	}
	switch e := event.Fact.(type) {
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
	UserID        string    `json:"userId"`
	CustomerID    string    `json:"customerId"`
	Email         string    `json:"email"`
	Status        string    `json:"status"` // "active" | "locked"
	PasswordSet   bool      `json:"passwordSet"`
	Keys          []KeyView `json:"keys"`
	views.Tracked `openapi:"-"`
}

type KeyView struct {
	KeyID    string    `json:"keyId"`
	Status   string    `json:"status"` // "active" | "revoked"
	IssuedAt time.Time `json:"issuedAt"`
}

// projectUser is the UserView projection.
func projectUser(v *UserView, event blocks.Event[any]) {
	switch e := event.Fact.(type) {
	case contracts.UserCreated:
		v.UserID, v.CustomerID, v.Email, v.Status = e.UserID, e.CustomerID, e.Email, "active"
		v.Keys = []KeyView{}
	case contracts.UserPasswordSet:
		v.PasswordSet = true
	case contracts.ApiKeyIssued:
		v.Keys = append(v.Keys, KeyView{KeyID: e.KeyID, Status: "active", IssuedAt: event.CreatedAt})
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

// Package contracts is the published language of the Subscriptions bounded context: the events
// it stores and publishes to its Service Bus topic "subscriptions". Other contexts import this
// package (and only this one) to read them.
//
// Rules for changing it: add fields freely (readers ignore what they do not know and see zero
// for what is missing); never rename or remove a field or a type name; a change of meaning gets
// a new type name. Money is integer minor units with an ISO currency code; times are UTC.
//
// Streams: "customer-<customerId>" (customer, balance, consumption, invoices),
// "user-<userId>" (users and API keys), "invoice-tracker" (InvoicePossiblyExpired).
package contracts

import (
	"time"

	"meterline/shared/eventstore"
)

// Topic is the Service Bus topic the Subscriptions context publishes to.
const Topic = "subscriptions"

// Source is the bounded context name stamped on every event.
const Source = "subscriptions"

// Event type names, as carried in the message property `type` (filter on these).
const (
	TypeCustomerCreated        = "subscriptions.CustomerCreated"
	TypeCustomerLocked         = "subscriptions.CustomerLocked"
	TypeCustomerUnlocked       = "subscriptions.CustomerUnlocked"
	TypeConsumptionAdded       = "subscriptions.ConsumptionAdded"
	TypeChargeAdded            = "subscriptions.ChargeAdded"
	TypePaymentReceived        = "subscriptions.PaymentReceived"
	TypeBalanceChanged         = "subscriptions.BalanceChanged"
	TypeInvoiceIssued          = "subscriptions.InvoiceIssued"
	TypeInvoicePaid            = "subscriptions.InvoicePaid"
	TypeInvoicePossiblyExpired = "subscriptions.InvoicePossiblyExpired"
	TypeInvoiceExpired         = "subscriptions.InvoiceExpired"
	TypeUserCreated            = "subscriptions.UserCreated"
	TypeUserPasswordSet        = "subscriptions.UserPasswordSet"
	TypeApiKeyIssued           = "subscriptions.ApiKeyIssued"
	TypeApiKeyRevoked          = "subscriptions.ApiKeyRevoked"
	TypeUserLocked             = "subscriptions.UserLocked"
	TypeUserUnlocked           = "subscriptions.UserUnlocked"
)

// CustomerStream, UserStream and InvoiceTrackerStream name the streams events live in.
func CustomerStream(customerID string) string { return "customer-" + customerID }
func UserStream(userID string) string         { return "user-" + userID }

const InvoiceTrackerStream = "invoice-tracker"

// CustomerCreated: a customer signed up for a plan. The plan's terms are copied in, so a later
// change of the plan catalogue does not rewrite history.
type CustomerCreated struct {
	CustomerID    string `json:"customerId"`
	Name          string `json:"name"`
	Plan          string `json:"plan"`
	Currency      string `json:"currency"`
	PricePerUnit  int64  `json:"pricePerUnit"`  // minor units per consumption unit beyond the included ones
	IncludedUnits int64  `json:"includedUnits"` // free units per calendar month (UTC)
	CreditLimit   int64  `json:"creditLimit"`   // the balance may go down to -CreditLimit
}

// CustomerLocked: the balance went below -CreditLimit. The customer and all its users are
// locked out of the Cloud API until CustomerUnlocked.
type CustomerLocked struct {
	CustomerID  string `json:"customerId"`
	Reason      string `json:"reason"` // "overdraft"
	Balance     int64  `json:"balance"`
	CreditLimit int64  `json:"creditLimit"`
	Currency    string `json:"currency"`
}

// CustomerUnlocked: a payment brought the balance back to at least -CreditLimit.
type CustomerUnlocked struct {
	CustomerID string `json:"customerId"`
	Balance    int64  `json:"balance"`
	Currency   string `json:"currency"`
}

// ConsumptionAdded: one usage report of the Cloud API was billed (exactly once per ReportID).
// Amount is what it cost beyond the month's included units; it may be 0.
type ConsumptionAdded struct {
	CustomerID string    `json:"customerId"`
	ReportID   string    `json:"reportId"`
	Units      int64     `json:"units"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	PeriodFrom time.Time `json:"periodFrom"`
	PeriodTo   time.Time `json:"periodTo"`
	Month      string    `json:"month"` // billing month "2026-11" (of PeriodFrom, UTC)
}

// ChargeAdded: a one-off charge (idempotent by ChargeID).
type ChargeAdded struct {
	CustomerID  string    `json:"customerId"`
	ChargeID    string    `json:"chargeId"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Description string    `json:"description"`
	ChargedAt   time.Time `json:"chargedAt"`
	Month       string    `json:"month"` // billing month "2026-11"
}

// PaymentReceived: money came in (idempotent by PaymentID).
type PaymentReceived struct {
	CustomerID string    `json:"customerId"`
	PaymentID  string    `json:"paymentId"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// BalanceChanged carries the new balance after each money movement (state-carrying: the event
// with the highest stream version wins).
type BalanceChanged struct {
	CustomerID string `json:"customerId"`
	Balance    int64  `json:"balance"`
	Currency   string `json:"currency"`
}

// InvoiceIssued: monthly invoicing closed the unbilled consumption and charges up to Period.
type InvoiceIssued struct {
	CustomerID  string    `json:"customerId"`
	InvoiceID   string    `json:"invoiceId"`
	Period      string    `json:"period"` // "2026-11"
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	IssuedAt    time.Time `json:"issuedAt"`
	DueAt       time.Time `json:"dueAt"`
	Units       int64     `json:"units"`       // consumption units invoiced
	Consumption int64     `json:"consumption"` // amount of consumption invoiced
	Charges     int64     `json:"charges"`     // amount of one-off charges invoiced
}

// InvoicePaid: payments received so far cover the invoice (invoices are settled oldest first).
type InvoicePaid struct {
	CustomerID string `json:"customerId"`
	InvoiceID  string `json:"invoiceId"`
}

// InvoicePossiblyExpired: the invoice tracker found the invoice still outstanding after the
// reminder period. Stored in stream "invoice-tracker".
type InvoicePossiblyExpired struct {
	CustomerID string    `json:"customerId"`
	InvoiceID  string    `json:"invoiceId"`
	IssuedAt   time.Time `json:"issuedAt"`
}

// InvoiceExpired: the invoice is overdue; it can still be paid.
type InvoiceExpired struct {
	CustomerID string `json:"customerId"`
	InvoiceID  string `json:"invoiceId"`
}

// UserCreated: a user of a customer, identified for sign-in by Email (lower case, unique).
type UserCreated struct {
	UserID     string `json:"userId"`
	CustomerID string `json:"customerId"`
	Email      string `json:"email"`
}

// UserPasswordSet: the user's password changed. PasswordHash is a bcrypt hash, never the password.
type UserPasswordSet struct {
	UserID       string `json:"userId"`
	CustomerID   string `json:"customerId"`
	PasswordHash string `json:"passwordHash"`
}

// ApiKeyIssued: a new API key. KeyHash = hex(SHA-256(key)) over the whole key string as the
// client sends it ("ml_..." included); the key itself is shown once to the caller and never
// stored nor published.
type ApiKeyIssued struct {
	UserID     string `json:"userId"`
	CustomerID string `json:"customerId"`
	KeyID      string `json:"keyId"`
	KeyHash    string `json:"keyHash"`
}

// ApiKeyRevoked: the key no longer authenticates. A tombstone: a late ApiKeyIssued of the same
// KeyID must not revive it.
type ApiKeyRevoked struct {
	UserID     string `json:"userId"`
	CustomerID string `json:"customerId"`
	KeyID      string `json:"keyId"`
}

// UserLocked and UserUnlocked lock one user out of (and back into) the Cloud API.
type UserLocked struct {
	UserID     string `json:"userId"`
	CustomerID string `json:"customerId"`
}

type UserUnlocked struct {
	UserID     string `json:"userId"`
	CustomerID string `json:"customerId"`
}

// Register adds every Subscriptions event to reg (schema version 1).
func Register(reg *eventstore.Registry) {
	eventstore.Register[CustomerCreated](reg, TypeCustomerCreated, 1)
	eventstore.Register[CustomerLocked](reg, TypeCustomerLocked, 1)
	eventstore.Register[CustomerUnlocked](reg, TypeCustomerUnlocked, 1)
	eventstore.Register[ConsumptionAdded](reg, TypeConsumptionAdded, 1)
	eventstore.Register[ChargeAdded](reg, TypeChargeAdded, 1)
	eventstore.Register[PaymentReceived](reg, TypePaymentReceived, 1)
	eventstore.Register[BalanceChanged](reg, TypeBalanceChanged, 1)
	eventstore.Register[InvoiceIssued](reg, TypeInvoiceIssued, 1)
	eventstore.Register[InvoicePaid](reg, TypeInvoicePaid, 1)
	eventstore.Register[InvoicePossiblyExpired](reg, TypeInvoicePossiblyExpired, 1)
	eventstore.Register[InvoiceExpired](reg, TypeInvoiceExpired, 1)
	eventstore.Register[UserCreated](reg, TypeUserCreated, 1)
	eventstore.Register[UserPasswordSet](reg, TypeUserPasswordSet, 1)
	eventstore.Register[ApiKeyIssued](reg, TypeApiKeyIssued, 1)
	eventstore.Register[ApiKeyRevoked](reg, TypeApiKeyRevoked, 1)
	eventstore.Register[UserLocked](reg, TypeUserLocked, 1)
	eventstore.Register[UserUnlocked](reg, TypeUserUnlocked, 1)
}

// Types lists every event type name this context publishes.
func Types() []string {
	return []string{
		TypeCustomerCreated, TypeCustomerLocked, TypeCustomerUnlocked, TypeConsumptionAdded,
		TypeChargeAdded, TypePaymentReceived, TypeBalanceChanged, TypeInvoiceIssued, TypeInvoicePaid,
		TypeInvoicePossiblyExpired, TypeInvoiceExpired, TypeUserCreated, TypeUserPasswordSet,
		TypeApiKeyIssued, TypeApiKeyRevoked, TypeUserLocked, TypeUserUnlocked,
	}
}

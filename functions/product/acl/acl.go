// Package acl is the Product portal's anti-corruption layer: it reads the events Subscriptions
// and the Cloud API publish (their contracts packages) and translates the ones the portal cares
// about into facts of package domain. Nothing else in this context sees another context's types.
package acl

import (
	"fmt"
	"unicode/utf8"

	cloud "meterline/functions/cloudapi/contracts"
	"meterline/functions/product/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

// ErrMalformed: an event of a handled type that can never be applied (bad JSON, missing ids or
// stream version, ids that do not match the stream). It wraps blocks.ErrMalformed, so the
// projection dead-letters the message.
var ErrMalformed = fmt.Errorf("acl: %w", blocks.ErrMalformed)

// The topics the portal's events arrive on: each context publishes to the topic named after it.
const (
	SubscriptionsTopic = subs.Topic
	CloudAPITopic      = cloud.Source
)

// The event types the portal handles, one list per projection: each becomes the SQL filter of
// that projection's subscription (package blocks), so no other type reaches it.
var (
	// UserTypes are the Subscriptions user-stream events a portal user is made of.
	UserTypes = []string{subs.TypeUserCreated, subs.TypeUserPasswordSet, subs.TypeUserLocked, subs.TypeUserUnlocked}
	// AccountTypes are every type of Subscriptions' customer stream, so the account sees its
	// stream without gaps and its applied versions stay one span.
	AccountTypes = []string{
		subs.TypeCustomerCreated, subs.TypeCustomerLocked, subs.TypeCustomerUnlocked,
		subs.TypeConsumptionAdded, subs.TypeChargeAdded, subs.TypePaymentReceived,
		subs.TypeBalanceChanged, subs.TypeInvoiceIssued, subs.TypeInvoicePaid, subs.TypeInvoiceExpired,
	}
	// UsageTypes are the Cloud API's usage reports.
	UsageTypes = []string{cloud.UsageReportedType}
)

var registry = func() *eventstore.Registry {
	r := eventstore.NewRegistry()
	subs.Register(r)
	cloud.Register(r)
	return r
}()

// Usage translates a Cloud API usage report.
func Usage(e eventstore.Event) (domain.UsageReported, error) {
	fact, err := Translate(e)
	if err != nil {
		return domain.UsageReported{}, err
	}
	u, ok := fact.(domain.UsageReported)
	if !ok {
		return domain.UsageReported{}, fmt.Errorf("%w: %s %s is not a usage report", ErrMalformed, e.Type, e.ID)
	}
	return u, nil
}

// Translate turns one event of a handled type into a domain fact (nil with the error when it
// cannot); any other type is malformed here (the projections' filters keep them away).
func Translate(e eventstore.Event) (any, error) {
	fact, err := translate(e)
	if err != nil {
		return nil, err
	}
	return fact, nil
}

func translate(e eventstore.Event) (any, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %s: %s", ErrMalformed, e.Type, e.ID, fmt.Sprintf(format, args...))
	}
	if e.Version < 1 || e.Stream == "" {
		return nil, bad("needs a stream and a stream version")
	}
	v, err := registry.Decode(e)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// Each fact is checked against the stream it must come from, so a document keyed by id
	// never mixes versions of two streams.
	customer := func(id string) error {
		if !validID(id) || e.Stream != subs.CustomerStream(id) {
			return bad("customerId %q does not match stream %q", id, e.Stream)
		}
		return nil
	}
	user := func(userID, customerID string) error {
		if !validID(userID) || !validID(customerID) || e.Stream != subs.UserStream(userID) {
			return bad("userId %q/customerId %q do not match stream %q", userID, customerID, e.Stream)
		}
		return nil
	}
	switch v := v.(type) {
	case subs.CustomerCreated:
		return domain.AccountOpened{CustomerID: v.CustomerID, Name: v.Name, Plan: v.Plan, Currency: v.Currency,
			CreditLimit: v.CreditLimit, IncludedUnits: v.IncludedUnits, PricePerUnit: v.PricePerUnit}, customer(v.CustomerID)
	case subs.CustomerLocked:
		return domain.AccountStatusChanged{CustomerID: v.CustomerID, Locked: true, Balance: v.Balance, Currency: v.Currency}, customer(v.CustomerID)
	case subs.CustomerUnlocked:
		return domain.AccountStatusChanged{CustomerID: v.CustomerID, Locked: false, Balance: v.Balance, Currency: v.Currency}, customer(v.CustomerID)
	case subs.BalanceChanged:
		return domain.BalanceChanged{CustomerID: v.CustomerID, Balance: v.Balance, Currency: v.Currency}, customer(v.CustomerID)
	case subs.ConsumptionAdded:
		return domain.ConsumptionBilled{CustomerID: v.CustomerID, ReportID: v.ReportID, Units: v.Units, Amount: v.Amount,
			Currency: v.Currency, Month: month(v.Month, v.PeriodFrom.UTC().Format("2006-01"))}, customer(v.CustomerID)
	case subs.ChargeAdded:
		return domain.ChargeBilled{CustomerID: v.CustomerID, ChargeID: v.ChargeID, Description: v.Description, Amount: v.Amount,
			Currency: v.Currency, Month: month(v.Month, v.ChargedAt.UTC().Format("2006-01"))}, customer(v.CustomerID)
	case subs.PaymentReceived:
		return domain.PaymentMade{CustomerID: v.CustomerID, PaymentID: v.PaymentID, Amount: v.Amount, Currency: v.Currency}, customer(v.CustomerID)
	case subs.InvoiceIssued:
		if !validID(v.InvoiceID) {
			return nil, bad("invalid invoiceId")
		}
		return domain.InvoiceIssued{CustomerID: v.CustomerID, InvoiceID: v.InvoiceID, Period: v.Period, Amount: v.Amount,
			Currency: v.Currency, IssuedAt: v.IssuedAt, DueAt: v.DueAt}, customer(v.CustomerID)
	case subs.InvoicePaid:
		if !validID(v.InvoiceID) {
			return nil, bad("invalid invoiceId")
		}
		return domain.InvoiceSettled{CustomerID: v.CustomerID, InvoiceID: v.InvoiceID}, customer(v.CustomerID)
	case subs.InvoiceExpired:
		if !validID(v.InvoiceID) {
			return nil, bad("invalid invoiceId")
		}
		return domain.InvoiceWentOverdue{CustomerID: v.CustomerID, InvoiceID: v.InvoiceID}, customer(v.CustomerID)
	case subs.UserCreated:
		if v.Email == "" {
			return nil, bad("no email")
		}
		return domain.UserRegistered{UserID: v.UserID, CustomerID: v.CustomerID, Email: v.Email}, user(v.UserID, v.CustomerID)
	case subs.UserPasswordSet:
		if v.PasswordHash == "" {
			return nil, bad("no passwordHash")
		}
		return domain.PasswordChanged{UserID: v.UserID, CustomerID: v.CustomerID, PasswordHash: v.PasswordHash}, user(v.UserID, v.CustomerID)
	case subs.UserLocked:
		return domain.UserAccessChanged{UserID: v.UserID, CustomerID: v.CustomerID, Locked: true}, user(v.UserID, v.CustomerID)
	case subs.UserUnlocked:
		return domain.UserAccessChanged{UserID: v.UserID, CustomerID: v.CustomerID, Locked: false}, user(v.UserID, v.CustomerID)
	case cloud.UsageReported:
		if v.ReportID == "" || !validID(v.CustomerID) || e.Stream != cloud.UsageStream(v.CustomerID) {
			return nil, bad("reportId %q/customerId %q do not match stream %q", v.ReportID, v.CustomerID, e.Stream)
		}
		return domain.UsageReported{CustomerID: v.CustomerID, ReportID: v.ReportID, Units: v.Units, Requests: v.Requests,
			PeriodFrom: v.PeriodFrom, PeriodTo: v.PeriodTo}, nil
	}
	return nil, bad("no translation for %T", v)
}

func month(given, derived string) string {
	if given != "" {
		return given
	}
	return derived
}

// MaxIDLength bounds the ids that become document keys (the views' keys are bounded).
const MaxIDLength = 128

func validID(id string) bool {
	return id != "" && len(id) <= MaxIDLength && utf8.ValidString(id)
}

// Package acl is the Product portal's anti-corruption layer: it reads the events Subscriptions
// and the Cloud API publish (their contracts packages) and translates the ones the portal cares
// about into facts of package domain. Nothing else in this context sees another context's types.
package acl

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	cloud "meterline/functions/cloudapi/contracts"
	"meterline/functions/product/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

// ErrMalformed: an event of a handled type that can never be applied (bad envelope, bad JSON,
// missing ids or stream version). The receptor dead-letters such a message.
var ErrMalformed = errors.New("acl: malformed event")

// SubscriptionsTypes are the Subscriptions event types the portal handles: the SQL filter of
// subscription "product" on topic "subscriptions". Every type of the customer stream is here,
// so the account document sees that stream without gaps (see domain.Versions).
func SubscriptionsTypes() []string {
	return []string{
		subs.TypeCustomerCreated, subs.TypeCustomerLocked, subs.TypeCustomerUnlocked,
		subs.TypeConsumptionAdded, subs.TypeChargeAdded, subs.TypePaymentReceived,
		subs.TypeBalanceChanged, subs.TypeInvoiceIssued, subs.TypeInvoicePaid, subs.TypeInvoiceExpired,
		subs.TypeUserCreated, subs.TypeUserPasswordSet, subs.TypeUserLocked, subs.TypeUserUnlocked,
	}
}

// CloudAPITypes are the Cloud API event types the portal handles: the SQL filter of
// subscription "product" on topic "cloudapi".
func CloudAPITypes() []string { return []string{cloud.UsageReportedType} }

// Filter is the Service Bus SQL filter that selects types.
func Filter(types []string) string {
	quoted := make([]string, len(types))
	for i, t := range types {
		quoted[i] = "'" + t + "'"
	}
	return "type IN (" + strings.Join(quoted, ", ") + ")"
}

var registry = func() *eventstore.Registry {
	r := eventstore.NewRegistry()
	subs.Register(r)
	cloud.Register(r)
	return r
}()

// Decode reads a Service Bus message body (the JSON envelope) and translates it. It returns a
// nil fact for an event type the portal does not handle: the receptor completes it untouched.
func Decode(body []byte) (fact any, e eventstore.Event, err error) {
	e, err = eventstore.UnmarshalEnvelope(body)
	if err != nil {
		return nil, e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	fact, err = Translate(e)
	return fact, e, err
}

// Translate turns one event into a domain fact (nil for a type not handled here).
func Translate(e eventstore.Event) (any, error) {
	fact, err := translate(e)
	if err != nil {
		return nil, err
	}
	return fact, nil
}

func translate(e eventstore.Event) (any, error) {
	if !slices.Contains(SubscriptionsTypes(), e.Type) && !slices.Contains(CloudAPITypes(), e.Type) {
		return nil, nil
	}
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
	o := domain.Origin{Stream: e.Stream, Version: e.Version}
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
		return domain.AccountOpened{Origin: o, CustomerID: v.CustomerID, Name: v.Name, Plan: v.Plan, Currency: v.Currency,
			CreditLimit: v.CreditLimit, IncludedUnits: v.IncludedUnits, PricePerUnit: v.PricePerUnit}, customer(v.CustomerID)
	case subs.CustomerLocked:
		return domain.AccountStatusChanged{Origin: o, CustomerID: v.CustomerID, Locked: true, Balance: v.Balance, Currency: v.Currency}, customer(v.CustomerID)
	case subs.CustomerUnlocked:
		return domain.AccountStatusChanged{Origin: o, CustomerID: v.CustomerID, Locked: false, Balance: v.Balance, Currency: v.Currency}, customer(v.CustomerID)
	case subs.BalanceChanged:
		return domain.BalanceChanged{Origin: o, CustomerID: v.CustomerID, Balance: v.Balance, Currency: v.Currency}, customer(v.CustomerID)
	case subs.ConsumptionAdded:
		return domain.ConsumptionBilled{Origin: o, CustomerID: v.CustomerID, ReportID: v.ReportID, Units: v.Units, Amount: v.Amount,
			Currency: v.Currency, Month: month(v.Month, v.PeriodFrom.UTC().Format("2006-01"))}, customer(v.CustomerID)
	case subs.ChargeAdded:
		return domain.ChargeBilled{Origin: o, CustomerID: v.CustomerID, ChargeID: v.ChargeID, Description: v.Description, Amount: v.Amount,
			Currency: v.Currency, Month: month(v.Month, v.ChargedAt.UTC().Format("2006-01"))}, customer(v.CustomerID)
	case subs.PaymentReceived:
		return domain.PaymentMade{Origin: o, CustomerID: v.CustomerID, PaymentID: v.PaymentID, Amount: v.Amount, Currency: v.Currency}, customer(v.CustomerID)
	case subs.InvoiceIssued:
		if !validID(v.InvoiceID) {
			return nil, bad("invalid invoiceId")
		}
		return domain.InvoiceIssued{Origin: o, CustomerID: v.CustomerID, InvoiceID: v.InvoiceID, Period: v.Period, Amount: v.Amount,
			Currency: v.Currency, IssuedAt: v.IssuedAt, DueAt: v.DueAt}, customer(v.CustomerID)
	case subs.InvoicePaid:
		if !validID(v.InvoiceID) {
			return nil, bad("invalid invoiceId")
		}
		return domain.InvoiceSettled{Origin: o, CustomerID: v.CustomerID, InvoiceID: v.InvoiceID}, customer(v.CustomerID)
	case subs.InvoiceExpired:
		if !validID(v.InvoiceID) {
			return nil, bad("invalid invoiceId")
		}
		return domain.InvoiceWentOverdue{Origin: o, CustomerID: v.CustomerID, InvoiceID: v.InvoiceID}, customer(v.CustomerID)
	case subs.UserCreated:
		if v.Email == "" {
			return nil, bad("no email")
		}
		return domain.UserRegistered{Origin: o, UserID: v.UserID, CustomerID: v.CustomerID, Email: v.Email}, user(v.UserID, v.CustomerID)
	case subs.UserPasswordSet:
		if v.PasswordHash == "" {
			return nil, bad("no passwordHash")
		}
		return domain.PasswordChanged{Origin: o, UserID: v.UserID, CustomerID: v.CustomerID, PasswordHash: v.PasswordHash}, user(v.UserID, v.CustomerID)
	case subs.UserLocked:
		return domain.UserAccessChanged{Origin: o, UserID: v.UserID, CustomerID: v.CustomerID, Locked: true}, user(v.UserID, v.CustomerID)
	case subs.UserUnlocked:
		return domain.UserAccessChanged{Origin: o, UserID: v.UserID, CustomerID: v.CustomerID, Locked: false}, user(v.UserID, v.CustomerID)
	case cloud.UsageReported:
		if v.ReportID == "" || !validID(v.CustomerID) || e.Stream != cloud.UsageStream(v.CustomerID) {
			return nil, bad("reportId %q/customerId %q do not match stream %q", v.ReportID, v.CustomerID, e.Stream)
		}
		return domain.UsageReported{Origin: o, CustomerID: v.CustomerID, ReportID: v.ReportID, Units: v.Units, Requests: v.Requests,
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

package acl_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	cloud "meterline/functions/cloudapi/contracts"
	"meterline/functions/product/acl"
	"meterline/functions/product/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

// event is one event as the projections hand it to the ACL (the kit reads the envelope).
func event(t *testing.T, stream string, version int64, typ string, payload any) eventstore.Event {
	t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.Event{ID: "e1", Type: typ, SchemaVersion: 1, Stream: stream, Version: version,
		Source: "subscriptions", CreatedAt: time.Now().UTC(), Data: data}
}

func TestTranslatesEveryHandledType(t *testing.T) {
	from := time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)
	cases := []struct {
		stream, typ string
		payload     any
		want        any
	}{
		{"customer-c1", subs.TypeCustomerCreated, subs.CustomerCreated{CustomerID: "c1", Name: "Acme", Plan: "pro", Currency: "EUR", CreditLimit: 5},
			domain.AccountOpened{CustomerID: "c1", Name: "Acme", Plan: "pro", Currency: "EUR", CreditLimit: 5}},
		{"customer-c1", subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c1", Balance: -9, Currency: "EUR"},
			domain.AccountStatusChanged{CustomerID: "c1", Locked: true, Balance: -9, Currency: "EUR"}},
		{"customer-c1", subs.TypeCustomerUnlocked, subs.CustomerUnlocked{CustomerID: "c1", Balance: 1},
			domain.AccountStatusChanged{CustomerID: "c1", Balance: 1}},
		{"customer-c1", subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c1", Balance: 3, Currency: "EUR"},
			domain.BalanceChanged{CustomerID: "c1", Balance: 3, Currency: "EUR"}},
		{"customer-c1", subs.TypeConsumptionAdded, subs.ConsumptionAdded{CustomerID: "c1", ReportID: "r", Units: 2, Amount: 4, PeriodFrom: from},
			domain.ConsumptionBilled{CustomerID: "c1", ReportID: "r", Units: 2, Amount: 4, Month: "2026-11"}},
		{"customer-c1", subs.TypeChargeAdded, subs.ChargeAdded{CustomerID: "c1", ChargeID: "ch", Amount: 7, Month: "2026-10"},
			domain.ChargeBilled{CustomerID: "c1", ChargeID: "ch", Amount: 7, Month: "2026-10"}},
		{"customer-c1", subs.TypePaymentReceived, subs.PaymentReceived{CustomerID: "c1", PaymentID: "p", Amount: 8},
			domain.PaymentMade{CustomerID: "c1", PaymentID: "p", Amount: 8}},
		{"customer-c1", subs.TypeInvoiceIssued, subs.InvoiceIssued{CustomerID: "c1", InvoiceID: "i", Period: "2026-10", Amount: 9, IssuedAt: from},
			domain.InvoiceIssued{CustomerID: "c1", InvoiceID: "i", Period: "2026-10", Amount: 9, IssuedAt: from}},
		{"customer-c1", subs.TypeInvoicePaid, subs.InvoicePaid{CustomerID: "c1", InvoiceID: "i"}, domain.InvoiceSettled{CustomerID: "c1", InvoiceID: "i"}},
		{"customer-c1", subs.TypeInvoiceExpired, subs.InvoiceExpired{CustomerID: "c1", InvoiceID: "i"}, domain.InvoiceWentOverdue{CustomerID: "c1", InvoiceID: "i"}},
		{"user-u1", subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1", Email: "a@b.c"},
			domain.UserRegistered{UserID: "u1", CustomerID: "c1", Email: "a@b.c"}},
		{"user-u1", subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: "$2a$..."},
			domain.PasswordChanged{UserID: "u1", CustomerID: "c1", PasswordHash: "$2a$..."}},
		{"user-u1", subs.TypeUserLocked, subs.UserLocked{UserID: "u1", CustomerID: "c1"}, domain.UserAccessChanged{UserID: "u1", CustomerID: "c1", Locked: true}},
		{"user-u1", subs.TypeUserUnlocked, subs.UserUnlocked{UserID: "u1", CustomerID: "c1"}, domain.UserAccessChanged{UserID: "u1", CustomerID: "c1"}},
		{"usage-c1", cloud.UsageReportedType, cloud.UsageReported{ReportID: "r", CustomerID: "c1", Units: 3, Requests: 1, PeriodFrom: from},
			domain.UsageReported{CustomerID: "c1", ReportID: "r", Units: 3, Requests: 1, PeriodFrom: from}},
	}
	var covered []string
	for _, c := range cases {
		got, err := acl.Translate(event(t, c.stream, 4, c.typ, c.payload))
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		if !equalJSON(t, got, c.want) {
			t.Fatalf("%s: got %#v, want %#v", c.typ, got, c.want)
		}
		covered = append(covered, c.typ)
	}
	// Every type a projection asks for is translated (and checked above).
	for _, typ := range slices.Concat(acl.UserTypes, acl.AccountTypes, acl.UsageTypes) {
		if !slices.Contains(covered, typ) {
			t.Errorf("%s is in a projection's types but not among the translations tested", typ)
		}
	}
	usage, err := acl.Usage(event(t, "usage-c1", 4, cloud.UsageReportedType, cloud.UsageReported{ReportID: "r", CustomerID: "c1", Units: 3}))
	if err != nil || usage != (domain.UsageReported{CustomerID: "c1", ReportID: "r", Units: 3}) {
		t.Fatalf("Usage: %+v %v", usage, err)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b)
}

func TestMalformedEventsAreRefused(t *testing.T) {
	cases := map[string]eventstore.Event{
		"no version":             event(t, "user-u1", 0, subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1", Email: "a@b.c"}),
		"bad payload":            event(t, "user-u1", 1, subs.TypeUserCreated, "just a string"),
		"no email":               event(t, "user-u1", 1, subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1"}),
		"user of another stream": event(t, "user-u2", 1, subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: "h"}),
		"no hash":                event(t, "user-u1", 1, subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1"}),
		"customer mismatch":      event(t, "customer-c2", 1, subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c1"}),
		"no invoice id":          event(t, "customer-c1", 1, subs.TypeInvoicePaid, subs.InvoicePaid{CustomerID: "c1"}),
		"usage of another":       event(t, "usage-c2", 1, cloud.UsageReportedType, cloud.UsageReported{ReportID: "r", CustomerID: "c1"}),
	}
	for name, e := range cases {
		fact, err := acl.Translate(e)
		if !errors.Is(err, acl.ErrMalformed) || !errors.Is(err, blocks.ErrMalformed) || fact != nil {
			t.Fatalf("%s: fact %v err %v, want ErrMalformed (a blocks.ErrMalformed, dead-lettered)", name, fact, err)
		}
	}
	if _, err := acl.Usage(cases["no version"]); !errors.Is(err, acl.ErrMalformed) {
		t.Fatalf("Usage of a user event: %v, want ErrMalformed", err)
	}
}

// The type lists are the projections' subscription filters: exactly what each handles.
func TestTypeListsAreTheHandledTypes(t *testing.T) {
	if !slices.Equal(acl.UsageTypes, []string{cloud.UsageReportedType}) {
		t.Fatalf("usage types %v", acl.UsageTypes)
	}
	if !slices.Equal(acl.UserTypes, []string{subs.TypeUserCreated, subs.TypeUserPasswordSet, subs.TypeUserLocked, subs.TypeUserUnlocked}) {
		t.Fatalf("user types %v", acl.UserTypes)
	}
	for _, typ := range []string{subs.TypeInvoiceIssued, subs.TypePaymentReceived, subs.TypeBalanceChanged} {
		if !slices.Contains(acl.AccountTypes, typ) {
			t.Fatalf("account types %v miss %s", acl.AccountTypes, typ)
		}
	}
	for _, typ := range slices.Concat(acl.UserTypes, acl.AccountTypes) {
		if typ == subs.TypeApiKeyIssued || typ == subs.TypeInvoicePossiblyExpired {
			t.Fatalf("the portal does not handle %s; its filters must not ask for it", typ)
		}
	}
}

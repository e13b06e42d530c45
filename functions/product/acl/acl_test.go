package acl_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	cloud "meterline/functions/cloudapi/contracts"
	"meterline/functions/product/acl"
	"meterline/functions/product/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

func envelope(t *testing.T, stream string, version int64, typ string, payload any) []byte {
	t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	b, err := eventstore.MarshalEnvelope(eventstore.Event{ID: "e1", Type: typ, SchemaVersion: 1, Stream: stream, Version: version,
		Source: "subscriptions", CreatedAt: time.Now().UTC(), Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return b
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
	for _, c := range cases {
		got, e, err := acl.Decode(envelope(t, c.stream, 4, c.typ, c.payload))
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		if e.Type != c.typ {
			t.Fatalf("event type %q", e.Type)
		}
		// The expected facts leave Origin out: fill it in.
		want := withOrigin(c.want, domain.Origin{Stream: c.stream, Version: 4})
		if !equalJSON(t, got, want) {
			t.Fatalf("%s: got %#v, want %#v", c.typ, got, want)
		}
	}
}

func withOrigin(f any, o domain.Origin) any {
	switch v := f.(type) {
	case domain.AccountOpened:
		v.Origin = o
		return v
	case domain.AccountStatusChanged:
		v.Origin = o
		return v
	case domain.BalanceChanged:
		v.Origin = o
		return v
	case domain.ConsumptionBilled:
		v.Origin = o
		return v
	case domain.ChargeBilled:
		v.Origin = o
		return v
	case domain.PaymentMade:
		v.Origin = o
		return v
	case domain.InvoiceIssued:
		v.Origin = o
		return v
	case domain.InvoiceSettled:
		v.Origin = o
		return v
	case domain.InvoiceWentOverdue:
		v.Origin = o
		return v
	case domain.UserRegistered:
		v.Origin = o
		return v
	case domain.PasswordChanged:
		v.Origin = o
		return v
	case domain.UserAccessChanged:
		v.Origin = o
		return v
	case domain.UsageReported:
		v.Origin = o
		return v
	}
	panic("unknown fact")
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb) && fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b)
}

func TestUnhandledTypesAreIgnored(t *testing.T) {
	for _, typ := range []string{subs.TypeApiKeyIssued, subs.TypeInvoicePossiblyExpired, "someone.Else"} {
		fact, _, err := acl.Decode(envelope(t, "user-u1", 1, typ, map[string]string{"userId": "u1"}))
		if fact != nil || err != nil {
			t.Fatalf("%s: fact %v err %v, want nothing", typ, fact, err)
		}
	}
}

func TestMalformedEventsAreRefused(t *testing.T) {
	cases := map[string][]byte{
		"not an envelope":        []byte(`{"nope`),
		"no version":             envelope(t, "user-u1", 0, subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1", Email: "a@b.c"}),
		"bad payload":            envelope(t, "user-u1", 1, subs.TypeUserCreated, "just a string"),
		"no email":               envelope(t, "user-u1", 1, subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1"}),
		"user of another stream": envelope(t, "user-u2", 1, subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: "h"}),
		"no hash":                envelope(t, "user-u1", 1, subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1"}),
		"customer mismatch":      envelope(t, "customer-c2", 1, subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c1"}),
		"no invoice id":          envelope(t, "customer-c1", 1, subs.TypeInvoicePaid, subs.InvoicePaid{CustomerID: "c1"}),
		"usage of another":       envelope(t, "usage-c2", 1, cloud.UsageReportedType, cloud.UsageReported{ReportID: "r", CustomerID: "c1"}),
	}
	for name, body := range cases {
		fact, _, err := acl.Decode(body)
		if !errors.Is(err, acl.ErrMalformed) || fact != nil {
			t.Fatalf("%s: fact %v err %v, want ErrMalformed", name, fact, err)
		}
	}
}

func TestFilterListsTheHandledTypes(t *testing.T) {
	f := acl.Filter(acl.CloudAPITypes())
	if f != "type IN ('cloudapi.UsageReported')" {
		t.Fatalf("filter %q", f)
	}
	sf := acl.Filter(acl.SubscriptionsTypes())
	for _, typ := range []string{subs.TypeUserPasswordSet, subs.TypeInvoiceIssued, subs.TypePaymentReceived} {
		if !strings.Contains(sf, "'"+typ+"'") {
			t.Fatalf("filter %q misses %s", sf, typ)
		}
	}
	if strings.Contains(sf, subs.TypeApiKeyIssued) {
		t.Fatal("the portal does not handle API keys; its filter must not ask for them")
	}
}

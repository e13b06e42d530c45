package contracts_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

// Every published event survives encode -> envelope -> decode unchanged, under its agreed name.
func TestEveryEventRoundTripsThroughTheEnvelope(t *testing.T) {
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	samples := []any{
		contracts.CustomerCreated{CustomerID: "c1", Name: "Acme", Plan: "pro", Currency: "EUR", PricePerUnit: 2, IncludedUnits: 100, CreditLimit: 5000},
		contracts.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -6000, CreditLimit: 5000, Currency: "EUR"},
		contracts.CustomerUnlocked{CustomerID: "c1", Balance: 0, Currency: "EUR"},
		contracts.ConsumptionAdded{CustomerID: "c1", ReportID: "r1", Units: 7, Amount: 14, Currency: "EUR", PeriodFrom: at, PeriodTo: at.Add(time.Minute), Month: "2026-11"},
		contracts.ChargeAdded{CustomerID: "c1", ChargeID: "ch1", Amount: 100, Currency: "EUR", Description: "setup", ChargedAt: at, Month: "2026-11"},
		contracts.PaymentReceived{CustomerID: "c1", PaymentID: "p1", Amount: 100, Currency: "EUR", ReceivedAt: at},
		contracts.BalanceChanged{CustomerID: "c1", Balance: -14, Currency: "EUR"},
		contracts.InvoiceIssued{CustomerID: "c1", InvoiceID: "i1", Period: "2026-11", Amount: 114, Currency: "EUR", IssuedAt: at, DueAt: at.Add(time.Hour), Units: 7, Consumption: 14, Charges: 100},
		contracts.InvoicePaid{CustomerID: "c1", InvoiceID: "i1"},
		contracts.InvoicePossiblyExpired{CustomerID: "c1", InvoiceID: "i1", IssuedAt: at},
		contracts.InvoiceExpired{CustomerID: "c1", InvoiceID: "i1"},
		contracts.UserCreated{UserID: "u1", CustomerID: "c1", Email: "a@b.c"},
		contracts.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: "$2a$..."},
		contracts.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k1", KeyHash: "ab"},
		contracts.ApiKeyRevoked{UserID: "u1", CustomerID: "c1", KeyID: "k1"},
		contracts.UserLocked{UserID: "u1", CustomerID: "c1"},
		contracts.UserUnlocked{UserID: "u1", CustomerID: "c1"},
	}
	if len(samples) != len(contracts.Types()) {
		t.Fatalf("%d samples for %d types", len(samples), len(contracts.Types()))
	}
	events, err := reg.NewEvents(context.Background(), contracts.Source, "customer-c1", at, samples...)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		if e.Type != contracts.Types()[i] {
			t.Errorf("sample %d registered as %q, want %q", i, e.Type, contracts.Types()[i])
		}
		body, err := eventstore.MarshalEnvelope(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := eventstore.UnmarshalEnvelope(body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reg.Decode(back)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, samples[i]) {
			t.Errorf("%s: got %+v, want %+v", e.Type, got, samples[i])
		}
	}
}

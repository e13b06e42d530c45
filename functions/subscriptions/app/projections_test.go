package app_test

import (
	"context"
	"testing"
	"time"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/blocks/projectiontest"
	"meterline/shared/eventstore"
	"meterline/shared/views"
)

// stream builds the events of one of Subscriptions' streams, versions 1, 2, 3, ... as stored.
func stream(t *testing.T, name string, at time.Time, payloads ...any) []eventstore.Event {
	t.Helper()
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	events, err := reg.NewEvents(eventstore.WithCommandID(context.Background(), "test"), contracts.Source, name, at, payloads...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		events[i].Version = int64(i + 1)
	}
	return events
}

var nov3 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

func customerHistory(t *testing.T) []eventstore.Event {
	return stream(t, contracts.CustomerStream("c1"), nov3,
		contracts.CustomerCreated{CustomerID: "c1", Name: "Acme", Plan: "payg", Currency: "EUR", PricePerUnit: 10, CreditLimit: 50},
		contracts.ConsumptionAdded{CustomerID: "c1", ReportID: "r1", Units: 3, Amount: 30, Currency: "EUR", Month: "2026-11"},
		contracts.BalanceChanged{CustomerID: "c1", Balance: -30, Currency: "EUR"},
		contracts.ChargeAdded{CustomerID: "c1", ChargeID: "ch1", Amount: 40, Currency: "EUR", Month: "2026-11"},
		contracts.BalanceChanged{CustomerID: "c1", Balance: -70, Currency: "EUR"},
		contracts.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -70, CreditLimit: 50, Currency: "EUR"},
		contracts.InvoiceIssued{CustomerID: "c1", InvoiceID: "inv1", Period: "2026-11", Amount: 70, Currency: "EUR", IssuedAt: nov3, DueAt: nov3.AddDate(0, 0, 15)},
		contracts.PaymentReceived{CustomerID: "c1", PaymentID: "p1", Amount: 70, Currency: "EUR"},
		contracts.BalanceChanged{CustomerID: "c1", Balance: 0, Currency: "EUR"},
		contracts.CustomerUnlocked{CustomerID: "c1", Balance: 0, Currency: "EUR"},
		contracts.InvoicePaid{CustomerID: "c1", InvoiceID: "inv1"},
	)
}

// The views are left folds of their streams, whatever order the outbox or a rebuild hands the
// events over in: a projection of the context's own streams reads past a gap from the store.
func TestCustomerViewsProjection(t *testing.T) {
	build := func(b views.Backend, events blocks.StreamReader) blocks.Projection[any, app.CustomerView] {
		return app.CustomerViews(views.Collection[app.CustomerView](b, app.CustomersCollection), events)
	}
	projectiontest.Given(t, build, customerHistory(t)...).Then("c1", app.CustomerView{
		CustomerID: "c1", Name: "Acme", Plan: "payg", Currency: "EUR", PricePerUnit: 10, CreditLimit: 50,
		Balance: 0, Status: "active", Charges: 40, Payments: 70,
		Consumption: app.Consumption{Units: 3, Amount: 30, Months: []app.MonthUsage{{Month: "2026-11", Units: 3, Amount: 30}}},
		Invoices: []app.InvoiceView{{InvoiceID: "inv1", Period: "2026-11", Amount: 70, Currency: "EUR", Status: "paid",
			IssuedAt: nov3, DueAt: nov3.AddDate(0, 0, 15)}},
	}).ThenAbsent("c2")
}

func TestOutstandingInvoicesProjection(t *testing.T) {
	build := func(b views.Backend, events blocks.StreamReader) blocks.Projection[any, app.OutstandingInvoices] {
		return app.Outstanding(views.Collection[app.OutstandingInvoices](b, app.OutstandingCollection), events)
	}
	history := customerHistory(t)
	projectiontest.Given(t, build, history[:7]...).Then("c1", app.OutstandingInvoices{CustomerID: "c1",
		Invoices: map[string]app.OutstandingInvoice{"inv1": {InvoiceID: "inv1", Amount: 70, IssuedAt: nov3, DueAt: nov3.AddDate(0, 0, 15)}}})
	projectiontest.Given(t, build, history...).Then("c1", app.OutstandingInvoices{CustomerID: "c1", Invoices: map[string]app.OutstandingInvoice{}})
}

func TestUserViewsProjection(t *testing.T) {
	build := func(b views.Backend, events blocks.StreamReader) blocks.Projection[any, app.UserView] {
		return app.UserViews(views.Collection[app.UserView](b, app.UsersCollection), events)
	}
	projectiontest.Given(t, build, stream(t, contracts.UserStream("u1"), nov3,
		contracts.UserCreated{UserID: "u1", CustomerID: "c1", Email: "ann@example.com"},
		contracts.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: "$2a$04$x"},
		contracts.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k1", KeyHash: "h1"},
		contracts.UserLocked{UserID: "u1", CustomerID: "c1"},
		contracts.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k2", KeyHash: "h2"},
		contracts.ApiKeyRevoked{UserID: "u1", CustomerID: "c1", KeyID: "k1"},
	)...).Then("u1", app.UserView{UserID: "u1", CustomerID: "c1", Email: "ann@example.com", Status: "locked", PasswordSet: true,
		Keys: []app.KeyView{{KeyID: "k1", Status: "revoked", IssuedAt: nov3}, {KeyID: "k2", Status: "active", IssuedAt: nov3}}})
}

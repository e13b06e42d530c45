package app_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	cloud "meterline/functions/cloudapi/contracts"
	"meterline/functions/product/app"
	"meterline/functions/product/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/blocks/projectiontest"
	"meterline/shared/eventstore"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
)

var published = func() *eventstore.Registry {
	r := eventstore.NewRegistry()
	subs.Register(r)
	cloud.Register(r)
	return r
}()

// stream is one stream of another context as it publishes it: versions 1, 2, 3, ...
func stream(t *testing.T, source, name string, payloads ...any) []eventstore.Event {
	t.Helper()
	events, err := published.NewEvents(context.Background(), source, name, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), payloads...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		events[i].Version = int64(i + 1)
	}
	return events
}

func users(b views.Backend, _ blocks.StreamReader) blocks.Projection[any, domain.PortalUser] {
	return app.ReplicateUsers(views.Collection[domain.PortalUser](b, "users"), views.Collection[domain.EmailOwner](b, "emails"))
}

func accounts(b views.Backend, _ blocks.StreamReader) blocks.Projection[any, domain.Account] {
	return app.ReplicateAccounts(views.Collection[domain.Account](b, "accounts"))
}

func usage(b views.Backend, _ blocks.StreamReader) blocks.Projection[domain.UsageReported, domain.Usage] {
	return app.ReplicateUsage(views.Collection[domain.Usage](b, "usage"))
}

func userHistory(t *testing.T) []eventstore.Event {
	return stream(t, subs.Source, subs.UserStream("u1"),
		subs.UserCreated{UserID: "u1", CustomerID: "c1", Email: " Ann@Example.COM "},
		subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: "h1"},
		subs.UserLocked{UserID: "u1", CustomerID: "c1"},
		subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: "h2"},
		subs.UserUnlocked{UserID: "u1", CustomerID: "c1"},
	)
}

// The newest password and lock win whatever the order, and every order ends with the email
// index pointing at the user (After), however late UserCreated arrives.
func TestReplicateUsers(t *testing.T) {
	var mu sync.Mutex
	var backends []views.Backend
	build := func(b views.Backend, events blocks.StreamReader) blocks.Projection[any, domain.PortalUser] {
		mu.Lock()
		defer mu.Unlock()
		backends = append(backends, b)
		return users(b, events)
	}
	projectiontest.Given(t, build, userHistory(t)...).
		Then("u1", domain.PortalUser{UserID: "u1", CustomerID: "c1", Email: "ann@example.com",
			PasswordHash: "h2", PasswordVersion: 4, Locked: false, LockVersion: 5}).
		ThenAbsent("u2")
	for i, b := range backends {
		owner, ok, err := views.Collection[domain.EmailOwner](b, "emails").Get(context.Background(), domain.EmailKey("ann@example.com"))
		if err != nil || !ok || owner != (domain.EmailOwner{Email: "ann@example.com", UserID: "u1"}) {
			t.Fatalf("delivery order %d: email index %+v %v %v", i, owner, ok, err)
		}
	}

	// Without UserCreated there is no email to index yet.
	history := userHistory(t)
	backends = nil
	projectiontest.Given(t, build, history[1:]...).
		Then("u1", domain.PortalUser{UserID: "u1", CustomerID: "c1", PasswordHash: "h2", PasswordVersion: 4, LockVersion: 5})
	for i, b := range backends {
		if entries, err := views.Collection[domain.EmailOwner](b, "emails").Entries(context.Background()); err != nil || len(entries) != 0 {
			t.Fatalf("delivery order %d: email index %+v %v, want none before UserCreated", i, entries, err)
		}
	}
}

// After repairs the email index on a redelivery: a crash between the user's write and the
// index's left the user without its index entry.
func TestReplicateUsersRepairsTheEmailIndexOnRedelivery(t *testing.T) {
	b := viewmem.New()
	p := users(b, nil)
	created := userHistory(t)[0]
	if err := p.Handle(context.Background(), created); err != nil {
		t.Fatal(err)
	}
	emails := views.Collection[domain.EmailOwner](b, "emails")
	key := domain.EmailKey("ann@example.com")
	if err := emails.Delete(context.Background(), key); err != nil { // the crash
		t.Fatal(err)
	}
	if err := p.Handle(context.Background(), created); err != nil {
		t.Fatal(err)
	}
	if owner, ok, err := emails.Get(context.Background(), key); err != nil || !ok || owner.UserID != "u1" {
		t.Fatalf("after the redelivery: %+v %v %v", owner, ok, err)
	}
}

var issued = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// customerHistory is one customer stream in order: opened, consumption, balance moves, an
// overdraft lock, invoices issued, one paid and one overdue, a payment and an unlock.
func customerHistory(t *testing.T) []eventstore.Event {
	return stream(t, subs.Source, subs.CustomerStream("c1"),
		subs.CustomerCreated{CustomerID: "c1", Name: "Acme", Plan: "starter", Currency: "EUR", CreditLimit: 1000},
		subs.ConsumptionAdded{CustomerID: "c1", ReportID: "r1", Units: 10, Amount: 500, Currency: "EUR", Month: "2026-10"},
		subs.BalanceChanged{CustomerID: "c1", Balance: -500, Currency: "EUR"},
		subs.ChargeAdded{CustomerID: "c1", ChargeID: "ch1", Amount: 700, Currency: "EUR", Month: "2026-10"},
		subs.BalanceChanged{CustomerID: "c1", Balance: -1200, Currency: "EUR"},
		subs.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -1200, Currency: "EUR"},
		subs.InvoiceIssued{CustomerID: "c1", InvoiceID: "i1", Period: "2026-10", Amount: 1200, Currency: "EUR", IssuedAt: issued, DueAt: issued.AddDate(0, 0, 14)},
		subs.PaymentReceived{CustomerID: "c1", PaymentID: "p1", Amount: 1200, Currency: "EUR"},
		subs.BalanceChanged{CustomerID: "c1", Balance: 0, Currency: "EUR"},
		subs.CustomerUnlocked{CustomerID: "c1", Balance: 0, Currency: "EUR"},
		subs.InvoicePaid{CustomerID: "c1", InvoiceID: "i1"},
		subs.ConsumptionAdded{CustomerID: "c1", ReportID: "r2", Units: 4, Amount: 200, Currency: "EUR", Month: "2026-11"},
		subs.InvoiceIssued{CustomerID: "c1", InvoiceID: "i2", Period: "2026-11", Amount: 200, Currency: "EUR", IssuedAt: issued.AddDate(0, 1, 0)},
		subs.InvoiceExpired{CustomerID: "c1", InvoiceID: "i2"},
	)
}

// portalHistory is the replicated account of the portal's HTTP test: opened, billed twice, an
// invoice gone overdue, locked for overdraft.
func portalHistory(t *testing.T) []eventstore.Event {
	return stream(t, subs.Source, subs.CustomerStream("c1"),
		subs.CustomerCreated{CustomerID: "c1", Name: "Acme c1", Plan: "starter", Currency: "EUR", CreditLimit: 5000},
		subs.ConsumptionAdded{CustomerID: "c1", ReportID: "r1", Units: 30, Amount: 1500, Currency: "EUR", Month: "2026-11"},
		subs.BalanceChanged{CustomerID: "c1", Balance: -1500, Currency: "EUR"},
		subs.InvoiceIssued{CustomerID: "c1", InvoiceID: "inv-10", Period: "2026-10", Amount: 2500, Currency: "EUR", IssuedAt: issued, DueAt: issued.AddDate(0, 0, 14)},
		subs.InvoiceExpired{CustomerID: "c1", InvoiceID: "inv-10"},
		subs.ConsumptionAdded{CustomerID: "c1", ReportID: "r2", Units: 20, Amount: 1000, Currency: "EUR", Month: "2026-11"},
		subs.BalanceChanged{CustomerID: "c1", Balance: -2500, Currency: "EUR"},
		subs.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -2500, CreditLimit: 2000, Currency: "EUR"},
	)
}

func TestReplicateAccounts(t *testing.T) {
	projectiontest.Given(t, accounts, customerHistory(t)...).Then("c1", domain.Account{
		CustomerID: "c1", Name: "Acme", Plan: "starter", Currency: "EUR", CreditLimit: 1000,
		Balance: 0, BalanceVersion: 10, Status: domain.StatusActive, StatusVersion: 10, Payments: 1200,
		Invoices: map[string]*domain.Invoice{
			"i1": {InvoiceID: "i1", Period: "2026-10", Amount: 1200, Currency: "EUR", IssuedAt: issued, DueAt: issued.AddDate(0, 0, 14), Status: domain.InvoicePaid, Issued: true},
			"i2": {InvoiceID: "i2", Period: "2026-11", Amount: 200, Currency: "EUR", IssuedAt: issued.AddDate(0, 1, 0), Status: domain.InvoiceOverdue, Issued: true},
		},
		Billed: map[string]*domain.Billed{"2026-10": {Units: 10, Consumption: 500, Charges: 700}, "2026-11": {Units: 4, Consumption: 200}},
	}).ThenAbsent("c2")

	projectiontest.Given(t, accounts, portalHistory(t)...).Then("c1", domain.Account{
		CustomerID: "c1", Name: "Acme c1", Plan: "starter", Currency: "EUR", CreditLimit: 5000,
		Balance: -2500, BalanceVersion: 8, Status: domain.StatusLocked, StatusVersion: 8,
		Invoices: map[string]*domain.Invoice{
			"inv-10": {InvoiceID: "inv-10", Period: "2026-10", Amount: 2500, Currency: "EUR", IssuedAt: issued, DueAt: issued.AddDate(0, 0, 14), Status: domain.InvoiceOverdue, Issued: true},
		},
		Billed: map[string]*domain.Billed{"2026-11": {Units: 50, Consumption: 2500}},
	})
}

// Many redeliveries of a long stream, in random orders, end in exactly the in-order document,
// its applied versions included.
func TestReplicateAccountsConvergesUnderRedelivery(t *testing.T) {
	ctx := context.Background()
	history := customerHistory(t)
	stored := func(events []eventstore.Event) (string, domain.Account) {
		p := accounts(viewmem.New(), nil)
		for _, e := range events {
			if err := p.Handle(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		doc, _, err := p.Docs.Get(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(doc)
		return string(b), doc
	}
	want, doc := stored(history)
	if applied := doc.Applied; !reflect.DeepEqual(applied, map[string]views.Versions{"customer-c1": {{From: 1, To: 14}}}) {
		t.Fatalf("applied %v", applied)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 500; round++ {
		events := append([]eventstore.Event(nil), history...)
		for i := 0; i < r.IntN(8); i++ { // redeliveries
			events = append(events, history[r.IntN(len(history))])
		}
		r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		if got, _ := stored(events); got != want {
			t.Fatalf("round %d:\n got %s\nwant %s", round, got, want)
		}
	}
}

func TestReplicateUsage(t *testing.T) {
	day := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var reports []any
	for i := int64(1); i <= 6; i++ {
		from := day.Add(time.Duration(i) * 12 * time.Hour)
		reports = append(reports, cloud.UsageReported{ReportID: "r" + string(rune('0'+i)), CustomerID: "c1",
			Units: i, Requests: 1, PeriodFrom: from, PeriodTo: from.Add(time.Minute)})
	}
	projectiontest.Given(t, usage, stream(t, cloud.Source, cloud.UsageStream("c1"), reports...)...).Then("c1", domain.Usage{
		CustomerID: "c1", Units: 21, Requests: 6, Reports: 6, ReportedTill: day.Add(72*time.Hour + time.Minute),
		Daily: map[string]int64{"2026-11-20": 1, "2026-11-21": 5, "2026-11-22": 9, "2026-11-23": 6},
	}).ThenAbsent("c2")

	// The usage of the portal's HTTP test: two reports on one day.
	from := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	projectiontest.Given(t, usage, stream(t, cloud.Source, cloud.UsageStream("c1"),
		cloud.UsageReported{ReportID: "r1", CustomerID: "c1", Units: 30, Requests: 5, PeriodFrom: from, PeriodTo: from.Add(time.Minute)},
		cloud.UsageReported{ReportID: "r2", CustomerID: "c1", Units: 20, Requests: 4, PeriodFrom: from.Add(24 * time.Hour), PeriodTo: from.Add(24*time.Hour + time.Minute)},
		cloud.UsageReported{ReportID: "r3", CustomerID: "c1", Units: 7, Requests: 1, PeriodFrom: from.Add(24 * time.Hour), PeriodTo: from.Add(25 * time.Hour)},
	)...).Then("c1", domain.Usage{
		CustomerID: "c1", Units: 57, Requests: 10, Reports: 3, ReportedTill: from.Add(25 * time.Hour),
		Daily: map[string]int64{"2026-11-20": 30, "2026-11-21": 27},
	})
}

// A projection takes only the types it asked for: others (which its filter keeps away) are
// completed untouched, even when another projection of the portal handles them.
func TestProjectionsIgnoreTypesTheyDoNotWant(t *testing.T) {
	ctx := context.Background()
	unwanted := append(stream(t, subs.Source, subs.UserStream("u1"),
		subs.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k", KeyHash: "h"}),
		eventstore.Event{ID: "x", Type: subs.TypeInvoicePossiblyExpired, Stream: "invoice-tracker", Version: 1, Data: []byte(`{}`)},
		eventstore.Event{ID: "y", Type: "someone.Else", Stream: "else-1", Version: 1, Data: []byte(`"not even an object"`)},
	)
	userEvents, accountEvents := userHistory(t)[:1], customerHistory(t)[:1]
	usageEvents := stream(t, cloud.Source, cloud.UsageStream("c1"), cloud.UsageReported{ReportID: "r", CustomerID: "c1", Units: 1})
	b := viewmem.New()
	for _, c := range []struct {
		handle func(context.Context, eventstore.Event) error
		events []eventstore.Event
	}{
		{users(b, nil).Handle, append(append(append([]eventstore.Event(nil), unwanted...), accountEvents...), usageEvents...)},
		{accounts(b, nil).Handle, append(append(append([]eventstore.Event(nil), unwanted...), userEvents...), usageEvents...)},
		{usage(b, nil).Handle, append(append(append([]eventstore.Event(nil), unwanted...), userEvents...), accountEvents...)},
	} {
		for _, e := range c.events {
			if err := c.handle(ctx, e); err != nil {
				t.Fatalf("%s: %v, want it completed untouched", e.Type, err)
			}
		}
	}
	for _, collection := range []string{"users", "emails", "accounts", "usage"} {
		if docs, err := b.List(ctx, collection); err != nil || len(docs) != 0 {
			t.Fatalf("collection %s: %d documents (%v), want none", collection, len(docs), err)
		}
	}
}

package app_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/shared/eventstore/outbox"
	"meterline/shared/fault"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/eventstore"
)

func TestUsageIsBilledOnceWhateverTheRedeliveries(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", nil)
	e := usageEvent(t, id, "r1", 7, f.clock.Now())
	for range 3 {
		if err := f.s.ApplyUsage.Handle(f.ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	again := e
	again.ID = eventstore.NewID() // the same report republished under another message id
	if err := f.s.ApplyUsage.Handle(f.ctx, again); err != nil {
		t.Fatal(err)
	}
	v := f.view(id)
	if v.Balance != -70 || v.Consumption.Units != 7 || v.Consumption.Amount != 70 {
		t.Fatalf("view after 4 deliveries of one report: balance %d, units %d, amount %d; want -70, 7, 70", v.Balance, v.Consumption.Units, v.Consumption.Amount)
	}
	if n := f.bus.count(contracts.TypeConsumptionAdded); n != 1 {
		t.Fatalf("%d ConsumptionAdded published, want 1", n)
	}
}

func TestOtherCloudAPIEventsAreIgnoredAndBadOnesUnusable(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", nil)
	if err := f.s.ApplyUsage.Handle(f.ctx, eventstore.Event{ID: "x", Type: "cloudapi.KeyUsed", Stream: "usage-x", Data: []byte(`{}`)}); err != nil {
		t.Fatalf("an event type not handled: %v", err)
	}
	unknown := usageEvent(t, "cus_nobody", "r1", 7, f.clock.Now())
	if err := f.s.ApplyUsage.Handle(f.ctx, unknown); !poison(err) || !errors.Is(err, domain.ErrCustomerNotFound) {
		t.Fatalf("usage of an unknown customer: %v", err)
	}
	bad := usageEvent(t, id, "r2", -5, f.clock.Now())
	if err := f.s.ApplyUsage.Handle(f.ctx, bad); !poison(err) {
		t.Fatalf("negative units: %v", err)
	}
	broken := eventstore.Event{ID: "y", Type: "cloudapi.UsageReported", Stream: "usage-" + id, Data: []byte(`{"reportId":1}`)}
	if err := f.s.ApplyUsage.Handle(f.ctx, broken); !poison(err) {
		t.Fatalf("unreadable report: %v", err)
	}
	if v := f.version(contracts.CustomerStream(id)); v != 1 {
		t.Fatalf("customer stream at version %d after rejected reports, want 1", v)
	}
}

func TestOverdraftLocksOnceAndAPaymentUnlocks(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", ptr(100))
	if err := f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: "c1", Amount: 150}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.ApplyUsage.Handle(f.ctx, usageEvent(t, id, "r1", 1, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if v := f.view(id); v.Status != "locked" || v.Balance != -160 {
		t.Fatalf("after overdraft: status %s, balance %d", v.Status, v.Balance)
	}
	if n := f.bus.count(contracts.TypeCustomerLocked); n != 1 {
		t.Fatalf("%d CustomerLocked published, want 1", n)
	}
	if err := f.s.Customers.Pay(f.ctx, app.Pay{CustomerID: id, PaymentID: "p1", Amount: 60}); err != nil {
		t.Fatal(err)
	}
	if v := f.view(id); v.Status != "active" || v.Balance != -100 {
		t.Fatalf("after payment: status %s, balance %d", v.Status, v.Balance)
	}
	if n := f.bus.count(contracts.TypeCustomerUnlocked); n != 1 {
		t.Fatalf("%d CustomerUnlocked published, want 1", n)
	}
}

func TestBadCommandsLeaveTheStreamsUnchanged(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", nil)
	if err := f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: "c1", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	before := f.version(contracts.CustomerStream(id))
	for name, err := range map[string]error{
		"zero charge":        f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: "c2", Amount: 0}),
		"reused charge id":   f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: "c1", Amount: 101}),
		"other currency":     f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: "c3", Amount: 1, Currency: "USD"}),
		"negative payment":   f.s.Customers.Pay(f.ctx, app.Pay{CustomerID: id, PaymentID: "p1", Amount: -1}),
		"unknown customer":   f.s.Customers.Pay(f.ctx, app.Pay{CustomerID: "cus_none", PaymentID: "p1", Amount: 1}),
		"malformed customer": f.s.Customers.Pay(f.ctx, app.Pay{CustomerID: "../x", PaymentID: "p1", Amount: 1}),
		"bad period":         f.s.Customers.IssueInvoice(f.ctx, id, "2026-13"),
	} {
		var de *fault.Error
		if !errors.As(err, &de) {
			t.Errorf("%s: got %v, want a domain error", name, err)
		}
	}
	if after := f.version(contracts.CustomerStream(id)); after != before {
		t.Fatalf("stream moved from %d to %d on rejected commands", before, after)
	}
	if v := f.view(id); v.Balance != -100 || v.Charges != 100 {
		t.Fatalf("view changed: %+v", v)
	}
}

func TestCreateCustomerWithTheSameCommandIDCreatesOne(t *testing.T) {
	f := newFixture(t)
	ctx := eventstore.WithCommandID(f.ctx, "create-customer:key-1")
	a, err := f.s.Customers.Create(ctx, app.CreateCustomer{Name: "Acme", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.s.Customers.Create(ctx, app.CreateCustomer{Name: "Acme", Plan: "pro"})
	if err != nil || a != b {
		t.Fatalf("retry: id %s then %s, err %v", a, b, err)
	}
	if v := f.version(contracts.CustomerStream(a)); v != 1 {
		t.Fatalf("stream at version %d, want 1", v)
	}
	c, err := f.s.Customers.Create(f.ctx, app.CreateCustomer{Name: "Acme", Plan: "pro"})
	if err != nil || c == a {
		t.Fatalf("without command id: id %s (first %s), err %v", c, a, err)
	}
}

func TestConcurrentChargesAreAllApplied(t *testing.T) {
	f := newFixture(t)
	id := f.customer("enterprise", nil)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				errs <- f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: fmt.Sprintf("c%d-%d", w, i), Amount: 10})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v := f.view(id); v.Balance != -200 || v.Charges != 200 {
		t.Fatalf("balance %d, charges %d after 20 concurrent charges of 10", v.Balance, v.Charges)
	}
}

func TestInvoicingExpiryAndPaymentEndToEnd(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", nil)
	if err := f.s.ApplyUsage.Handle(f.ctx, usageEvent(t, id, "r1", 7, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC))
	for range 2 { // a re-run for the same month issues nothing new
		if err := f.s.MonthlyInvoicing.Run(f.ctx); err != nil {
			t.Fatalf("invoicing: %v", err)
		}
	}
	if n := f.bus.count(contracts.TypeInvoiceIssued); n != 1 {
		t.Fatalf("%d InvoiceIssued, want 1", n)
	}
	invoiceID := domain.InvoiceID(id, "2026-11")
	out, _, _ := f.views.Outstanding.Get(f.ctx, id)
	if _, ok := out.Invoices[invoiceID]; !ok {
		t.Fatalf("outstanding invoices: %+v", out)
	}

	// Not yet due: nothing.
	f.clock.Set(f.clock.Now().Add(app.DefaultReminderPeriod - time.Second))
	if err := f.s.ExpiryTracker.Run(f.ctx); err != nil {
		t.Fatalf("tracker before the reminder period: %v", err)
	}
	if v := f.version(contracts.InvoiceTrackerStream); v != 0 {
		t.Fatalf("tracker recorded %d events before the reminder period", v)
	}
	f.clock.Set(f.clock.Now().Add(time.Second))
	f.bus.loop = nil // hold the tracker's event back, to run the tracker again meanwhile
	for range 2 {
		if err := f.s.ExpiryTracker.Run(f.ctx); err != nil {
			t.Fatalf("tracker: %v", err)
		}
	}
	if v := f.version(contracts.InvoiceTrackerStream); v != 1 {
		t.Fatalf("invoice-tracker stream at %d after two runs, want 1", v)
	}
	var possiblyExpired eventstore.Event
	for _, e := range f.bus.published {
		if e.Type == contracts.TypeInvoicePossiblyExpired {
			possiblyExpired = e
		}
	}
	for range 2 { // the receptor, twice (redelivery)
		if err := f.s.ExpireInvoices.Handle(f.ctx, possiblyExpired); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.bus.count(contracts.TypeInvoiceExpired); n != 1 {
		t.Fatalf("%d InvoiceExpired, want 1", n)
	}
	v := f.view(id)
	if len(v.Invoices) != 1 || v.Invoices[0].Status != "expired" || v.Invoices[0].Amount != 70 {
		t.Fatalf("invoices: %+v", v.Invoices)
	}
	out, _, _ = f.views.Outstanding.Get(f.ctx, id)
	if len(out.Invoices) != 0 {
		t.Fatalf("an expired invoice is still outstanding: %+v", out)
	}
	published := len(f.bus.types())
	if err := f.s.ExpiryTracker.Run(f.ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.bus.types()); n != published {
		t.Fatalf("tracker published %d events after expiry", n-published)
	}

	// Paying settles the expired invoice.
	if err := f.s.Customers.Pay(f.ctx, app.Pay{CustomerID: id, PaymentID: "p1", Amount: 70}); err != nil {
		t.Fatal(err)
	}
	if v := f.view(id); v.Invoices[0].Status != "paid" || v.Balance != 0 {
		t.Fatalf("after payment: %+v", v)
	}
}

func TestProjectionsIgnoreDuplicatesAndOrder(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", ptr(50))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.s.ApplyUsage.Handle(f.ctx, usageEvent(t, id, "r1", 3, f.clock.Now())))
	must(f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: "c1", Amount: 40}))
	must(f.s.Customers.Pay(f.ctx, app.Pay{CustomerID: id, PaymentID: "p1", Amount: 5}))
	f.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	must(f.s.Customers.IssueInvoice(f.ctx, id, "2026-11"))
	want := f.view(id)

	// A fresh set of views fed the same events backwards, each twice.
	events, err := f.store.Read(f.ctx, contracts.CustomerStream(id), 1)
	must(err)
	views := memViews()
	replay := app.New(app.Config{Store: f.store, Views: views, Now: f.clock.Now})
	for i := len(events) - 1; i >= 0; i-- {
		must(onOwnTopic(replay)(f.ctx, events[i]))
		must(onOwnTopic(replay)(f.ctx, events[i]))
	}
	got, _, err := views.Customers.Get(f.ctx, id)
	must(err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed view differs\n got %+v\nwant %+v", got, want)
	}
}

func TestOutboxSweepPublishesWhatFailedToPublish(t *testing.T) {
	f := newFixture(t)
	f.bus.fail = true
	id := f.customer("payg", nil)
	if err := f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: "c1", Amount: 5}); err != nil {
		t.Fatalf("a publication failure failed the command: %v", err)
	}
	if len(f.bus.published) != 0 {
		t.Fatal("published while the bus was down")
	}
	f.bus.fail = false
	if err := f.s.Outbox.RunSweep(f.ctx); err != nil || len(f.bus.published) != 0 {
		t.Fatalf("sweep of events younger than the sweep age: %d published, %v", len(f.bus.published), err)
	}
	f.clock.Set(f.clock.Now().Add(outbox.DefaultSweepAge))
	f.bus.fail = true
	if err := f.s.Outbox.RunSweep(f.ctx); !errors.Is(err, errBusDown) {
		t.Fatalf("sweep with the bus down: %v", err)
	}
	f.bus.fail = false
	err := f.s.Outbox.RunSweep(f.ctx)
	if n := len(f.bus.types()); err != nil || n != 3 { // CustomerCreated, ChargeAdded, BalanceChanged
		t.Fatalf("sweep: %d events, %v", n, err)
	}
	if err := f.s.Outbox.RunSweep(f.ctx); err != nil || len(f.bus.types()) != 3 {
		t.Fatalf("second sweep republished %d events, %v", len(f.bus.types())-3, err)
	}
	pending, _ := f.store.Pending(f.ctx, 0)
	if len(pending) != 0 {
		t.Fatalf("%d events still pending", len(pending))
	}
}

func TestUsersAndKeys(t *testing.T) {
	f := newFixture(t)
	c1, c2 := f.customer("pro", nil), f.customer("pro", nil)
	u, err := f.s.Users.Create(f.ctx, app.CreateUser{CustomerID: c1, Email: "Ann@Example.com", Password: "correct horse battery"})
	if err != nil || u.APIKey == "" || u.UserID == "" {
		t.Fatalf("create user: %+v, %v", u, err)
	}
	view, _, _ := f.views.Users.Get(f.ctx, u.UserID)
	if view.Email != "ann@example.com" || !view.PasswordSet || len(view.Keys) != 1 || view.Keys[0].Status != "active" {
		t.Fatalf("user view: %+v", view)
	}
	// The key is published only as its hash.
	for _, e := range f.bus.published {
		if e.Type == contracts.TypeApiKeyIssued && !strings.Contains(string(e.Data), domain.HashAPIKey(u.APIKey)) {
			t.Fatalf("ApiKeyIssued without the key's hash: %s", e.Data)
		}
		if strings.Contains(string(e.Data), u.APIKey) || strings.Contains(string(e.Data), "correct horse") {
			t.Fatalf("a secret was published in %s", e.Type)
		}
	}

	// Email unique across customers, whatever the case.
	if _, err := f.s.Users.Create(f.ctx, app.CreateUser{CustomerID: c2, Email: "ANN@example.com"}); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("same email for another customer: %v", err)
	}
	// Another customer cannot reach this user.
	if err := f.s.Users.Lock(f.ctx, c2, u.UserID); !errors.Is(err, domain.ErrUserNotFound) {
		t.Fatalf("lock through another customer: %v", err)
	}

	keyID, key, err := f.s.Users.IssueKey(f.ctx, c1, u.UserID)
	if err != nil || key == "" || key == u.APIKey {
		t.Fatalf("issue key: %s %v", keyID, err)
	}
	if err := f.s.Users.RevokeKey(f.ctx, c1, u.UserID, keyID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Users.RevokeKey(f.ctx, c1, u.UserID, keyID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := f.s.Users.RevokeKey(f.ctx, c1, u.UserID, "key_nope"); !errors.Is(err, domain.ErrKeyNotFound) {
		t.Fatalf("revoke unknown key: %v", err)
	}
	if err := f.s.Users.Lock(f.ctx, c1, u.UserID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Users.SetPassword(f.ctx, c1, u.UserID, "short"); !errors.Is(err, fault.Invalid) {
		t.Fatalf("short password: %v", err)
	}
	view, _, _ = f.views.Users.Get(f.ctx, u.UserID)
	if view.Status != "locked" || len(view.Keys) != 2 || view.Keys[1].Status != "revoked" {
		t.Fatalf("user view: %+v", view)
	}
	if n := f.bus.count(contracts.TypeApiKeyRevoked); n != 1 {
		t.Fatalf("%d ApiKeyRevoked", n)
	}
}

func TestCreateUserRetriedWithTheSameCommandIDCreatesOneUser(t *testing.T) {
	f := newFixture(t)
	c := f.customer("pro", nil)
	ctx := eventstore.WithCommandID(f.ctx, "create-user:k1")
	a, err := f.s.Users.Create(ctx, app.CreateUser{CustomerID: c, Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.s.Users.Create(ctx, app.CreateUser{CustomerID: c, Email: "bob@example.com"})
	if err != nil || b.UserID != a.UserID || b.APIKey != "" {
		t.Fatalf("retry: %+v then %+v, %v", a, b, err)
	}
	if v := f.version(contracts.UserStream(a.UserID)); v != 2 {
		t.Fatalf("user stream at %d, want 2 (created, key)", v)
	}
}

func TestAnAbandonedEmailClaimIsReleased(t *testing.T) {
	f := newFixture(t)
	c := f.customer("pro", nil)
	// A request claimed the email and died before creating its user.
	_, err := f.views.Emails.Update(f.ctx, app.EmailKey("eve@example.com"), func(e *app.EmailClaim) error {
		*e = app.EmailClaim{Email: "eve@example.com", UserID: "usr_ghost", CustomerID: c, ClaimedAt: f.clock.Now()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Users.Create(f.ctx, app.CreateUser{CustomerID: c, Email: "eve@example.com"}); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("a fresh claim must hold: %v", err)
	}
	f.clock.Set(f.clock.Now().Add(2 * time.Minute))
	if _, err := f.s.Users.Create(f.ctx, app.CreateUser{CustomerID: c, Email: "eve@example.com"}); err != nil {
		t.Fatalf("an abandoned claim must be released: %v", err)
	}
}

func TestPreviousMonth(t *testing.T) {
	for now, want := range map[time.Time]string{
		time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC):  "2026-11",
		time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC):  "2026-12",
		time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC): "2026-02",
	} {
		if got := app.PreviousMonth(now); got != want {
			t.Errorf("PreviousMonth(%v) = %s, want %s", now, got, want)
		}
	}
}

func TestUsageReportsInAnyOrderCostTheSame(t *testing.T) {
	balance := func(order ...string) int64 {
		f := newFixture(t)
		id := f.customer("starter", nil) // 1000 units included, 5 per unit beyond
		units := map[string]int64{"a": 600, "b": 300, "c": 400}
		for _, r := range order {
			if err := f.s.ApplyUsage.Handle(f.ctx, usageEvent(t, id, r, units[r], f.clock.Now())); err != nil {
				t.Fatal(err)
			}
		}
		return f.view(id).Balance
	}
	inOrder := balance("a", "b", "c")
	if inOrder != -300*5 {
		t.Fatalf("balance %d, want %d", inOrder, -300*5)
	}
	if other := balance("c", "a", "c", "b", "a"); other != inOrder {
		t.Fatalf("out of order and duplicated: balance %d, in order %d", other, inOrder)
	}
}

func TestConcurrentSignUpsWithOneEmailCreateOneUser(t *testing.T) {
	f := newFixture(t)
	customers := []string{f.customer("pro", nil), f.customer("pro", nil), f.customer("pro", nil), f.customer("pro", nil)}
	var wg sync.WaitGroup
	results := make(chan error, len(customers))
	for _, c := range customers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.s.Users.Create(f.ctx, app.CreateUser{CustomerID: c, Email: "same@example.com"})
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	created, taken := 0, 0
	for err := range results {
		switch {
		case err == nil:
			created++
		case errors.Is(err, domain.ErrEmailTaken):
			taken++
		default:
			t.Fatal(err)
		}
	}
	if created != 1 || taken != len(customers)-1 {
		t.Fatalf("%d created, %d refused, want 1 and %d", created, taken, len(customers)-1)
	}
	if n := f.bus.count(contracts.TypeUserCreated); n != 1 {
		t.Fatalf("%d UserCreated published", n)
	}
}

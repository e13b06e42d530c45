package app_test

import (
	"testing"
	"time"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/contracts"
)

// The handler applies a usage report and dies before publishing its events (here: the bus
// refuses them). Service Bus redelivers the report; it is billed already, so the command makes
// no events, yet the stored ones must reach the topic now, not at the next outbox sweep.
func TestRedeliveredUsageReportPublishesWhatACrashLeftBehind(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", ptr(100))
	if err := f.s.Customers.Charge(f.ctx, app.Charge{CustomerID: id, ChargeID: "c1", Amount: 95}); err != nil {
		t.Fatal(err)
	}
	report := usageEvent(t, id, "r1", 1, f.clock.Now()) // 10 more: over the limit, locked
	if n := f.bus.count(contracts.TypeCustomerLocked); n != 0 {
		t.Fatalf("locked before the report: %d", n)
	}

	f.bus.fail = true
	if err := f.s.ApplyUsage.Handle(f.ctx, report); err != nil {
		t.Fatalf("a publication failure failed the command: %v", err)
	}
	f.bus.fail = false
	stream := contracts.CustomerStream(id)
	stuck, err := f.store.PendingIn(f.ctx, stream)
	if err != nil || len(stuck) == 0 {
		t.Fatalf("nothing pending after the crash: %v, %v", stuck, err)
	}
	if n := f.bus.count(contracts.TypeCustomerLocked); n != 0 {
		t.Fatalf("CustomerLocked published while the bus was down: %d", n)
	}

	// Redelivered; the clock has not moved, so no sweep would touch events this young.
	if err := f.s.ApplyUsage.Handle(f.ctx, report); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{contracts.TypeConsumptionAdded, contracts.TypeCustomerLocked} {
		if n := f.bus.count(typ); n != 1 {
			t.Fatalf("%d %s published after the redelivery, want 1", n, typ)
		}
	}
	if p, _ := f.store.PendingIn(f.ctx, stream); len(p) != 0 {
		t.Fatalf("%d events still pending", len(p))
	}
	before := len(f.bus.types())
	if err := f.s.Outbox.RunSweep(f.ctx); err != nil || len(f.bus.types()) != before {
		t.Fatalf("the sweep published %d events, %v", len(f.bus.types())-before, err)
	}
	if v := f.view(id); v.Status != "locked" || v.Balance != -105 {
		t.Fatalf("view: status %s, balance %d", v.Status, v.Balance)
	}

	// Another redelivery publishes nothing more.
	published := len(f.bus.types())
	if err := f.s.ApplyUsage.Handle(f.ctx, report); err != nil {
		t.Fatal(err)
	}
	if n := len(f.bus.types()); n != published {
		t.Fatalf("a redelivery with nothing pending published %d events", n-published)
	}
}

// The expiry tracker stores InvoicePossiblyExpired and dies before publishing it: its next run
// finds the event stored (a duplicate append) and publishes it then.
func TestExpiryTrackerRerunPublishesWhatACrashLeftBehind(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", nil)
	if err := f.s.ApplyUsage.Handle(f.ctx, usageEvent(t, id, "r1", 7, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC))
	if err := f.s.MonthlyInvoicing.Run(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(app.DefaultReminderPeriod))
	f.bus.loop = nil // only what is published matters here

	f.bus.fail = true
	if err := f.s.ExpiryTracker.Run(f.ctx); err != nil {
		t.Fatalf("tracker: %v", err)
	}
	if p, _ := f.store.PendingIn(f.ctx, contracts.InvoiceTrackerStream); len(p) != 1 {
		t.Fatalf("%d events pending after the run with the bus down, want 1", len(p))
	}
	f.bus.fail = false
	if n := f.bus.count(contracts.TypeInvoicePossiblyExpired); n != 0 {
		t.Fatalf("published while the bus was down: %d", n)
	}
	if err := f.s.ExpiryTracker.Run(f.ctx); err != nil {
		t.Fatalf("tracker re-run: %v", err)
	}
	if n := f.bus.count(contracts.TypeInvoicePossiblyExpired); n != 1 {
		t.Fatalf("%d InvoicePossiblyExpired published after the re-run, want 1", n)
	}
	if p, _ := f.store.PendingIn(f.ctx, contracts.InvoiceTrackerStream); len(p) != 0 {
		t.Fatalf("%d events still pending", len(p))
	}
}

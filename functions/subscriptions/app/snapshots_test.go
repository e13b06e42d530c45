package app_test

import (
	"fmt"
	"testing"
	"time"

	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
)

// A report billed longer ago than the Customer remembers (domain.RecentReports) and delivered
// again is still billed once: the event store recognises the events of its command, whether
// the re-run makes the same events (a duplicate) or others (partly stored).
func TestAReportBilledLongAgoIsNotBilledAgain(t *testing.T) {
	for _, plan := range []string{
		"payg",    // the re-run makes ConsumptionAdded and BalanceChanged again: a duplicate
		"starter", // first free (included units), then charged: other events, partly stored
	} {
		t.Run(plan, func(t *testing.T) {
			f := newFixture(t)
			id := f.customer(plan, ptr(domain.MaxAmount))
			at := f.clock.Now()
			old := usageEvent(t, id, "old", 10, at)
			if err := f.s.ApplyUsage.Handle(f.ctx, old); err != nil {
				t.Fatal(err)
			}
			for i := range domain.RecentReports {
				if err := f.s.ApplyUsage.Handle(f.ctx, usageEvent(t, id, fmt.Sprint("r", i), 1, at.Add(time.Duration(i+1)*time.Minute))); err != nil {
					t.Fatal(err)
				}
			}
			stream := contracts.CustomerStream(id)
			version, balance := f.version(stream), f.view(id).Balance
			if err := f.s.ApplyUsage.Handle(f.ctx, old); err != nil {
				t.Fatalf("old report again: %v", err)
			}
			if v, b := f.version(stream), f.view(id).Balance; v != version || b != balance {
				t.Fatalf("old report again: stream at %d, balance %d; want %d and %d unchanged", v, b, version, balance)
			}
			// (A duplicate is published again, which consumers dedupe by event id.)
			if n := f.bus.distinct(contracts.TypeConsumptionAdded); n != domain.RecentReports+1 {
				t.Fatalf("%d ConsumptionAdded published, want %d", n, domain.RecentReports+1)
			}
			// The stream is long, its customer loads from a snapshot near its end.
			snap, ok, err := f.store.LoadSnapshot(f.ctx, stream)
			if err != nil || !ok || version-snap.Version >= 100 {
				t.Fatalf("snapshot at %d (%v, %v), stream at %d", snap.Version, ok, err, version)
			}
		})
	}
}

// A broken snapshot costs a replay, not a wrong balance.
func TestACorruptCustomerSnapshotIsReplacedByAReplay(t *testing.T) {
	f := newFixture(t)
	id := f.customer("payg", ptr(domain.MaxAmount))
	at := f.clock.Now()
	for i := range 150 {
		if err := f.s.ApplyUsage.Handle(f.ctx, usageEvent(t, id, fmt.Sprint("r", i), 1, at)); err != nil {
			t.Fatal(err)
		}
	}
	stream := contracts.CustomerStream(id)
	snap, ok, err := f.store.LoadSnapshot(f.ctx, stream)
	if err != nil || !ok {
		t.Fatalf("no snapshot after 150 reports: %v", err)
	}
	snap.Data = []byte(`{"balance":"broken"}`)
	if err := f.store.SaveSnapshot(f.ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := f.s.ApplyUsage.Handle(f.ctx, usageEvent(t, id, "r150", 1, at)); err != nil {
		t.Fatal(err)
	}
	c, err := f.s.Customers.Get(f.ctx, id)
	if err != nil || c.Balance() != -151*10 {
		t.Fatalf("balance %d, %v; want %d", c.Balance(), err, -151*10)
	}
	if now, _, _ := f.store.LoadSnapshot(f.ctx, stream); string(now.Data) == string(snap.Data) {
		t.Fatalf("the broken snapshot at %d was not replaced", snap.Version)
	}
}

// distinct counts the events of type typ published, by event id.
func (b *bus) distinct(typ string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := map[string]bool{}
	for _, e := range b.published {
		if e.Type == typ {
			ids[e.ID] = true
		}
	}
	return len(ids)
}

package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"meterline/functions/journal/app"
	"meterline/functions/journal/store"
	"meterline/functions/journal/store/memstore"
	subscriptions "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
)

// clock is the tests' clock: it only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time   { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)  { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func at(hh, mm, ss int) time.Time { return time.Date(2026, 3, 10, hh, mm, ss, 0, time.UTC) }
func charge(id string, created time.Time, amount int64) eventstore.Event {
	data, _ := json.Marshal(subscriptions.ChargeAdded{CustomerID: "c1", ChargeID: id, Amount: amount, Currency: "EUR", ChargedAt: created, Month: "2026-03"})
	return eventstore.Event{ID: id, Type: subscriptions.TypeChargeAdded, Stream: "customer-c1", Source: "subscriptions", CreatedAt: created, Data: data}
}

type world struct {
	t     *testing.T
	clock *clock
	j     *app.Journal
	views views.Backend
}

func newWorld(t *testing.T, records app.Records, archive app.Archive, v views.Backend) *world {
	c := &clock{t: at(14, 0, 0)}
	if v == nil {
		v = viewmem.New()
	}
	j := app.New(app.Config{Records: records, Archive: archive, Views: v, Now: c.Now, Grace: 2 * time.Minute, ArchiveAfter: 24 * time.Hour})
	return &world{t: t, clock: c, j: j, views: v}
}

// receive records e with the clock at when.
func (w *world) receive(e eventstore.Event, when time.Time) {
	w.t.Helper()
	w.clock.Set(when)
	if _, _, err := w.j.Recorder.Record(context.Background(), e); err != nil {
		w.t.Fatalf("record %s: %v", e.ID, err)
	}
}

// tick runs the projection task with the clock at when.
func (w *world) tick(when time.Time) error {
	w.clock.Set(when)
	return w.j.Projections.Run(context.Background())
}

func (w *world) charges() (count int, amount int64) {
	w.t.Helper()
	doc, _, err := w.j.Reports.Get(context.Background(), app.ReportKey("c1", "2026-03"))
	if err != nil {
		w.t.Fatal(err)
	}
	return doc.Charges.Count, doc.Charges.Amount
}

// Seed 003's out-of-order delivery: purchase-landed, created 14:00:00, received 14:02:08 after
// retries; purchase-completed, created 14:01:50, received 14:01:51. The projection has already
// moved past 14:01:51 when the late one arrives; reading by received_at, it still counts it.
func TestALateEventIsCounted(t *testing.T) {
	j := memstore.New(nil)
	w := newWorld(t, j, j, nil)
	w.receive(charge("completed", at(14, 1, 50), 100), at(14, 1, 51))
	if err := w.tick(at(14, 3, 0)); err != nil { // horizon 14:01:00: nothing yet
		t.Fatal(err)
	}
	if n, _ := w.charges(); n != 0 {
		t.Fatalf("counted %d events received after the horizon", n)
	}
	if err := w.tick(at(14, 4, 0)); err != nil { // horizon 14:02:00
		t.Fatal(err)
	}
	if n, amount := w.charges(); n != 1 || amount != 100 {
		t.Fatalf("after the first run: %d charges, %d", n, amount)
	}
	w.receive(charge("landed", at(14, 0, 0), 30), at(14, 2, 8)) // created before the one counted
	for _, tick := range []time.Time{at(14, 4, 10), at(14, 5, 0)} {
		if err := w.tick(tick); err != nil {
			t.Fatal(err)
		}
	}
	if n, amount := w.charges(); n != 2 || amount != 130 {
		t.Fatalf("the late event: %d charges, %d; want 2, 130", n, amount)
	}
	cp, _ := w.j.Reports.Checkpoint(context.Background())
	if !cp.Horizon.Equal(at(14, 3, 0)) || cp.Events != 2 || cp.Through != (store.Position{At: at(14, 2, 8), ID: "landed"}).Key() {
		t.Fatalf("checkpoint %+v", cp)
	}
}

// failingRepair is the Journal with Repair broken: only the in-flight marks guard the horizon.
type failingRepair struct{ *store.Journal }

func (failingRepair) Repair(context.Context, time.Time) (int, error) {
	return 0, errors.New("repair unavailable")
}

// An ingest that dies after its commit and before its index rows leaves its mark: the horizon
// stays at the mark, whatever the clock, until a retry (or Repair) indexes the event, which is
// then counted with its first received_at.
func TestACrashedIngestHoldsTheHorizon(t *testing.T) {
	crashed := false
	j := memstore.New(&store.Options{Crash: func(s store.Step, id string) error {
		if s == store.StepIndex && id == "crashed" && !crashed {
			crashed = true
			return errors.New("the process died")
		}
		return nil
	}})
	w := newWorld(t, failingRepair{j}, j, nil)
	w.clock.Set(at(14, 6, 0))
	if _, _, err := w.j.Recorder.Record(context.Background(), charge("crashed", at(14, 6, 0), 7)); err == nil {
		t.Fatal("no crash")
	}
	w.receive(charge("after", at(14, 6, 30), 5), at(14, 6, 30))
	_ = w.tick(at(14, 30, 0)) // Repair fails, the projection still runs
	if h, _ := w.j.Projections.Horizon(context.Background(), at(14, 30, 0)); !h.Equal(at(14, 6, 0)) {
		t.Fatalf("horizon %v; want the crashed ingest's received_at", h)
	}
	if n, _ := w.charges(); n != 0 {
		t.Fatalf("counted %d events past the crashed ingest", n)
	}
	w.receive(charge("crashed", at(14, 6, 0), 7), at(14, 31, 0)) // the redelivery repairs it
	_ = w.tick(at(14, 40, 0))
	if n, amount := w.charges(); n != 2 || amount != 12 {
		t.Fatalf("after the retry: %d charges, %d; want 2, 12", n, amount)
	}
}

// failingPut fails writes of one collection while armed: a run that dies between its
// documents and its checkpoint.
type failingPut struct {
	views.Backend
	collection string
	armed      bool
}

func (f *failingPut) Put(ctx context.Context, collection, key string, data []byte, version string) (string, error) {
	if f.armed && collection == f.collection {
		return "", errors.New("storage unavailable")
	}
	return f.Backend.Put(ctx, collection, key, data, version)
}

func TestARunThatDiesBeforeItsCheckpointCountsNothingTwice(t *testing.T) {
	j := memstore.New(nil)
	v := &failingPut{Backend: viewmem.New(), collection: "checkpoints", armed: true}
	w := newWorld(t, j, j, v)
	for i := range 5 {
		w.receive(charge(fmt.Sprintf("c%d", i), at(14, 0, i), 10), at(14, 0, i))
	}
	if err := w.tick(at(14, 10, 0)); err == nil {
		t.Fatal("the run did not fail")
	}
	if n, _ := w.charges(); n != 5 {
		t.Fatalf("the documents took %d events before the checkpoint failed", n)
	}
	v.armed = false
	w.receive(charge("c5", at(14, 7, 0), 10), at(14, 7, 0))
	if err := w.tick(at(14, 10, 0)); err != nil {
		t.Fatal(err)
	}
	if n, amount := w.charges(); n != 6 || amount != 60 {
		t.Fatalf("after the rerun: %d charges, %d; want 6, 60", n, amount)
	}
}

func TestOverlappingRunsCountOnce(t *testing.T) {
	j := memstore.New(nil)
	w := newWorld(t, j, j, nil)
	for i := range 40 {
		w.receive(charge(fmt.Sprintf("c%02d", i), at(14, 0, i), 1), at(14, 0, i))
	}
	w.clock.Set(at(15, 0, 0))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := w.j.Projections.Run(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, amount := w.charges(); n != 40 || amount != 40 {
		t.Fatalf("four overlapping runs: %d charges, %d; want 40", n, amount)
	}
}

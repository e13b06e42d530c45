package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/contracts"
	"meterline/functions/cloudapi/domain"
	"meterline/functions/cloudapi/meterlog"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/outbox"
)

var errCrash = errors.New("simulated crash")

// crashingMeter fails MarkReported the first time: the process died between the append and
// the mark.
type crashingMeter struct {
	app.MeterLog
	crashes int
}

func (c *crashingMeter) MarkReported(ctx context.Context, r domain.Report) error {
	if c.crashes > 0 {
		c.crashes--
		return errCrash
	}
	return c.MeterLog.MarkReported(ctx, r)
}

// crashingStore fails Append the first time: the process died between the assignment and the
// append.
type crashingStore struct {
	eventstore.Store
	crashes int
}

func (c *crashingStore) Append(ctx context.Context, s string, x eventstore.Expected, ev ...eventstore.Event) (eventstore.Appended, error) {
	if c.crashes > 0 {
		c.crashes--
		return eventstore.Appended{}, errCrash
	}
	return c.Store.Append(ctx, s, x, ev...)
}

func registry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	contracts.Register(r)
	return r
}

func reports(t *testing.T, store eventstore.Store, reg *eventstore.Registry, customer string) []contracts.UsageReported {
	t.Helper()
	events, err := store.Read(context.Background(), contracts.UsageStream(customer), 1)
	if err != nil {
		t.Fatal(err)
	}
	var out []contracts.UsageReported
	for _, e := range events {
		v, err := reg.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v.(contracts.UsageReported))
	}
	return out
}

func meter(t *testing.T, m app.MeterLog, customer string, n int, units int64, at time.Time) {
	t.Helper()
	for i := range n {
		e := domain.MeterEntry{CustomerID: customer, RequestID: fmt.Sprintf("%s-%d-%d", customer, at.Unix(), i), Units: units, RecordedAt: at.Add(time.Duration(i) * time.Millisecond)}
		if _, _, err := m.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func sum(rs []contracts.UsageReported) (units, requests int64) {
	for _, r := range rs {
		units += r.Units
		requests += r.Requests
	}
	return
}

func TestUsageReporterReportsEverythingOnce(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	log, store, reg := meterlog.NewMemory(), memstore.New(), registry()
	meter(t, log, "c1", 150, 2, t0) // more than one report's worth
	meter(t, log, "c2", 3, 10, t0)
	var dispatched []eventstore.Event
	rep := app.UsageReporter{Meter: log, Store: store, Events: reg, Now: time.Now,
		Dispatch: func(_ context.Context, ev []eventstore.Event) { dispatched = append(dispatched, ev...) }}
	for range 2 { // a second run finds nothing to report
		if err := rep.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c1, c2 := reports(t, store, reg, "c1"), reports(t, store, reg, "c2")
	if u, n := sum(c1); len(c1) != 2 || u != 300 || n != 150 {
		t.Fatalf("c1 reports %+v", c1)
	}
	if u, n := sum(c2); len(c2) != 1 || u != 30 || n != 3 || !c2[0].PeriodFrom.Equal(t0) || !c2[0].PeriodTo.Equal(t0.Add(2*time.Millisecond)) {
		t.Fatalf("c2 reports %+v", c2)
	}
	if len(dispatched) != 3 || dispatched[0].Version != 1 || dispatched[0].Type != contracts.UsageReportedType {
		t.Fatalf("dispatched %+v", dispatched)
	}
	usage, _ := log.Usage(ctx, "c1")
	if usage.Reported != (domain.Totals{Units: 300, Requests: 150, Reports: 2}) || usage.Unreported != (domain.Totals{}) {
		t.Fatalf("usage %+v", usage)
	}
	// Later consumption goes into a new report.
	meter(t, log, "c2", 1, 5, t0.Add(time.Minute))
	if err := rep.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if c2 := reports(t, store, reg, "c2"); len(c2) != 2 || c2[1].Units != 5 || c2[1].ReportID == c2[0].ReportID {
		t.Fatalf("c2 reports after more usage %+v", c2)
	}
}

// A crash between the append and the mark, or between the assignment and the append, followed
// by more usage and a rerun: every unit is reported exactly once, under the same report id.
// A crash between the append and its publication: the next run finds the report open, its
// append is a duplicate, and it publishes the stored event then instead of leaving it to the sweep.
func TestUsageReporterPublishesWhatACrashLeftUnpublished(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	log, reg, mem := meterlog.NewMemory(), registry(), memstore.New()
	cm := &crashingMeter{MeterLog: log, crashes: 1} // crashes at mark, after the append
	pub := &recordingPublisher{}
	dispatcher := &outbox.Dispatcher{Outbox: mem, Publisher: pub}
	rep := app.UsageReporter{Meter: cm, Store: mem, Events: reg, Now: time.Now} // the crash comes before any publication
	meter(t, log, "c1", 4, 3, t0)
	if err := rep.Run(ctx); !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v, want the crash", err)
	}
	rep.Dispatch, rep.FlushPending = dispatcher.AfterAppend, dispatcher.AfterNoChange
	for range 2 { // the second run finds nothing to do and publishes nothing more
		if err := rep.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := mem.Read(ctx, "usage-c1", 1)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := mem.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || len(pub.events) != 1 || pub.events[0].ID != stored[0].ID || len(pending) != 0 {
		t.Fatalf("published %+v, stored %+v, pending %d", pub.events, stored, len(pending))
	}
}

// recordingPublisher keeps what it is asked to publish.
type recordingPublisher struct{ events []eventstore.Event }

func (p *recordingPublisher) Publish(_ context.Context, events ...eventstore.Event) error {
	p.events = append(p.events, events...)
	return nil
}

func TestUsageReporterCrashNeverDoubleBills(t *testing.T) {
	for _, crash := range []string{"between append and mark", "between assign and append"} {
		t.Run(crash, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			log, reg := meterlog.NewMemory(), registry()
			mem := memstore.New()
			cm := &crashingMeter{MeterLog: log}
			cs := &crashingStore{Store: mem}
			if crash == "between append and mark" {
				cm.crashes = 1
			} else {
				cs.crashes = 1
			}
			rep := app.UsageReporter{Meter: cm, Store: cs, Events: reg, Now: time.Now}
			meter(t, log, "c1", 4, 3, t0)
			if err := rep.Run(ctx); !errors.Is(err, errCrash) {
				t.Fatalf("first run: %v, want the crash", err)
			}
			meter(t, log, "c1", 2, 7, t0.Add(time.Second)) // usage arriving before the retry
			if err := rep.Run(ctx); err != nil {
				t.Fatal(err)
			}
			got := reports(t, mem, reg, "c1")
			if u, n := sum(got); len(got) != 2 || u != 4*3+2*7 || n != 6 || got[0].Units != 12 || got[1].Units != 14 {
				b, _ := json.Marshal(got)
				t.Fatalf("reports %s", b)
			}
			usage, _ := log.Usage(ctx, "c1")
			if usage.Reported != (domain.Totals{Units: 26, Requests: 6, Reports: 2}) || usage.Unreported != (domain.Totals{}) {
				t.Fatalf("usage %+v", usage)
			}
		})
	}
}

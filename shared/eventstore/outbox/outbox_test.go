package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"meterline/shared/eventstore"
	"meterline/shared/eventstore/eventstoretest"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/eventstore/tablestore"
)

// topic records what was published, like a topic with one subscription.
type topic struct {
	mu       sync.Mutex
	messages []eventstore.Event
	fail     error  // the next Publish fails with it
	poison   string // Publish always fails for this event id
}

func (p *topic) Publish(_ context.Context, events ...eventstore.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range events {
		if e.ID == p.poison && e.ID != "" {
			return fmt.Errorf("%w: %s", eventstore.ErrPayloadTooLarge, e.ID)
		}
	}
	if p.fail != nil {
		err := p.fail
		p.fail = nil
		return err
	}
	p.messages = append(p.messages, events...)
	return nil
}

// received is what a consumer deduping by event id (the message id) sees.
func (p *topic) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, e := range p.messages {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e.ID)
		}
	}
	return out
}

func (p *topic) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.messages)
}

// forgetfulOutbox loses the first MarkPublished: a crash right after publishing.
type forgetfulOutbox struct {
	eventstore.Outbox
	once sync.Once
}

func (o *forgetfulOutbox) MarkPublished(ctx context.Context, events ...eventstore.Event) error {
	crashed := false
	o.once.Do(func() { crashed = true })
	if crashed {
		return errors.New("process died")
	}
	return o.Outbox.MarkPublished(ctx, events...)
}

func ev(id string, at time.Time) eventstore.Event {
	return eventstore.Event{ID: id, Type: "test.Happened", CreatedAt: at, Data: json.RawMessage(`{}`)}
}

func stores(t *testing.T) map[string]func(t *testing.T) eventstoretest.Store {
	return map[string]func(t *testing.T) eventstoretest.Store{
		"memstore": func(t *testing.T) eventstoretest.Store { return memstore.New() },
		"tablestore": func(t *testing.T) eventstoretest.Store {
			s, err := tablestore.NewFromConnectionString(context.Background(), azuritetest.Start(t).ConnectionString(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

func TestDispatchPublishesAndClears(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			pub := &topic{}
			d := &outbox.Dispatcher{Outbox: s, Publisher: pub}
			if _, err := s.Append(ctx, "s", eventstore.NoStream, ev("a", time.Now()), ev("b", time.Now())); err != nil {
				t.Fatal(err)
			}
			events, _ := s.Read(ctx, "s", 1)
			if err := d.Dispatch(ctx, events); err != nil {
				t.Fatal(err)
			}
			if got := pub.received(); fmt.Sprint(got) != "[a b]" {
				t.Fatalf("published %v", got)
			}
			if p, _ := s.Pending(ctx, 0); len(p) != 0 {
				t.Fatalf("still pending: %d", len(p))
			}
		})
	}
}

// A crash between append and publish: the sweep publishes exactly what is still pending.
func TestSweepRecoversCrashBetweenAppendAndPublish(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			pub := &topic{}
			now := time.Now()
			d := &outbox.Dispatcher{Outbox: s, Publisher: pub, Now: func() time.Time { return now }}

			old := now.Add(-time.Hour)
			// Published normally.
			if _, err := s.Append(ctx, "s1", eventstore.NoStream, ev("done", old)); err != nil {
				t.Fatal(err)
			}
			done, _ := s.Read(ctx, "s1", 1)
			if err := d.Dispatch(ctx, done); err != nil {
				t.Fatal(err)
			}
			// Appended, then the process died before publishing.
			if _, err := s.Append(ctx, "s1", eventstore.Exact(1), ev("lost-1", old), ev("lost-2", old)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, "s2", eventstore.NoStream, ev("lost-3", old)); err != nil {
				t.Fatal(err)
			}
			// Just appended: its dispatch is probably under way, the sweep leaves it.
			if _, err := s.Append(ctx, "s3", eventstore.NoStream, ev("young", now.Add(-time.Second))); err != nil {
				t.Fatal(err)
			}

			n, err := d.Sweep(ctx, time.Minute)
			if err != nil || n != 3 {
				t.Fatalf("Sweep = %d, %v", n, err)
			}
			if got := fmt.Sprint(pub.received()); got != "[done lost-1 lost-2 lost-3]" {
				t.Fatalf("published %s", got)
			}
			if pub.count() != 4 {
				t.Fatalf("%d messages for 4 events", pub.count())
			}
			pending, _ := s.Pending(ctx, 0)
			if len(pending) != 1 || pending[0].ID != "young" {
				t.Fatalf("pending after sweep: %v", pending)
			}
			if n, err := d.Sweep(ctx, 0); err != nil || n != 1 {
				t.Fatalf("Sweep(0) = %d, %v", n, err)
			}
			if n, err := d.Sweep(ctx, 0); err != nil || n != 0 {
				t.Fatalf("Sweep of nothing = %d, %v", n, err)
			}
		})
	}
}

// Published, then the process died before clearing the marks: the sweep publishes again, the
// same event id (message id), so a consumer deduping by it sees each event once.
func TestRepublishAfterSuccessKeepsTheMessageID(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	pub := &topic{}
	d := &outbox.Dispatcher{Outbox: &forgetfulOutbox{Outbox: s}, Publisher: pub}
	if _, err := s.Append(ctx, "s", eventstore.NoStream, ev("a", time.Now()), ev("b", time.Now())); err != nil {
		t.Fatal(err)
	}
	events, _ := s.Read(ctx, "s", 1)
	if err := d.Dispatch(ctx, events); err == nil {
		t.Fatal("the crash was not reported")
	}
	if n, err := d.Sweep(ctx, 0); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	if pub.count() != 4 {
		t.Fatalf("%d messages, want each event published twice", pub.count())
	}
	if got := fmt.Sprint(pub.received()); got != "[a b]" {
		t.Fatalf("a deduping consumer sees %s", got)
	}
}

// A failed publish leaves the events marked; AfterAppend does not fail the command.
func TestFailedPublishIsLeftToTheSweep(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	pub := &topic{fail: errors.New("service bus down")}
	d := &outbox.Dispatcher{Outbox: s, Publisher: pub}
	if _, err := s.Append(ctx, "s", eventstore.NoStream, ev("a", time.Now())); err != nil {
		t.Fatal(err)
	}
	events, _ := s.Read(ctx, "s", 1)
	d.AfterAppend(ctx, events)
	if p, _ := s.Pending(ctx, 0); len(p) != 1 {
		t.Fatal("a failed publish cleared the mark")
	}
	if n, err := d.Sweep(ctx, 0); err != nil || n != 1 || fmt.Sprint(pub.received()) != "[a]" {
		t.Fatalf("Sweep = %d, %v, published %v", n, err, pub.received())
	}
}

// Dispatch and Sweep side by side: everything published at least once, nothing left marked.
func TestSweepBesideDispatch(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	pub := &topic{}
	d := &outbox.Dispatcher{Outbox: s, Publisher: pub}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := d.Sweep(ctx, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	const streams, perStream = 20, 10
	var writers sync.WaitGroup
	for i := range streams {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for v := range perStream {
				stream := fmt.Sprintf("s%d", i)
				if _, err := s.Append(ctx, stream, eventstore.Exact(int64(v)), ev(fmt.Sprintf("%s-%d", stream, v), time.Now())); err != nil {
					t.Error(err)
					return
				}
				events, _ := s.Read(ctx, stream, int64(v+1))
				if err := d.Dispatch(ctx, events); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	if got := len(pub.received()); got != streams*perStream {
		t.Fatalf("%d distinct events published, want %d", got, streams*perStream)
	}
	if p, _ := s.Pending(ctx, 0); len(p) != 0 {
		t.Fatalf("%d left pending", len(p))
	}
}

// An event that can never be published stays marked and reported; the others go out.
func TestSweepIsNotHeldBackByOneBadEvent(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	pub := &topic{poison: "b"}
	d := &outbox.Dispatcher{Outbox: s, Publisher: pub}
	if _, err := s.Append(ctx, "s", eventstore.NoStream, ev("a", time.Now()), ev("b", time.Now()), ev("c", time.Now())); err != nil {
		t.Fatal(err)
	}
	n, err := d.Sweep(ctx, 0)
	if n != 2 || !errors.Is(err, eventstore.ErrPayloadTooLarge) {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	if got := fmt.Sprint(pub.received()); got != "[a c]" {
		t.Fatalf("published %s", got)
	}
	if p, _ := s.Pending(ctx, 0); len(p) != 1 || p[0].ID != "b" {
		t.Fatalf("pending %v", p)
	}
}

// A retried command that changed nothing flushes its stream: only that stream's pending events
// go out, at once, whatever their age.
func TestFlushStreamPublishesOneStream(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			pub := &topic{}
			var logged bytes.Buffer
			d := &outbox.Dispatcher{Outbox: s, Publisher: pub, Log: slog.New(slog.NewTextHandler(&logged, nil))}
			now := time.Now()
			if _, err := s.Append(ctx, "s1", eventstore.NoStream, ev("a", now), ev("b", now)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, "s2", eventstore.NoStream, ev("other", now)); err != nil {
				t.Fatal(err)
			}

			// The bus is down: the error says so, and everything stays pending.
			pub.fail = errors.New("bus down")
			if err := d.FlushStream(ctx, "s1"); err == nil {
				t.Fatal("FlushStream hid a failed publish")
			}
			d.AfterNoChange(ctx, "s1") // the bus is back: this one goes through
			if got := fmt.Sprint(pub.received()); got != "[a b]" {
				t.Fatalf("published %s", got)
			}
			if p, _ := s.Pending(ctx, 0); len(p) != 1 || p[0].ID != "other" {
				t.Fatalf("pending after the flush of s1: %v", p)
			}
			if err := d.FlushStream(ctx, "s1"); err != nil || pub.count() != 2 {
				t.Fatalf("second flush: %v, %d messages", err, pub.count())
			}

			// A failure of AfterNoChange is only logged.
			pub.fail = errors.New("bus down")
			d.AfterNoChange(ctx, "s2")
			if !strings.Contains(logged.String(), "bus down") || !strings.Contains(logged.String(), "s2") {
				t.Fatalf("log: %q", logged.String())
			}
			if p, _ := s.Pending(ctx, 0); len(p) != 1 {
				t.Fatalf("pending after a failed flush: %v", p)
			}
			if err := d.FlushStream(ctx, "a/b"); !errors.Is(err, eventstore.ErrInvalidStream) {
				t.Fatalf("FlushStream of a bad name = %v", err)
			}
		})
	}
}

// An outbox that cannot list one stream leaves everything to the sweep.
func TestFlushStreamWithoutStreamOutboxDoesNothing(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	pub := &topic{}
	d := &outbox.Dispatcher{Outbox: struct{ eventstore.Outbox }{s}, Publisher: pub}
	if _, err := s.Append(ctx, "s", eventstore.NoStream, ev("a", time.Now())); err != nil {
		t.Fatal(err)
	}
	if err := d.FlushStream(ctx, "s"); err != nil || pub.count() != 0 {
		t.Fatalf("FlushStream = %v, %d messages", err, pub.count())
	}
	if p, _ := s.Pending(ctx, 0); len(p) != 1 {
		t.Fatalf("pending: %v", p)
	}
}

// Local (the context's own projections) sees every event after its publication; a failing one
// leaves the events marked, and the sweep hands them to it again.
func TestLocalFailureIsLeftToTheSweep(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			pub := &topic{}
			var local []string
			fail := true
			d := &outbox.Dispatcher{Outbox: s, Publisher: pub, Now: func() time.Time { return time.Now().Add(time.Hour) },
				Local: func(_ context.Context, events []eventstore.Event) error {
					if pub.count() < len(events) {
						return errors.New("projected before publication")
					}
					if fail {
						fail = false
						return errors.New("views unavailable")
					}
					for _, e := range events {
						local = append(local, e.ID)
					}
					return nil
				}}
			if _, err := s.Append(ctx, "s", eventstore.NoStream, ev("a", time.Now())); err != nil {
				t.Fatal(err)
			}
			events, _ := s.Read(ctx, "s", 1)
			if err := d.Dispatch(ctx, events); err == nil {
				t.Fatal("a failing Local did not fail the dispatch")
			}
			if p, _ := s.Pending(ctx, 0); len(p) != 1 {
				t.Fatalf("%d pending after a failed Local, want the event still marked", len(p))
			}
			if n, err := d.Sweep(ctx, outbox.DefaultSweepAge); err != nil || n != 1 {
				t.Fatalf("sweep: %d, %v", n, err)
			}
			if fmt.Sprint(local) != "[a]" {
				t.Fatalf("Local saw %v after the sweep, want [a]", local)
			}
			if p, _ := s.Pending(ctx, 0); len(p) != 0 {
				t.Fatalf("%d still pending", len(p))
			}
		})
	}
}

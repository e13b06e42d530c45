package aggregate_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"meterline/shared/azurite/azuritetest"

	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/eventstore/tablestore"
)

// recorder is a topic that records what was published.
type recorder struct {
	mu       sync.Mutex
	messages []string // id@version
}

func (r *recorder) Publish(_ context.Context, events ...eventstore.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range events {
		r.messages = append(r.messages, fmt.Sprintf("%s@%d", e.Type, e.Version))
	}
	return nil
}

func (r *recorder) published() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.messages)
}

// outboxStore is what the crash test needs of a store.
type outboxStore interface {
	eventstore.Store
	eventstore.StreamOutbox
}

// The process dies between the append and the publication; the message is redelivered and the
// command, re-run on the new state, changes nothing. The stored events must go out now, once,
// not wait for the sweep. The same crash before a command that re-appends (a command id):
// the duplicate append hands the stored events to Dispatch.
func TestRetryAfterCrashBeforePublishFlushesTheStream(t *testing.T) {
	stores := map[string]func(t *testing.T) outboxStore{
		"memstore": func(*testing.T) outboxStore { return memstore.New() },
		"tablestore": func(t *testing.T) outboxStore {
			s, err := tablestore.NewFromConnectionString(context.Background(), azuritetest.Start(t).ConnectionString(), nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := newStore(t)
			topic := &recorder{}
			dispatcher := &outbox.Dispatcher{Outbox: store, Publisher: topic, Log: slog.New(slog.DiscardHandler)}
			crashed := false
			var flushed []string
			svc := newService(store)
			svc.Dispatch = func(ctx context.Context, events []eventstore.Event) {
				if crashed {
					dispatcher.AfterAppend(ctx, events)
				}
				crashed = true // the first run dies here, its events stored and unpublished
			}
			svc.FlushPending = func(ctx context.Context, stream string) {
				flushed = append(flushed, stream)
				dispatcher.AfterNoChange(ctx, stream)
			}
			open := func(a *account) ([]any, error) { return a.Open("ada") }

			if _, err := svc.Execute(ctx, "account-1", open); err != nil {
				t.Fatal(err)
			}
			if got := topic.published(); got != "[]" || len(flushed) != 0 {
				t.Fatalf("after the crash: published %s, flushed %v", got, flushed)
			}
			// Redelivered: the account is open already, so the command makes no events.
			if events, err := svc.Execute(ctx, "account-1", open); err != nil || events != nil {
				t.Fatalf("re-run = %v, %v", events, err)
			}
			if fmt.Sprint(flushed) != "[account-1]" || topic.published() != "[test.Opened@1]" {
				t.Fatalf("re-run: flushed %v, published %s", flushed, topic.published())
			}
			if p, err := store.PendingIn(ctx, "account-1"); err != nil || len(p) != 0 {
				t.Fatalf("still pending after the flush: %v, %v", p, err)
			}
			// Once more: a flush finds nothing to publish.
			if _, err := svc.Execute(ctx, "account-1", open); err != nil {
				t.Fatal(err)
			}
			if len(flushed) != 2 || topic.published() != "[test.Opened@1]" {
				t.Fatalf("second re-run: flushed %v, published %s", flushed, topic.published())
			}

			// The duplicate path: a crash after storing a credit with a command id, then the
			// retry re-appends the same ids and Dispatch gets the stored events.
			crashed = false
			credit := eventstore.WithCommandID(ctx, "credit-1")
			if _, err := svc.Execute(credit, "account-1", func(a *account) ([]any, error) { return a.Credit(5) }); err != nil {
				t.Fatal(err)
			}
			events, err := svc.Execute(credit, "account-1", func(a *account) ([]any, error) { return a.Credit(5) })
			if err != nil || len(events) != 1 || events[0].Version != 2 {
				t.Fatalf("retried credit = %v, %v", events, err)
			}
			if len(flushed) != 2 || topic.published() != "[test.Opened@1 test.Credited@2]" {
				t.Fatalf("retried credit: flushed %v, published %s", flushed, topic.published())
			}
			if p, err := store.Pending(ctx, 0); err != nil || len(p) != 0 {
				t.Fatalf("still pending: %v, %v", p, err)
			}
		})
	}
}

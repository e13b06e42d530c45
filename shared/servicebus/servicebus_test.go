package servicebus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	emulator "meterline/infra/servicebus-emulator"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/servicebus"
)

type env struct {
	client   *azservicebus.Client
	pub      *servicebus.Publisher
	receiver *azservicebus.Receiver
}

// newEnv connects to a private emulator with the shipped config: topic "subscriptions" and the
// subscription that takes CustomerLocked events (duplicate detection on).
func newEnv(t *testing.T) env {
	srv := emulator.ForTest(t, nil)
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	pub, err := servicebus.NewPublisher(client, "subscriptions")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	receiver, err := client.NewReceiverForSubscription("subscriptions", "cloudapi-replicate-customer-locks", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = receiver.Close(context.Background()) })
	return env{client, pub, receiver}
}

// receive takes n messages off the subscription, completing them.
func (e env) receive(t *testing.T, n int) []*azservicebus.ReceivedMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*azservicebus.ReceivedMessage
	for len(out) < n {
		msgs, err := e.receiver.ReceiveMessages(ctx, n-len(out), nil)
		if err != nil {
			t.Fatalf("received %d of %d messages: %v", len(out), n, err)
		}
		for _, m := range msgs {
			if err := e.receiver.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, msgs...)
	}
	return out
}

func event(id string, version int64) eventstore.Event {
	return eventstore.Event{
		ID: id, Type: "subscriptions.CustomerLocked", SchemaVersion: 2, Stream: "customer-42", Version: version,
		Source: "subscriptions", CreatedAt: time.Date(2026, 11, 22, 17, 0, 0, 123456000, time.UTC),
		CorrelationID: "flow-1", CausationID: "cmd-9", Data: json.RawMessage(`{"customerId":"42","reason":"unpaid"}`),
	}
}

func TestPublishSetsMessageFields(t *testing.T) {
	e := newEnv(t)
	want := event("evt-1", 7)
	if err := e.pub.Publish(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	m := e.receive(t, 1)[0]
	if m.MessageID != "evt-1" || deref(m.CorrelationID) != "flow-1" || deref(m.Subject) != "subscriptions.CustomerLocked" ||
		deref(m.ContentType) != "application/cloudevents+json; charset=utf-8" {
		t.Fatalf("message id %q, correlation %q, subject %q, content type %q",
			m.MessageID, deref(m.CorrelationID), deref(m.Subject), deref(m.ContentType))
	}
	props := map[string]any{
		"type": "subscriptions.CustomerLocked", "schemaVersion": int32(2), "stream": "customer-42", "version": int64(7),
		"source": "subscriptions", "causationId": "cmd-9", "createdAt": "2026-11-22T17:00:00.123456Z",
		// The CloudEvents AMQP binding.
		"cloudEvents:specversion": "1.0", "cloudEvents:id": "evt-1", "cloudEvents:source": "subscriptions",
		"cloudEvents:type": "subscriptions.CustomerLocked", "cloudEvents:correlationid": "flow-1", "cloudEvents:causationid": "cmd-9",
	}
	if at, ok := m.ApplicationProperties["cloudEvents:time"].(time.Time); !ok || !at.Equal(want.CreatedAt.Truncate(time.Millisecond)) { // AMQP timestamps are milliseconds
		t.Errorf("cloudEvents:time = %#v, want the AMQP timestamp %v", m.ApplicationProperties["cloudEvents:time"], want.CreatedAt)
	}
	for k, v := range props {
		if got := m.ApplicationProperties[k]; got != v {
			t.Errorf("property %s = %#v (%T), want %#v (%T)", k, got, got, v, v)
		}
	}
	got, err := eventstore.UnmarshalEnvelope(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Type != want.Type || got.SchemaVersion != 2 || got.Stream != want.Stream ||
		got.Version != 7 || got.Source != want.Source || !got.CreatedAt.Equal(want.CreatedAt) ||
		got.CorrelationID != want.CorrelationID || got.CausationID != want.CausationID || string(got.Data) != string(want.Data) {
		t.Fatalf("decoded %+v", got)
	}
}

// A publish retried after it succeeded carries the same MessageId: the topic's duplicate
// detection drops it, and a consumer deduping by id would too.
func TestRepublishIsDroppedAsDuplicate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := event("evt-dup", 1)
	for range 3 {
		if err := e.pub.Publish(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	// The sentinel is behind any duplicate in the subscription's order.
	if err := e.pub.Publish(ctx, event("sentinel", 2)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		m := e.receive(t, 1)[0]
		ids = append(ids, m.MessageID)
		if m.MessageID == "sentinel" {
			break
		}
	}
	if strings.Join(ids, " ") != "evt-dup sentinel" {
		t.Fatalf("received %v", ids)
	}
}

// Many events go in several batches, each event once.
func TestPublishManyInBatches(t *testing.T) {
	e := newEnv(t)
	const n = 300
	events := make([]eventstore.Event, n)
	pad := strings.Repeat("x", 2000) // 300 x 2 KB: more than one batch
	for i := range events {
		events[i] = event(fmt.Sprintf("evt-%03d", i), int64(i+1))
		events[i].Data = json.RawMessage(fmt.Sprintf(`{"i":%d,"pad":%q}`, i, pad))
	}
	if err := e.pub.Publish(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range e.receive(t, n) {
		got, err := eventstore.UnmarshalEnvelope(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if seen[got.ID] || got.ID != m.MessageID {
			t.Fatalf("message %s twice or body of %s", m.MessageID, got.ID)
		}
		seen[got.ID] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct events", len(seen))
	}
}

func TestPublishRefusesBadEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bad := event("", 1)
	if err := e.pub.Publish(ctx, bad); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("event without id: %v", err)
	}
	huge := event("huge", 1)
	huge.Data = json.RawMessage(`"` + strings.Repeat("x", 2<<20) + `"`)
	if err := e.pub.Publish(ctx, huge); !errors.Is(err, eventstore.ErrPayloadTooLarge) {
		t.Fatalf("event larger than a message: %v", err)
	}
	if err := e.pub.Publish(ctx, event("ok", 1), huge); !errors.Is(err, eventstore.ErrPayloadTooLarge) {
		t.Fatalf("event larger than a batch: %v", err)
	}
	if _, err := eventstore.UnmarshalEnvelope([]byte("not an envelope")); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("Decode(garbage) = %v", err)
	}
}

// The whole path: append to the store, crash before publishing, the sweep publishes to the
// topic, the consumer gets the events.
func TestOutboxSweepToTopic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	store := memstore.New()
	if _, err := store.Append(ctx, "customer-42", eventstore.NoStream, event("a", 0), event("b", 0)); err != nil {
		t.Fatal(err)
	}
	d := &outbox.Dispatcher{Outbox: store, Publisher: e.pub}
	if n, err := d.Sweep(ctx, 0); err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	msgs := e.receive(t, 2)
	got := []string{}
	for _, m := range msgs {
		ev, err := eventstore.UnmarshalEnvelope(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s@%d", ev.ID, ev.Version))
	}
	if strings.Join(got, " ") != "a@1 b@2" {
		t.Fatalf("received %v", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

package journal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	cloudapi "meterline/functions/cloudapi/contracts"
	"meterline/functions/internal/topology"
	"meterline/functions/journal"
	"meterline/functions/journal/store"
	subscriptions "meterline/functions/subscriptions/contracts"
	emulator "meterline/infra/servicebus-emulator"
	"meterline/infra/servicebus-emulator/config"
	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
	"meterline/shared/servicebus"
)

// The Journal on the Service Bus emulator (its subscriptions read off its registrations, as
// the topology does) and Azurite: events published by the other contexts' publisher, each also
// republished under another message id (an outbox sweep after the duplicate-detection window)
// and posted over HTTP at the same time, delivered in shuffled order, a third of them
// redelivered after they were handled (the handler died before completing), and one message
// that is no envelope. Every event is stored exactly once; only the malformed message is
// dead-lettered.
func TestEveryEventIsStoredOnceThroughServiceBus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newWorld(t, options{})
	top, err := topology.Of([]topology.Context{
		{Name: "subscriptions", Topic: subscriptions.Topic, App: funcapp.New("subscriptions")},
		{Name: "cloudapi", Topic: "cloudapi", App: funcapp.New("cloudapi")},
		{Name: journal.Name, App: w.app},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := top.EmulatorConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	sb := emulator.ForTest(t, cfg)
	client, err := azservicebus.NewClientFromConnectionString(sb.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)

	var published []eventstore.Event
	for i := range 15 {
		// A customer's stream, published out of version order.
		v := int64([]int{3, 1, 2}[i%3] + 3*(i/3))
		published = append(published, chargeEvent(fmt.Sprintf("sub-%02d", i), "c1", v, t0, int64(i)))
	}
	for i := range 15 {
		data, _ := json.Marshal(cloudapi.UsageReported{ReportID: fmt.Sprintf("r%d", i), CustomerID: "c1", Units: int64(i), PeriodFrom: t0})
		published = append(published, eventstore.Event{ID: fmt.Sprintf("use-%02d", i), Type: cloudapi.UsageReportedType, SchemaVersion: 1,
			Stream: cloudapi.UsageStream("c1"), Version: int64(i + 1), Source: cloudapi.Source, CreatedAt: t0, Data: data})
	}
	send := func(topic string, events []eventstore.Event, messageID func(eventstore.Event) string) {
		sender, err := client.NewSender(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sender.Close(ctx)
		for _, e := range events {
			m, err := servicebus.Message(e)
			if err != nil {
				t.Fatal(err)
			}
			id := messageID(e)
			m.MessageID = &id
			if err := sender.SendMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	same := func(e eventstore.Event) string { return e.ID }
	again := func(e eventstore.Event) string { return e.ID + "-republished" }
	reversed := func(es []eventstore.Event) []eventstore.Event {
		out := make([]eventstore.Event, len(es))
		for i, e := range es {
			out[len(es)-1-i] = e
		}
		return out
	}
	send(subscriptions.Topic, published[:15], same)
	send("cloudapi", published[15:], same)
	send(subscriptions.Topic, reversed(published[:15]), again)
	send("cloudapi", reversed(published[15:]), again)
	// Not an envelope: the kit dead-letters it.
	sender, _ := client.NewSender(subscriptions.Topic, nil)
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("not an envelope"), ApplicationProperties: map[string]any{"type": "x"}}, nil); err != nil {
		t.Fatal(err)
	}
	sender.Close(ctx)

	// Another producer posts the same events over HTTP meanwhile.
	var posts sync.WaitGroup
	posts.Go(func() {
		for _, e := range published {
			w.do("POST", "/api/journal/events", envelope(t, e)) // 200 or 409, whoever comes first
		}
	})

	var mu sync.Mutex
	deadLettered := map[string]string{}
	var pumps sync.WaitGroup
	for _, f := range w.app.Functions() {
		if f.Kind != funcapp.KindServiceBus {
			continue
		}
		receiver, err := client.NewReceiverForSubscription(f.ServiceBus.Topic, f.ServiceBus.Subscription, nil)
		if err != nil {
			t.Fatal(err)
		}
		pumps.Go(func() {
			defer receiver.Close(ctx)
			rng := rand.New(rand.NewPCG(uint64(len(f.Name)), 7))
			redelivered := map[string]bool{}
			for idle := 0; idle < 2; {
				waitCtx, stop := context.WithTimeout(ctx, 1500*time.Millisecond)
				msgs, err := receiver.ReceiveMessages(waitCtx, 10, nil)
				stop()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Error(err)
					return
				}
				if len(msgs) == 0 {
					idle++
					continue
				}
				idle = 0
				rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
				for _, m := range msgs {
					status, reason := w.deliver(f.Name, m.Body, m.MessageID, int(m.DeliveryCount))
					switch {
					case reason != "":
						mu.Lock()
						deadLettered[m.MessageID] = reason
						mu.Unlock()
						err = receiver.CompleteMessage(ctx, m, nil) // the host moves it to the dead-letter queue
					case status != 200:
						err = receiver.AbandonMessage(ctx, m, nil)
					case rng.IntN(3) == 0 && !redelivered[m.MessageID]:
						redelivered[m.MessageID] = true // handled, then died before completing
						err = receiver.AbandonMessage(ctx, m, nil)
					default:
						err = receiver.CompleteMessage(ctx, m, nil)
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	pumps.Wait()
	posts.Wait()

	stored, more, err := w.j.Reader.ByTypes(ctx, nil, store.Position{}, t0.Add(24*time.Hour), 1000)
	if err != nil || more {
		t.Fatal(err, more)
	}
	count := map[string]int{}
	for _, r := range stored {
		count[r.ID]++
	}
	for _, e := range published {
		if count[e.ID] != 1 {
			t.Errorf("event %s stored %d times", e.ID, count[e.ID])
		}
	}
	if len(stored) != len(published) {
		t.Fatalf("%d events stored, %d published", len(stored), len(published))
	}
	if len(deadLettered) != 1 {
		t.Fatalf("dead-lettered %v; want only the message that is no envelope", deadLettered)
	}
	for _, reason := range deadLettered {
		if reason != "invalid-envelope" {
			t.Fatalf("dead-letter reason %q", reason)
		}
	}
	stream, _ := w.readAll("/api/journal/streams/customer-c1")
	for i, r := range stream {
		if r.Version != int64(i+1) {
			t.Fatalf("stream position %d holds version %d", i, r.Version)
		}
	}
	if inFlight, _ := w.journal.InFlight(ctx); len(inFlight) != 0 {
		t.Fatalf("ingests left in flight: %v", inFlight)
	}
}

// What the receptors do with each refusal: an event stored already completes (a redelivery);
// an envelope without source or time is malformed and an id reused with other content is
// unusable, both dead-lettered at once since no retry can change them.
func TestReceptorsClassifyWhatTheyRefuse(t *testing.T) {
	w := newWorld(t, options{})
	e := chargeEvent("r-1", "c1", 1, t0, 5)
	body := []byte(envelope(t, e))
	for i, want := range []string{"", ""} { // stored, then stored already
		if status, reason := w.deliver("RecordSubscriptionsEvents", body, e.ID, i+1); status != 200 || reason != want {
			t.Fatalf("delivery %d: %d %q", i+1, status, reason)
		}
	}
	reused := e
	reused.Data = json.RawMessage(`{"other":true}`)
	noSource := e
	noSource.ID, noSource.Source = "r-2", ""
	for want, msg := range map[string][]byte{
		"unusable-event":   []byte(envelope(t, reused)),
		"malformed-event":  []byte(envelope(t, noSource)),
		"invalid-envelope": []byte(`{"id":`),
	} {
		if status, reason := w.deliver("RecordCloudApiEvents", msg, "m", 1); status != 200 || reason != want {
			t.Errorf("%s: %d %q; want it dead-lettered as %s", msg, status, reason, want)
		}
	}
	if n := len(w.snapshot()[string(store.Events)]); n != 1 {
		t.Fatalf("%d events stored; want 1", n)
	}
}

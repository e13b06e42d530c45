package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	cloudcontracts "meterline/functions/cloudapi/contracts"
	"meterline/functions/internal/apps"
	"meterline/functions/internal/topology"
	subcontracts "meterline/functions/subscriptions/contracts"
	"meterline/infra/servicebus-emulator/filter"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/tablestore"
	"meterline/shared/funcapp"
	"meterline/shared/servicebus"
)

// subscriptionsOf are the Service Bus subscriptions of topic (read off the registrations, as
// infra/servicebus-emulator/config.json is).
func subscriptionsOf(t testing.TB, topic string) []topology.Subscription {
	t.Helper()
	tp, err := apps.Topology()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range tp.Topics {
		if x.Name == topic {
			return x.Subscriptions
		}
	}
	t.Fatalf("no topic %s", topic)
	return nil
}

// receiversOf are the subscriptions of topic whose rule takes a message of type typ.
func receiversOf(t testing.TB, topic, typ string) []topology.Subscription {
	t.Helper()
	var out []topology.Subscription
	for _, s := range subscriptionsOf(t, topic) {
		rule, err := filter.ParseSQL(s.Filter)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := rule.Match(&filter.MapMessage{UserProps: map[string]any{"type": typ}}); ok {
			out = append(out, s)
		}
	}
	return out
}

func busClient(t testing.TB) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(sys.bus.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// readEvents reads streams from a context's event store (its own table in the storage account).
func readEvents(t testing.TB, table, container string, streams ...string) []eventstore.Event {
	t.Helper()
	ctx := context.Background()
	store, err := tablestore.NewFromConnectionString(ctx, sys.storage.ConnectionString(), &tablestore.Options{Table: table, Container: container})
	if err != nil {
		t.Fatal(err)
	}
	var all []eventstore.Event
	for _, s := range streams {
		events, err := store.Read(ctx, s, 1)
		if err != nil {
			t.Fatalf("read %s: %v", s, err)
		}
		if len(events) == 0 {
			t.Fatalf("stream %s is empty", s)
		}
		all = append(all, events...)
	}
	return all
}

// publish sends events to topic as the context's publisher does (package servicebus), with the
// message id replaced by newID(event) when newID is not nil: a fresh id gets past the topic's
// duplicate detection, as a re-publication after the detection window would. It returns the
// message ids sent.
func publish(t testing.TB, c *azservicebus.Client, topic string, events []eventstore.Event, newID func(eventstore.Event) string) []string {
	t.Helper()
	sender, err := c.NewSender(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(context.Background())
	var ids []string
	for _, e := range events {
		m, err := servicebus.Message(e)
		if err != nil {
			t.Fatal(err)
		}
		if newID != nil {
			id := newID(e)
			m.MessageID = &id
		}
		if err := sender.SendMessage(context.Background(), m, nil); err != nil {
			t.Fatalf("send %s: %v", e.Type, err)
		}
		ids = append(ids, *m.MessageID)
	}
	return ids
}

// peek lists the messages still in an entity (active, locked or scheduled).
func peek(t testing.TB, c *azservicebus.Client, topic, subscription, queue string, sub azservicebus.SubQueue) []*azservicebus.ReceivedMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r *azservicebus.Receiver
	var err error
	if queue != "" {
		r, err = c.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{SubQueue: sub})
	} else {
		r, err = c.NewReceiverForSubscription(topic, subscription, &azservicebus.ReceiverOptions{SubQueue: sub})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	var out []*azservicebus.ReceivedMessage
	from := int64(0)
	for {
		msgs, err := r.PeekMessages(ctx, 250, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &from})
		if err != nil {
			t.Fatalf("peek %s%s/%s: %v", queue, topic, subscription, err)
		}
		if len(msgs) == 0 {
			return out
		}
		out = append(out, msgs...)
		from = *msgs[len(msgs)-1].SequenceNumber + 1
	}
}

// waitDelivered waits until none of the message ids is left in any subscription of topic: each
// was completed by its consumer (handled, ignored, or sent to the app's dead-letter queue).
func waitDelivered(t testing.TB, c *azservicebus.Client, topic string, ids []string) time.Duration {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var left string
	d, ok := eventually(60*time.Second, 100*time.Millisecond, func() bool {
		for _, sub := range subscriptionsOf(t, topic) {
			n := 0
			for _, m := range peek(t, c, topic, sub.Name, "", 0) {
				if want[m.MessageID] {
					n++
				}
			}
			if n > 0 {
				left = fmt.Sprintf("%d in %s/%s", n, topic, sub.Name)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("messages never consumed: %s", left)
	}
	return d
}

// deadLettered returns what the apps sent to their dead-letter queues for the message ids,
// by app, and fails if a subscription's own dead-letter queue (MaxDeliveryCount reached) has one.
func deadLettered(t testing.TB, c *azservicebus.Client, ids []string) map[string][]funcapp.DeadLetter {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[string][]funcapp.DeadLetter{}
	for _, app := range appNames {
		for _, m := range peek(t, c, "", "", funcapp.DeadLetterQueue(app), 0) {
			var dl funcapp.DeadLetter
			if err := json.Unmarshal(m.Body, &dl); err != nil {
				t.Errorf("%s: a message that is not a DeadLetter: %v %q", funcapp.DeadLetterQueue(app), err, m.Body)
				continue
			}
			if want[dl.MessageID] {
				out[app] = append(out[app], dl)
			}
		}
	}
	for _, topic := range []string{subcontracts.Topic, cloudcontracts.Source} {
		for _, sub := range subscriptionsOf(t, topic) {
			for _, m := range peek(t, c, topic, sub.Name, "", azservicebus.SubQueueDeadLetter) {
				if want[m.MessageID] {
					t.Errorf("%s/%s/$deadletterqueue holds message %s (reason %v): retried to exhaustion instead of handled",
						topic, sub.Name, m.MessageID, deref(m.DeadLetterReason))
				}
			}
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

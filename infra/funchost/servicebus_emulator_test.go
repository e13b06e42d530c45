package funchost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"meterline/infra/funchost"
	emulator "meterline/infra/servicebus-emulator"
	"meterline/infra/servicebus-emulator/config"
)

// emulatorConfig: topic "usage" with subscription "billing" (MaxDeliveryCount 3),
// queue "slow" with the shortest lock the emulator allows, and queue "sturdy"
// (MaxDeliveryCount 3) for handler restarts: only the message in flight when
// the process dies is abandoned; the rest wait for the new process.
const emulatorConfig = `{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns",
  "Queues":[{"Name":"slow","Properties":{"LockDuration":"PT5S","MaxDeliveryCount":3}},{"Name":"out","Properties":{}},
    {"Name":"sturdy","Properties":{"MaxDeliveryCount":3}}],
  "Topics":[{"Name":"usage","Properties":{},"Subscriptions":[{"Name":"billing",
     "Properties":{"LockDuration":"PT30S","MaxDeliveryCount":3},
     "Rules":[{"Name":"all","Properties":{"FilterType":"Sql","SqlFilter":{"SqlExpression":"1=1"}}}]}]}]}],
  "Logging":{"Type":"Console"}}}`

func startEmulator(t testing.TB) *emulator.Server {
	cfg, err := config.Parse([]byte(emulatorConfig))
	must(t, err)
	return emulator.ForTest(t, cfg)
}

func sbClient(t testing.TB, conn string) *azservicebus.Client {
	c, err := azservicebus.NewClientFromConnectionString(conn, nil)
	must(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func sendTo(t testing.TB, c *azservicebus.Client, entity string, msgs ...*azservicebus.Message) {
	t.Helper()
	s, err := c.NewSender(entity, nil)
	must(t, err)
	defer s.Close(context.Background())
	for _, m := range msgs {
		must(t, s.SendMessage(context.Background(), m, nil))
	}
}

func commandMessage(id, action string, ms int) *azservicebus.Message {
	ct, subject := "application/json", "Command"
	return &azservicebus.Message{
		MessageID: &id, ContentType: &ct, Subject: &subject,
		ApplicationProperties: map[string]any{"type": "Command"},
		Body:                  []byte(cmd(action, ms, id)),
	}
}

func emulatorApp(t testing.TB, conn string, maxConcurrent int, entity string) *testApp {
	trigger := `"topicName":"usage","subscriptionName":"billing"`
	if entity == "slow" || entity == "sturdy" {
		trigger = `"queueName":"` + entity + `"`
	}
	return newTestApp(t, fmt.Sprintf(sbHostJSON, maxConcurrent), map[string]string{
		"ProcessUsage": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg",` + trigger + `,"connection":"ServiceBusConnection"}]}`,
	}, map[string]string{"ServiceBusConnection": conn})
}

// drain receives whatever is left in an entity within a short wait.
func drain(t testing.TB, c *azservicebus.Client, topic, sub string, opts *azservicebus.ReceiverOptions) []*azservicebus.ReceivedMessage {
	t.Helper()
	var r *azservicebus.Receiver
	var err error
	if sub == "" {
		r, err = c.NewReceiverForQueue(topic, opts)
	} else {
		r, err = c.NewReceiverForSubscription(topic, sub, opts)
	}
	must(t, err)
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var out []*azservicebus.ReceivedMessage
	for {
		msgs, err := r.ReceiveMessages(ctx, 10, nil)
		if err != nil || len(msgs) == 0 {
			return out
		}
		for _, m := range msgs {
			must(t, r.CompleteMessage(context.Background(), m, nil))
		}
		out = append(out, msgs...)
	}
}

func TestServiceBusOnEmulatorCompletesAndDeadLetters(t *testing.T) {
	em := startEmulator(t)
	a := emulatorApp(t, em.ConnectionString(), 4, "usage")
	startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	c := sbClient(t, em.ConnectionString())
	sendTo(t, c, "usage", commandMessage("good-1", "ok", 0), commandMessage("poison", "fail", 0), commandMessage("good-2", "ok", 0))

	waitFor(t, 60*time.Second, "two successes and three failed deliveries of the poison message", func() bool {
		ok, failed := 0, 0
		for _, inv := range readRecord(t, a.Record) {
			if inv.Outcome == "ok" {
				ok++
			}
			if inv.Key == "poison" && inv.Outcome == "failed" {
				failed++
			}
		}
		return ok == 2 && failed == 3
	})
	dead := drain(t, c, "usage", "billing", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if len(dead) != 1 || dead[0].MessageID != "poison" {
		t.Fatalf("dead-letter queue: %d messages", len(dead))
	}
	if left := drain(t, c, "usage", "billing", nil); len(left) != 0 {
		t.Fatalf("%d messages left in the subscription; the good ones must be completed", len(left))
	}

	var deliveries []string
	for _, inv := range readRecord(t, a.Record) {
		var req struct {
			Data     map[string]string
			Metadata map[string]any
		}
		must(t, json.Unmarshal(inv.Request, &req))
		m := req.Metadata
		if inv.Key == "poison" {
			deliveries = append(deliveries, m["DeliveryCount"].(string))
		}
		if inv.Key == "good-1" {
			props, _ := m["ApplicationProperties"].(map[string]any)
			if m["MessageId"] != `"good-1"` || m["ContentType"] != `"application/json"` || m["Subject"] != `"Command"` ||
				props["type"] != "Command" || m["LockToken"] == nil || m["SequenceNumber"] == nil {
				t.Errorf("metadata from the emulator: %v", m)
			}
			if _, err := time.Parse("2006-01-02T15:04:05", m["EnqueuedTimeUtc"].(string)); err != nil {
				t.Errorf("EnqueuedTimeUtc: %v", err)
			}
			var inner string
			if err := json.Unmarshal([]byte(req.Data["msg"]), &inner); err != nil || inner != cmd("ok", 0, "good-1") {
				t.Errorf("Data.msg is not the double-encoded body: %q", req.Data["msg"])
			}
		}
	}
	if fmt.Sprint(deliveries) != "[1 2 3]" {
		t.Errorf("poison DeliveryCount per attempt %v, want [1 2 3]", deliveries)
	}
}

// The handler crashes (exit 3) in one invocation: the host restarts it
// (HttpFunctionInvocationDispatcher.WorkerError), the message in flight is
// abandoned and redelivered to the new process, the bystander too if it was
// in flight, and nothing is lost.
func TestServiceBusOnEmulatorHandlerCrashRedelivered(t *testing.T) {
	em := startEmulator(t)
	a := emulatorApp(t, em.ConnectionString(), 2, "sturdy")
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	firstPID := funchost.HandlerPIDs(h)[0]
	c := sbClient(t, em.ConnectionString())
	sendTo(t, c, "sturdy", commandMessage("crashy", "crashonce", 0), commandMessage("bystander", "ok", 0))

	waitFor(t, 60*time.Second, "crashy processed after the crash", func() bool {
		for _, inv := range readRecord(t, a.Record) {
			if inv.Key == "crashy" && inv.Outcome == "ok" {
				return true
			}
		}
		return false
	})
	if left := drain(t, c, "sturdy", "", nil); len(left) != 0 {
		t.Errorf("%d messages left in the subscription", len(left))
	}
	okCount := map[string]int{}
	crashes := 0
	for _, inv := range readRecord(t, a.Record) {
		if inv.Outcome == "ok" {
			okCount[inv.Key]++
			if inv.Key == "crashy" && inv.PID == firstPID {
				t.Error("crashy succeeded in the process that crashed")
			}
		}
		if inv.Outcome == "crashed" {
			crashes++
		}
	}
	if crashes != 1 || okCount["crashy"] != 1 || okCount["bystander"] < 1 {
		t.Errorf("crashes %d, successes %v; want one crash, crashy processed once, bystander processed", crashes, okCount)
	}
}

func TestServiceBusOnEmulatorLockRenewal(t *testing.T) {
	em := startEmulator(t)
	a := emulatorApp(t, em.ConnectionString(), 1, "slow")
	startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	c := sbClient(t, em.ConnectionString())
	// The invocation lasts 8 s; the queue's lock is 5 s.
	sendTo(t, c, "slow", commandMessage("long", "sleep", 8000))
	waitFor(t, 40*time.Second, "the long invocation", func() bool { return len(readRecord(t, a.Record)) >= 1 })
	time.Sleep(6 * time.Second) // longer than the lock once more: a lost lock would redeliver by now
	recs := readRecord(t, a.Record)
	if len(recs) != 1 {
		t.Fatalf("%d invocations; the lock was lost and the message redelivered", len(recs))
	}
	r, err := c.NewReceiverForQueue("slow", nil)
	must(t, err)
	defer r.Close(context.Background())
	peeked, err := r.PeekMessages(context.Background(), 10, nil)
	must(t, err)
	if len(peeked) != 0 {
		t.Fatalf("%d messages still in the queue; the long invocation's message must be completed", len(peeked))
	}
}

func TestServiceBusOutputBindingOnEmulator(t *testing.T) {
	em := startEmulator(t)
	a := newTestApp(t, fmt.Sprintf(sbHostJSON, 2), map[string]string{
		"Emit": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","topicName":"usage","subscriptionName":"billing","connection":"ServiceBusConnection"},
		  {"type":"serviceBus","direction":"out","name":"out","queueName":"%OutQueue%","connection":"ServiceBusConnection"},
		  {"type":"serviceBus","direction":"out","name":"outMany","queueName":"out","connection":"ServiceBusConnection"}]}`,
	}, map[string]string{"ServiceBusConnection": em.ConnectionString(), "OutQueue": "out"})
	startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	c := sbClient(t, em.ConnectionString())
	sendTo(t, c, "usage", commandMessage("e-1", "emit", 0))

	r, err := c.NewReceiverForQueue("out", nil)
	must(t, err)
	defer r.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := map[string]string{}
	for len(got) < 3 {
		msgs, err := r.ReceiveMessages(ctx, 3, nil)
		must(t, err)
		for _, m := range msgs {
			ct := ""
			if m.ContentType != nil {
				ct = *m.ContentType
			}
			got[string(m.Body)] = ct
			must(t, r.CompleteMessage(ctx, m, nil))
		}
	}
	want := map[string]string{
		"emitted e-1":         "text/plain",
		`{"key":"e-1","n":1}`: "application/json",
		`{"key":"e-1","n":2}`: "application/json",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("output messages %v, want %v", got, want)
	}
}

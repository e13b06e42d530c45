package funchost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"meterline/infra/funchost"
)

// fakeReceiver is an in-memory peek-lock entity with redelivery and a
// dead-letter list, standing in for azservicebus in unit tests.
type fakeReceiver struct {
	mu              sync.Mutex
	queue           chan *azservicebus.ReceivedMessage
	lock            time.Duration
	maxDelivery     uint32
	completed       []string
	abandoned       []string
	deadLettered    []string
	renewals        map[string]int
	inFlight, peak  int
	lockExpiredSeen bool
}

func newFakeReceiver(lock time.Duration) *fakeReceiver {
	return &fakeReceiver{queue: make(chan *azservicebus.ReceivedMessage, 1000), lock: lock, maxDelivery: 10, renewals: map[string]int{}}
}

func (f *fakeReceiver) send(id string, body string) {
	now := time.Now().UTC()
	seq := int64(len(f.queue) + 1)
	f.queue <- &azservicebus.ReceivedMessage{MessageID: id, Body: []byte(body), DeliveryCount: 1, SequenceNumber: &seq, EnqueuedTime: &now}
}

func (f *fakeReceiver) ReceiveMessages(ctx context.Context, n int, _ *azservicebus.ReceiveMessagesOptions) ([]*azservicebus.ReceivedMessage, error) {
	select {
	case m := <-f.queue:
		until := time.Now().Add(f.lock)
		m.LockedUntil = &until
		f.mu.Lock()
		f.inFlight++
		f.peak = max(f.peak, f.inFlight)
		f.mu.Unlock()
		return []*azservicebus.ReceivedMessage{m}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeReceiver) settle(m *azservicebus.ReceivedMessage) {
	f.inFlight--
	if time.Now().After(*m.LockedUntil) {
		f.lockExpiredSeen = true
	}
}

func (f *fakeReceiver) CompleteMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.CompleteMessageOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle(m)
	f.completed = append(f.completed, m.MessageID)
	return nil
}

func (f *fakeReceiver) AbandonMessage(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.AbandonMessageOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settle(m)
	f.abandoned = append(f.abandoned, m.MessageID)
	if m.DeliveryCount >= f.maxDelivery {
		f.deadLettered = append(f.deadLettered, m.MessageID)
		return nil
	}
	again := *m
	again.DeliveryCount++
	f.queue <- &again
	return nil
}

func (f *fakeReceiver) RenewMessageLock(_ context.Context, m *azservicebus.ReceivedMessage, _ *azservicebus.RenewMessageLockOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	until := time.Now().Add(f.lock)
	m.LockedUntil = &until
	f.renewals[m.MessageID]++
	return nil
}

func (f *fakeReceiver) Close(context.Context) error { return nil }

func (f *fakeReceiver) snapshot() (completed, abandoned, dead []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.completed...), append([]string(nil), f.abandoned...), append([]string(nil), f.deadLettered...)
}

const sbHostJSON = `{"version":"2.0","functionTimeout":"00:00:20",` + extensionBundle + `,
  "extensions":{"serviceBus":{"maxConcurrentCalls":%d,"maxAutoLockRenewalDuration":"00:05:00"}},
  "customHandler":{"description":{"defaultExecutablePath":"handler"}}}`

func sbApp(t *testing.T, maxConcurrent int, dataType string) *testApp {
	dt := ""
	if dataType != "" {
		dt = `,"dataType":"` + dataType + `"`
	}
	return newTestApp(t, fmt.Sprintf(sbHostJSON, maxConcurrent), map[string]string{
		"ProcessUsage": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","topicName":"usage","subscriptionName":"billing","connection":"ServiceBusConnection"` + dt + `}]}`,
	}, map[string]string{"ServiceBusConnection": "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=unused;UseDevelopmentEmulator=true;"})
}

func withFake(f *fakeReceiver) func(*funchost.Host) {
	return func(h *funchost.Host) {
		funchost.SetReceiverOpener(h, func(context.Context, *funchost.Function) (funchost.MessageReceiver, string, func(), error) {
			return f, "127.0.0.1", func() {}, nil
		})
	}
}

func cmd(action string, ms int, key string) string {
	b, _ := json.Marshal(map[string]any{"action": action, "ms": ms, "key": key})
	return string(b)
}

func TestServiceBusSettlementWithFakeBroker(t *testing.T) {
	a := sbApp(t, 4, "")
	f := newFakeReceiver(time.Minute)
	f.maxDelivery = 3
	f.send("good-1", cmd("ok", 0, ""))
	f.send("poison", cmd("fail", 0, ""))
	f.send("good-2", cmd("ok", 0, ""))
	startHost(t, []*funchost.App{loadApp(t, a)}, withFake(f))

	waitFor(t, 30*time.Second, "every message settled for good", func() bool {
		c, _, d := f.snapshot()
		return len(c) == 2 && len(d) == 1
	})
	completed, abandoned, dead := f.snapshot()
	if fmt.Sprint(dead) != "[poison]" || fmt.Sprint(abandoned) != "[poison poison poison]" {
		t.Errorf("dead-lettered %v after abandons %v; want poison, abandoned 3 times", dead, abandoned)
	}
	if len(completed) != 2 || completed[0] == completed[1] {
		t.Errorf("completed %v, want good-1 and good-2 once each", completed)
	}
}

func TestServiceBusHandlerCrashRedelivers(t *testing.T) {
	a := sbApp(t, 1, "")
	f := newFakeReceiver(time.Minute)
	// Only what is in flight when the process dies fails; deliveries during
	// the restart wait for the new process (WorkerFunctionInvoker.
	// DelayUntilFunctionDispatcherInitializedOrShutdown), so the default
	// delivery limit is never reached.
	f.send("crashy", cmd("crashonce", 0, "crashy"))
	f.send("after", cmd("ok", 0, "after"))
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, withFake(f))
	firstPID := funchost.HandlerPIDs(h)[0]
	waitFor(t, 30*time.Second, "both completed", func() bool { c, _, _ := f.snapshot(); return len(c) == 2 })
	_, abandoned, _ := f.snapshot()
	crashyAbandons := 0
	for _, id := range abandoned {
		if id == "crashy" {
			crashyAbandons++
		}
	}
	// "after" may also be abandoned if it reached the dying process or the
	// restart; both must still complete once the handler is back.
	if crashyAbandons != 1 {
		t.Errorf("abandoned %v, want crashy exactly once", abandoned)
	}
	var crashed, ok []invocation
	for _, inv := range readRecord(t, a.Record) {
		switch {
		case inv.Key == "crashy" && inv.Outcome == "crashed":
			crashed = append(crashed, inv)
		case inv.Key == "crashy" && inv.Outcome == "ok":
			ok = append(ok, inv)
		}
	}
	if len(crashed) != 1 || len(ok) != 1 {
		t.Fatalf("crashy: %d crashes, %d successes; want 1 and 1", len(crashed), len(ok))
	}
	if crashed[0].PID != firstPID || ok[0].PID == firstPID {
		t.Errorf("redelivery must reach a restarted handler: crash in %d, success in %d", crashed[0].PID, ok[0].PID)
	}
	var req struct{ Metadata map[string]any }
	must(t, json.Unmarshal(ok[0].Request, &req))
	if n, _ := strconv.Atoi(fmt.Sprint(req.Metadata["DeliveryCount"])); n != crashyAbandons+1 {
		t.Errorf("redelivered DeliveryCount %v, want %d (one more than the abandons)", req.Metadata["DeliveryCount"], crashyAbandons+1)
	}
}

func TestServiceBusMaxConcurrentCalls(t *testing.T) {
	a := sbApp(t, 3, "")
	f := newFakeReceiver(time.Minute)
	for i := range 9 {
		f.send(fmt.Sprint("m", i), cmd("sleep", 300, ""))
	}
	startHost(t, []*funchost.App{loadApp(t, a)}, withFake(f))
	waitFor(t, 30*time.Second, "9 completions", func() bool { c, _, _ := f.snapshot(); return len(c) == 9 })
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.peak != 3 {
		t.Fatalf("peak in-flight messages %d, want maxConcurrentCalls = 3", f.peak)
	}
}

func TestServiceBusLockRenewedDuringLongInvocation(t *testing.T) {
	a := sbApp(t, 1, "")
	f := newFakeReceiver(300 * time.Millisecond)
	f.send("slow", cmd("sleep", 1500, ""))
	startHost(t, []*funchost.App{loadApp(t, a)}, withFake(f))
	waitFor(t, 30*time.Second, "completion", func() bool { c, _, _ := f.snapshot(); return len(c) == 1 })
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renewals["slow"] < 3 || f.lockExpiredSeen {
		t.Fatalf("renewals %d, lock expired before settlement %v", f.renewals["slow"], f.lockExpiredSeen)
	}
}

// TestServiceBusPayloadGolden checks the request body against a hand-written
// copy of what the real host sends for the same message.
func TestServiceBusPayloadGolden(t *testing.T) {
	for _, c := range []struct{ dataType, golden string }{
		{"", "servicebus_string.golden.json"},
		{"binary", "servicebus_binary.golden.json"},
	} {
		t.Run(c.golden, func(t *testing.T) {
			a := sbApp(t, 1, c.dataType)
			f := newFakeReceiver(time.Minute)
			enq := time.Date(2026, 11, 22, 17, 30, 5, 123456789, time.UTC)
			exp := enq.Add(time.Hour)
			seq := int64(42)
			ct, corr, subj, to, replyTo := "application/json", "corr-7", "UsageRecorded", "billing", "replies"
			f.queue <- &azservicebus.ReceivedMessage{
				MessageID: "evt-123", DeliveryCount: 2, SequenceNumber: &seq, EnqueuedTime: &enq, ExpiresAt: &exp,
				LockToken:   [16]byte{0x4e, 0x77, 0x1c, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc},
				ContentType: &ct, CorrelationID: &corr, Subject: &subj, To: &to, ReplyTo: &replyTo,
				ApplicationProperties: map[string]any{"type": "UsageRecorded", "version": int64(2)},
				Body:                  []byte(`{"action":"ok","customerId":"c-1","MessageId":"body-wins","quantity":5,"billable":true,"period":{"month":11},"tags":["a"],"note":null}`),
			}
			startHost(t, []*funchost.App{loadApp(t, a)}, withFake(f))
			waitFor(t, 20*time.Second, "completion", func() bool { c, _, _ := f.snapshot(); return len(c) == 1 })
			recs := readRecord(t, a.Record)
			if len(recs) != 1 {
				t.Fatalf("records %+v", recs)
			}
			inv := recs[0]
			if inv.UserAgent == "" || inv.HostVersion == "" || inv.InvocationID == "" {
				t.Errorf("invocation headers missing: %+v", inv)
			}
			var got map[string]any
			must(t, json.Unmarshal(inv.Request, &got))
			// Values that change on every run.
			meta := got["Metadata"].(map[string]any)
			sys := meta["sys"].(map[string]any)
			if _, err := time.Parse(time.RFC3339Nano, sys["UtcNow"].(string)); err != nil {
				t.Errorf("sys.UtcNow: %v", err)
			}
			if len(sys["RandGuid"].(string)) != 36 {
				t.Errorf("sys.RandGuid %v", sys["RandGuid"])
			}
			sys["UtcNow"], sys["RandGuid"] = "<now>", "<guid>"
			meta["Client"].(map[string]any)["Identifier"] = "<id>"

			wantRaw, err := os.ReadFile(filepath.Join("testdata", c.golden))
			must(t, err)
			var want map[string]any
			must(t, json.Unmarshal(wantRaw, &want))
			gotJSON, _ := json.MarshalIndent(got, "", "  ")
			wantJSON, _ := json.MarshalIndent(want, "", "  ")
			if string(gotJSON) != string(wantJSON) {
				t.Fatalf("payload differs from %s\n got: %s\nwant: %s", c.golden, gotJSON, wantJSON)
			}
		})
	}
}

package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	goamqp "github.com/Azure/go-amqp"
)

// Conformance tests: the real azservicebus SDK against the emulator over loopback.

func queueNS(name string, p entityProps) *namespace {
	ns := newNamespace()
	if p.LockDuration == 0 {
		p.LockDuration = 30 * time.Second
	}
	if p.MaxDeliveryCount == 0 {
		p.MaxDeliveryCount = 10
	}
	ns.addQueue(newQueue(name, p, true, defaultLimits, func(string, ...any) {}))
	return ns
}

func mustSender(t testing.TB, c *azservicebus.Client, name string) *azservicebus.Sender {
	t.Helper()
	s, err := c.NewSender(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func mustReceiver(t testing.TB, c *azservicebus.Client, queue string, opt *azservicebus.ReceiverOptions) *azservicebus.Receiver {
	t.Helper()
	r, err := c.NewReceiverForQueue(queue, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func send(t testing.TB, ctx context.Context, s *azservicebus.Sender, msgs ...*azservicebus.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := s.SendMessage(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func textMsg(body string) *azservicebus.Message { return &azservicebus.Message{Body: []byte(body)} }

// receiveN receives until n messages arrived.
func receiveN(t testing.TB, ctx context.Context, r *azservicebus.Receiver, n int) []*azservicebus.ReceivedMessage {
	t.Helper()
	var out []*azservicebus.ReceivedMessage
	for len(out) < n {
		got, err := r.ReceiveMessages(ctx, n-len(out), nil)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, got...)
	}
	return out
}

// receiveNone checks that nothing arrives within d.
func receiveNone(t testing.TB, r *azservicebus.Receiver, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	got, err := r.ReceiveMessages(ctx, 10, nil)
	if len(got) > 0 {
		t.Fatalf("unexpected messages: %d, first %q", len(got), got[0].Body)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}

func bodies(ms []*azservicebus.ReceivedMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Body)
	}
	slices.Sort(out)
	return out
}

func TestSDKBatchAndSequenceNumbers(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 20*time.Second)
	s := mustSender(t, env.client, "q")
	batch, err := s.NewMessageBatch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := batch.AddMessage(textMsg(fmt.Sprintf("m%02d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
		t.Fatal(err)
	}
	send(t, ctx, s, textMsg("m50"))
	r := mustReceiver(t, env.client, "q", nil)
	got := receiveN(t, ctx, r, 51)
	for i, m := range got {
		if want := fmt.Sprintf("m%02d", i); string(m.Body) != want || *m.SequenceNumber != int64(i+1) {
			t.Fatalf("message %d: body %q seq %d", i, m.Body, *m.SequenceNumber)
		}
		if err := r.CompleteMessage(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	receiveNone(t, r, 200*time.Millisecond)
}

func TestSDKLargeMessageMultiFrame(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 20*time.Second)
	big := make([]byte, 300<<10) // several frames each way
	for i := range big {
		big[i] = byte(i * 7)
	}
	send(t, ctx, mustSender(t, env.client, "q"), &azservicebus.Message{Body: big})
	r := mustReceiver(t, env.client, "q", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	got := receiveN(t, ctx, r, 1)
	if string(got[0].Body) != string(big) {
		t.Fatalf("body of %d bytes came back as %d bytes", len(big), len(got[0].Body))
	}
}

func TestSDKAbandonDeadLetterDefer(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 20*time.Second)
	send(t, ctx, mustSender(t, env.client, "q"), textMsg("abandon"), textMsg("dead"), textMsg("defer"))
	r := mustReceiver(t, env.client, "q", nil)
	got := receiveN(t, ctx, r, 3)
	var deferredSeq int64
	for _, m := range got {
		switch string(m.Body) {
		case "abandon":
			if err := r.AbandonMessage(ctx, m, &azservicebus.AbandonMessageOptions{PropertiesToModify: map[string]any{"tries": int64(1)}}); err != nil {
				t.Fatal(err)
			}
		case "dead":
			reason, desc := "Poison", "cannot parse"
			if err := r.DeadLetterMessage(ctx, m, &azservicebus.DeadLetterOptions{Reason: &reason, ErrorDescription: &desc}); err != nil {
				t.Fatal(err)
			}
		case "defer":
			deferredSeq = *m.SequenceNumber
			if err := r.DeferMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	again := receiveN(t, ctx, r, 1)
	if string(again[0].Body) != "abandon" || again[0].DeliveryCount != 2 || again[0].ApplicationProperties["tries"] != int64(1) {
		t.Fatalf("abandoned message came back as %q count %d props %v", again[0].Body, again[0].DeliveryCount, again[0].ApplicationProperties)
	}
	if err := r.CompleteMessage(ctx, again[0], nil); err != nil {
		t.Fatal(err)
	}
	receiveNone(t, r, 200*time.Millisecond) // the deferred message is not delivered again

	deferred, err := r.ReceiveDeferredMessages(ctx, []int64{deferredSeq}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(deferred) != 1 || string(deferred[0].Body) != "defer" || deferred[0].State != azservicebus.MessageStateDeferred {
		t.Fatalf("deferred: %+v", deferred)
	}
	if err := r.CompleteMessage(ctx, deferred[0], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReceiveDeferredMessages(ctx, []int64{deferredSeq}, nil); err == nil {
		t.Fatal("a completed deferred message was received again")
	}

	dlq := mustReceiver(t, env.client, "q", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	dead := receiveN(t, ctx, dlq, 1)
	if string(dead[0].Body) != "dead" || *dead[0].DeadLetterReason != "Poison" || *dead[0].DeadLetterErrorDescription != "cannot parse" || *dead[0].DeadLetterSource != "q" {
		t.Fatalf("dead-lettered: %q reason %v desc %v source %v", dead[0].Body, dead[0].DeadLetterReason, dead[0].DeadLetterErrorDescription, dead[0].DeadLetterSource)
	}
	if err := dlq.CompleteMessage(ctx, dead[0], nil); err != nil {
		t.Fatal(err)
	}
}

func TestSDKMaxDeliveryCountDeadLetters(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{MaxDeliveryCount: 3}))
	ctx := ctxT(t, 20*time.Second)
	send(t, ctx, mustSender(t, env.client, "q"), textMsg("poison"))
	r := mustReceiver(t, env.client, "q", nil)
	for i := 1; i <= 3; i++ {
		m := receiveN(t, ctx, r, 1)[0]
		if int(m.DeliveryCount) != i {
			t.Fatalf("attempt %d: DeliveryCount %d", i, m.DeliveryCount)
		}
		if err := r.AbandonMessage(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	receiveNone(t, r, 200*time.Millisecond)
	dlq := mustReceiver(t, env.client, "q", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	dead := receiveN(t, ctx, dlq, 1)[0]
	if *dead.DeadLetterReason != "MaxDeliveryCountExceeded" {
		t.Fatalf("reason %q", *dead.DeadLetterReason)
	}
}

func TestSDKLockExpiryRedeliversAndRenewLock(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{LockDuration: 1500 * time.Millisecond}))
	ctx := ctxT(t, 20*time.Second)
	send(t, ctx, mustSender(t, env.client, "q"), textMsg("a"), textMsg("b"))
	r := mustReceiver(t, env.client, "q", nil)
	got := receiveN(t, ctx, r, 2)
	a, b := got[0], got[1]
	// Keep b's lock alive past the lock duration; let a's expire.
	for range 7 {
		time.Sleep(300 * time.Millisecond)
		if err := r.RenewMessageLock(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	again := receiveN(t, ctx, r, 1)[0]
	if string(again.Body) != "a" || again.DeliveryCount != 2 {
		t.Fatalf("redelivered %q count %d", again.Body, again.DeliveryCount)
	}
	err := r.CompleteMessage(ctx, a, nil)
	var sbErr *azservicebus.Error
	if !errors.As(err, &sbErr) || sbErr.Code != azservicebus.CodeLockLost {
		t.Fatalf("completing with an expired lock: %v", err)
	}
	if err := r.CompleteMessage(ctx, b, nil); err != nil {
		t.Fatalf("completing a renewed message: %v", err)
	}
	if err := r.CompleteMessage(ctx, again, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSDKReceiveAndDeleteAndPeek(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 20*time.Second)
	send(t, ctx, mustSender(t, env.client, "q"), textMsg("1"), textMsg("2"), textMsg("3"))
	peeker := mustReceiver(t, env.client, "q", nil)
	peeked, err := peeker.PeekMessages(ctx, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	more, err := peeker.PeekMessages(ctx, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := bodies(append(peeked, more...)); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("peeked %v", got)
	}
	r := mustReceiver(t, env.client, "q", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if got := bodies(receiveN(t, ctx, r, 3)); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("received %v", got)
	}
	from := int64(0)
	left, err := peeker.PeekMessages(ctx, 5, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &from})
	if err != nil || len(left) != 0 {
		t.Fatalf("after receive-and-delete: %d messages, %v", len(left), err)
	}
}

func TestSDKTimeToLive(t *testing.T) {
	ns := newNamespace()
	ns.addQueue(newQueue("dl", entityProps{LockDuration: time.Minute, MaxDeliveryCount: 10, DeadLetterOnExpiration: true}, true, defaultLimits, func(string, ...any) {}))
	ns.addQueue(newQueue("drop", entityProps{LockDuration: time.Minute, MaxDeliveryCount: 10, DefaultTTL: 200 * time.Millisecond}, true, defaultLimits, func(string, ...any) {}))
	env := startNS(t, ns)
	ctx := ctxT(t, 20*time.Second)
	ttl := 200 * time.Millisecond
	send(t, ctx, mustSender(t, env.client, "dl"), &azservicebus.Message{Body: []byte("short"), TimeToLive: &ttl}, textMsg("long"))
	send(t, ctx, mustSender(t, env.client, "drop"), textMsg("default ttl"))
	time.Sleep(400 * time.Millisecond)
	r := mustReceiver(t, env.client, "dl", nil)
	if got := receiveN(t, ctx, r, 1); string(got[0].Body) != "long" {
		t.Fatalf("got %q", got[0].Body)
	}
	dead := receiveN(t, ctx, mustReceiver(t, env.client, "dl", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter}), 1)
	if string(dead[0].Body) != "short" || *dead[0].DeadLetterReason != "TTLExpiredException" {
		t.Fatalf("dead-lettered %q %v", dead[0].Body, dead[0].DeadLetterReason)
	}
	receiveNone(t, mustReceiver(t, env.client, "drop", nil), 200*time.Millisecond)
	receiveNone(t, mustReceiver(t, env.client, "drop", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter}), 200*time.Millisecond)
}

func TestSDKScheduleAndCancel(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 20*time.Second)
	s := mustSender(t, env.client, "q")
	at := time.Now().Add(2 * time.Second)
	seqs, err := s.ScheduleMessages(ctx, []*azservicebus.Message{textMsg("kept"), textMsg("cancelled")}, at, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 {
		t.Fatalf("sequence numbers %v", seqs)
	}
	peeker := mustReceiver(t, env.client, "q", nil)
	peeked, err := peeker.PeekMessages(ctx, 10, nil)
	if err != nil || len(peeked) != 2 || peeked[0].State != azservicebus.MessageStateScheduled || peeked[0].ScheduledEnqueueTime == nil {
		t.Fatalf("peeking scheduled messages: %d %v", len(peeked), err)
	}
	if err := s.CancelScheduledMessages(ctx, seqs[1:], nil); err != nil {
		t.Fatal(err)
	}
	later := at
	send(t, ctx, s, &azservicebus.Message{Body: []byte("via send"), ScheduledEnqueueTime: &later})
	r := mustReceiver(t, env.client, "q", nil)
	receiveNone(t, r, 200*time.Millisecond)
	got := receiveN(t, ctx, r, 2)
	if b := bodies(got); !slices.Equal(b, []string{"kept", "via send"}) {
		t.Fatalf("got %v", b)
	}
	if time.Now().Before(at) {
		t.Fatal("scheduled message arrived early")
	}
	receiveNone(t, r, 300*time.Millisecond)
}

func TestSDKDuplicateDetection(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{RequiresDuplicateDetection: true, DuplicateWindow: time.Second}))
	ctx := ctxT(t, 20*time.Second)
	s := mustSender(t, env.client, "q")
	id := "order-1"
	send(t, ctx, s, &azservicebus.Message{MessageID: &id, Body: []byte("first")}, &azservicebus.Message{MessageID: &id, Body: []byte("dup")})
	time.Sleep(1100 * time.Millisecond)
	send(t, ctx, s, &azservicebus.Message{MessageID: &id, Body: []byte("after window")})
	r := mustReceiver(t, env.client, "q", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if got := bodies(receiveN(t, ctx, r, 2)); !slices.Equal(got, []string{"after window", "first"}) {
		t.Fatalf("got %v", got)
	}
	receiveNone(t, r, 200*time.Millisecond)
}

func TestSDKUnknownEntity(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 20*time.Second)
	s, err := env.client.NewSender("nope", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.SendMessage(ctx, textMsg("x"), nil)
	// As on Service Bus: the attach is refused with amqp:not-found.
	var amqpErr *goamqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Condition != goamqp.ErrCondNotFound {
		t.Fatalf("send to unknown entity: %v", err)
	}
	// the same client keeps working
	send(t, ctx, mustSender(t, env.client, "q"), textMsg("ok"))
}

// killableProxy forwards loopback connections and can cut them all, as if the client process died.
type killableProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *killableProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &killableProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.kill() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *killableProxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func TestSDKKilledClientMessagesRedeliveredAfterLock(t *testing.T) {
	lock := 800 * time.Millisecond
	env := startNS(t, queueNS("q", entityProps{LockDuration: lock}))
	ctx := ctxT(t, 30*time.Second)
	const n = 20
	for i := range n {
		send(t, ctx, mustSender(t, env.client, "q"), textMsg(fmt.Sprintf("m%02d", i)))
	}

	proxy := newProxy(t, env.srv.Addr())
	doomed, err := azservicebus.NewClientFromConnectionString(
		"Endpoint=sb://"+proxy.ln.Addr().String()+";SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;", nil)
	if err != nil {
		t.Fatal(err)
	}
	dr, err := doomed.NewReceiverForQueue("q", nil)
	if err != nil {
		t.Fatal(err)
	}
	lockedAfter := time.Now()
	held := receiveN(t, ctx, dr, 5) // locked, never settled
	proxy.kill()

	r := mustReceiver(t, env.client, "q", nil)
	seen := map[string]int{}
	seenAt := map[string]time.Time{}
	for len(seen) < n {
		for _, m := range receiveN(t, ctx, r, 1) {
			seen[string(m.Body)]++
			seenAt[string(m.Body)] = time.Now()
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range held {
		if seen[string(m.Body)] != 1 {
			t.Fatalf("%q seen %d times", m.Body, seen[string(m.Body)])
		}
		// Its lock was taken after lockedAfter, so it cannot be free before lockedAfter+lock.
		if seenAt[string(m.Body)].Before(lockedAfter.Add(lock)) {
			t.Fatalf("%q came back before its lock expired", m.Body)
		}
	}
	receiveNone(t, r, 200*time.Millisecond)
}

func TestSDKManyLinksOnOneConnection(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 30*time.Second)
	const n = 60 // each link brings its own session and $management session
	for i := range n {
		send(t, ctx, mustSender(t, env.client, "q"), textMsg(fmt.Sprint(i)))
		if _, err := mustReceiver(t, env.client, "q", nil).PeekMessages(ctx, 1, nil); err != nil { // attaches its links
			t.Fatal(err)
		}
	}
	r := mustReceiver(t, env.client, "q", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if got := receiveN(t, ctx, r, n); len(got) != n {
		t.Fatalf("got %d", len(got))
	}
}

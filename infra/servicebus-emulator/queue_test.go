package emulator

import (
	"fmt"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"meterline/infra/servicebus-emulator/filter"
)

func testBody(t *testing.T, id string, props map[string]any) *body {
	t.Helper()
	b, err := newBody(&goamqp.Message{Properties: &goamqp.MessageProperties{MessageID: id}, ApplicationProperties: props, Data: [][]byte{[]byte(id)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testQueue(p entityProps) *queue {
	if p.LockDuration == 0 {
		p.LockDuration = time.Minute
	}
	return newQueue("q", p, true, defaultLimits, func(string, ...any) {})
}

type sink struct{ got []snapshot }

func (s *sink) consumer(rad bool) *consumer {
	return &consumer{receiveAndDelete: rad, deliver: func(x snapshot) { s.got = append(s.got, x) }}
}

func TestQueueLockCompleteAbandonAndMaxDelivery(t *testing.T) {
	now := time.Unix(1000, 0)
	q := testQueue(entityProps{MaxDeliveryCount: 2})
	if err := q.send(testBody(t, "a", nil), now, 0); err != nil {
		t.Fatal(err)
	}
	var s sink
	c := s.consumer(false)
	q.attach(c)
	q.flow(c, nil, 10, false, now)
	if len(s.got) != 1 || s.got[0].seq != 1 || s.got[0].deliveryCount != 1 {
		t.Fatalf("first delivery: %+v", s.got)
	}
	if err := q.settle(s.got[0].lockToken, outcomeAbandon, nil, "", "", now); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 2 || s.got[1].deliveryCount != 2 {
		t.Fatalf("redelivery: %+v", s.got)
	}
	// the old lock token is dead
	if err := q.settle(s.got[0].lockToken, outcomeComplete, nil, "", "", now); err == nil {
		t.Fatal("settling with a stale lock token succeeded")
	}
	if err := q.settle(s.got[1].lockToken, outcomeAbandon, nil, "", "", now); err != nil {
		t.Fatal(err)
	}
	if q.count() != 0 || q.dlq.count() != 1 {
		t.Fatalf("after max deliveries: active %d, dead-lettered %d", q.count(), q.dlq.count())
	}
	dl := q.dlq.peek(0, 10)
	if got := dl[0].body.msg.ApplicationProperties["DeadLetterReason"]; got != "MaxDeliveryCountExceeded" {
		t.Fatalf("DeadLetterReason = %v", got)
	}
}

func TestQueueLockExpiryRedelivers(t *testing.T) {
	now := time.Unix(1000, 0)
	q := testQueue(entityProps{LockDuration: 5 * time.Second, MaxDeliveryCount: 10})
	_ = q.send(testBody(t, "a", nil), now, 0)
	var s sink
	c := s.consumer(false)
	q.attach(c)
	q.flow(c, nil, 1, false, now)
	q.tick(now.Add(4 * time.Second))
	if len(s.got) != 1 {
		t.Fatalf("redelivered before the lock expired: %d", len(s.got))
	}
	q.flow(c, nil, 1, false, now)
	q.tick(now.Add(5 * time.Second))
	if len(s.got) != 2 || s.got[1].deliveryCount != 2 {
		t.Fatalf("after expiry: %+v", s.got)
	}
	if _, err := q.renew(s.got[0].lockToken, now.Add(5*time.Second)); err == nil {
		t.Fatal("renewed an expired lock")
	}
	until, err := q.renew(s.got[1].lockToken, now.Add(6*time.Second))
	if err != nil || !until.Equal(now.Add(11*time.Second)) {
		t.Fatalf("renew: %v %v", until, err)
	}
}

func TestQueueReleaseDoesNotCount(t *testing.T) {
	now := time.Unix(1000, 0)
	q := testQueue(entityProps{MaxDeliveryCount: 1})
	_ = q.send(testBody(t, "a", nil), now, 0)
	var s sink
	c := s.consumer(false)
	q.attach(c)
	q.flow(c, nil, 5, false, now)
	for i := 0; i < 3; i++ {
		if err := q.settle(s.got[len(s.got)-1].lockToken, outcomeRelease, nil, "", "", now); err != nil {
			t.Fatal(err)
		}
	}
	if last := s.got[len(s.got)-1]; last.deliveryCount != 1 || q.dlq.count() != 0 {
		t.Fatalf("released deliveries counted: %+v dlq %d", last, q.dlq.count())
	}
}

func TestQueueTTLDeadLetters(t *testing.T) {
	now := time.Unix(1000, 0)
	q := testQueue(entityProps{DefaultTTL: time.Second, DeadLetterOnExpiration: true})
	_ = q.send(testBody(t, "a", nil), now, 0)
	q.tick(now.Add(2 * time.Second))
	if q.count() != 0 || q.dlq.count() != 1 {
		t.Fatalf("active %d dead %d", q.count(), q.dlq.count())
	}
}

func TestQueueDedupScheduleDefer(t *testing.T) {
	now := time.Unix(1000, 0)
	q := testQueue(entityProps{RequiresDuplicateDetection: true, DuplicateWindow: time.Minute})
	_ = q.send(testBody(t, "a", nil), now, 0)
	_ = q.send(testBody(t, "a", nil), now.Add(time.Second), 0)
	if q.count() != 1 {
		t.Fatalf("duplicate kept: %d", q.count())
	}
	_ = q.send(testBody(t, "a", nil), now.Add(2*time.Minute), 0)
	if q.count() != 2 {
		t.Fatalf("id outside the window dropped: %d", q.count())
	}
	seqs, _ := q.schedule([]*body{testBody(t, "s1", nil), testBody(t, "s2", nil)}, now.Add(time.Hour), now)
	q.cancelScheduled(seqs[:1])
	q.tick(now.Add(2 * time.Hour))
	if q.count() != 3 {
		t.Fatalf("scheduled: %d", q.count())
	}
	var s sink
	c := s.consumer(false)
	q.attach(c)
	q.flow(c, nil, 1, false, now)
	_ = q.settle(s.got[0].lockToken, outcomeDefer, nil, "", "", now)
	q.flow(c, nil, 10, false, now)
	for _, x := range s.got[1:] {
		if x.seq == s.got[0].seq {
			t.Fatal("deferred message delivered again")
		}
	}
	got, err := q.receiveDeferred([]int64{s.got[0].seq}, true, now)
	if err != nil || len(got) != 1 || got[0].state != 1 {
		t.Fatalf("receive deferred: %+v %v", got, err)
	}
}

func TestTopicFanOutWithRules(t *testing.T) {
	now := time.Unix(1000, 0)
	mk := func(name string, sql string) *subscription {
		f, err := filter.ParseSQL(sql)
		if err != nil {
			t.Fatal(err)
		}
		return &subscription{name: name, q: newQueue("t/Subscriptions/"+name, entityProps{LockDuration: time.Minute}, true, defaultLimits, func(string, ...any) {}),
			rules: []rule{{name: "r", filter: f}}}
	}
	tp := &topic{name: "t", log: func(string, ...any) {}, subs: []*subscription{mk("all", "1=1"), mk("x", "type = 'X'"), mk("y", "type IN ('Y', 'Z')")}}
	_ = tp.send(testBody(t, "1", map[string]any{"type": "X"}), now, 0)
	_ = tp.send(testBody(t, "2", map[string]any{"type": "Y"}), now, 0)
	if a, x, y := tp.subs[0].q.count(), tp.subs[1].q.count(), tp.subs[2].q.count(); a != 2 || x != 1 || y != 1 {
		t.Fatalf("fan-out: all %d x %d y %d", a, x, y)
	}
	if p := tp.subs[2].q.peek(0, 10); p[0].seq != 2 {
		t.Fatalf("topic sequence number not kept: %d", p[0].seq)
	}
}

func TestLockTokenDeliveryTagIsDotNetOrder(t *testing.T) {
	tok := lockToken{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	want := []byte{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	if got := tok.deliveryTag(); string(got) != string(want) {
		t.Fatalf("tag %v", got)
	}
}

func TestSettledMessagesLeaveNoTimers(t *testing.T) {
	now := time.Unix(1000, 0)
	q := testQueue(entityProps{DefaultTTL: time.Hour})
	var s sink
	c := s.consumer(false)
	q.attach(c)
	for i := range 100 {
		_ = q.send(testBody(t, fmt.Sprint(i), nil), now, 0)
	}
	q.flow(c, nil, 100, false, now)
	for _, d := range s.got {
		if _, err := q.renew(d.lockToken, now); err != nil {
			t.Fatal(err)
		}
		if err := q.settle(d.lockToken, outcomeComplete, nil, "", "", now); err != nil {
			t.Fatal(err)
		}
	}
	if q.count() != 0 || q.lockTimes.Len() != 0 || q.expiries.Len() != 0 || q.ready.Len() != 0 {
		t.Fatalf("left behind: %d messages, %d lock timers, %d expiry timers, %d ready", q.count(), q.lockTimes.Len(), q.expiries.Len(), q.ready.Len())
	}
}

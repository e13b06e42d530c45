package emulator

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type subscription struct {
	name  string
	q     *queue
	rules []rule
}

// topic fans messages out to its subscriptions. Its sequence numbers are
// shared by every subscription's copy.
type topic struct {
	name  string
	props entityProps
	log   func(string, ...any)

	mu    sync.Mutex
	seq   int64
	dedup dedupWindow
	sched scheduler
	subs  []*subscription

	changes *atomic.Uint64 // the namespace's change counter; may be nil
}

func (t *topic) changed() {
	if t.changes != nil {
		t.changes.Add(1)
	}
}

// maxForwardHops is Service Bus's limit on auto-forwarding chains; a message
// that reaches it stays where it is.
const maxForwardHops = 4

func (t *topic) send(b *body, now time.Time, hops int) error {
	t.mu.Lock()
	if t.props.RequiresDuplicateDetection {
		if id, ok := b.messageID(); ok && t.dedup.seen(id, now, t.props.DuplicateWindow) {
			t.mu.Unlock()
			return nil
		}
	}
	if at, ok := b.scheduledTime(); ok && at.After(now) {
		t.seq++
		t.sched.add(t.seq, at, b)
		t.changed()
		t.mu.Unlock()
		return nil
	}
	targets, err := t.route(b)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	t.seq++
	fwd := t.fanOutLocked(targets, t.seq, now, hops)
	t.mu.Unlock()
	return fwd.send(now)
}

// fanOutLocked adds the routed copies to the subscriptions, returning the
// copies of forwarding subscriptions, to be sent once the topic is unlocked.
func (t *topic) fanOutLocked(targets []*body, seq int64, now time.Time, hops int) forwards {
	var fwd forwards
	for i, sub := range t.subs {
		switch {
		case targets[i] == nil:
		case sub.q.forward != nil && hops < maxForwardHops:
			fwd = append(fwd, forward{sub.q.forward, targets[i], hops + 1})
		default:
			sub.q.add(targets[i], seq, now)
		}
	}
	return fwd
}

type forward struct {
	to   sendTarget
	b    *body
	hops int
}

type forwards []forward

func (fs forwards) send(now time.Time) error {
	var first error
	for _, f := range fs {
		if err := f.to.send(f.b, now, f.hops); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// forwardQueue holds dead-lettered messages bound for another entity until
// the timer sends them, outside every entity lock.
type forwardQueue struct {
	mu      sync.Mutex
	pending forwards
}

func (f *forwardQueue) push(to sendTarget, b *body) {
	f.mu.Lock()
	f.pending = append(f.pending, forward{to, b, 1})
	f.mu.Unlock()
}

func (f *forwardQueue) drain(now time.Time, log func(string, ...any)) {
	f.mu.Lock()
	fs := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, x := range fs {
		if err := x.to.send(x.b, now, x.hops); err != nil {
			log("forwarding a dead-lettered message failed", "err", err)
		}
	}
}

// route evaluates every subscription's rules; targets[i] is the body the
// i-th subscription gets, nil for none. A full subscription refuses the send.
func (t *topic) route(b *body) ([]*body, error) {
	targets := make([]*body, len(t.subs))
	fm := newRoutedMessage(b)
	for i, sub := range t.subs {
		for _, r := range sub.rules {
			ok, err := r.filter.Match(fm)
			if err != nil {
				t.log("rule failed", "topic", t.name, "subscription", sub.name, "rule", r.name, "err", err)
				continue
			}
			if !ok {
				continue
			}
			target := b
			if r.action != nil {
				if nb, err := applyAction(b, r.action); err != nil {
					t.log("rule action failed", "topic", t.name, "subscription", sub.name, "rule", r.name, "err", err)
				} else {
					target = nb
				}
			}
			targets[i] = target
			break // one copy per subscription however many rules match
		}
		if targets[i] != nil {
			if err := sub.q.checkRoom(targets[i].size()); err != nil {
				return nil, err
			}
		}
	}
	return targets, nil
}

func (t *topic) schedule(bodies []*body, at time.Time) ([]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	seqs := make([]int64, 0, len(bodies))
	for _, b := range bodies {
		if t.sched.len() >= defaultLimits.MaxMessages {
			return nil, fmt.Errorf("%w: topic %s has %d scheduled messages", errEntityFull, t.name, t.sched.len())
		}
		t.seq++
		t.sched.add(t.seq, at, b)
		seqs = append(seqs, t.seq)
	}
	t.changed()
	return seqs, nil
}

func (t *topic) cancelScheduled(seqs []int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range seqs {
		t.sched.cancel(s)
	}
	t.changed()
}

func (t *topic) tick(now time.Time) {
	t.mu.Lock()
	var fwd forwards
	for _, d := range t.sched.due(now) {
		targets, err := t.route(d.body)
		if err != nil {
			t.log("scheduled message dropped", "topic", t.name, "seq", d.seq, "err", err)
			continue
		}
		fwd = append(fwd, t.fanOutLocked(targets, d.seq, now, 0)...)
	}
	if t.dedup.len() > 0 {
		t.dedup.prune(now, t.props.DuplicateWindow)
	}
	t.mu.Unlock()
	if err := fwd.send(now); err != nil {
		t.log("forwarding a scheduled message failed", "topic", t.name, "err", err)
	}
}

// sendTarget is where a sending link delivers: a queue or a topic.
type sendTarget interface {
	send(b *body, now time.Time, hops int) error
	schedule(bodies []*body, at time.Time) ([]int64, error)
	cancelScheduled(seqs []int64)
}

// queueTarget adapts a queue's schedule signature to sendTarget.
type queueTarget struct{ *queue }

func (q queueTarget) schedule(bodies []*body, at time.Time) ([]int64, error) {
	return q.queue.schedule(bodies, at, time.Now())
}

// namespace holds every entity, keyed by lower-cased name: Service Bus
// addresses are case-insensitive.
type namespace struct {
	queues map[string]*queue
	topics map[string]*topic
	all    []*queue // every queue, subscription and dead-letter queue, for the timer

	changes atomic.Uint64 // counts mutations, so persistence saves only after changes
	later   forwardQueue  // dead-lettered messages on their way to a ForwardDeadLetteredMessagesTo entity
	log     func(string, ...any)
}

var errUnknownEntity = errors.New("entity not found")

func newNamespace() *namespace {
	return &namespace{queues: map[string]*queue{}, topics: map[string]*topic{}, log: func(string, ...any) {}}
}

func (ns *namespace) addQueue(q *queue) {
	ns.queues[strings.ToLower(q.name)] = q
	ns.all = append(ns.all, q)
	q.changes = &ns.changes
	q.later = &ns.later
	if q.dlq != nil {
		ns.all = append(ns.all, q.dlq)
		q.dlq.changes = &ns.changes
	}
}

func (ns *namespace) addTopic(t *topic) {
	ns.topics[strings.ToLower(t.name)] = t
	t.changes = &ns.changes
	for _, s := range t.subs {
		ns.all = append(ns.all, s.q, s.q.dlq)
		s.q.changes, s.q.dlq.changes = &ns.changes, &ns.changes
		s.q.later = &ns.later
	}
}

// receiveSource resolves a receiving link's address: `<queue>`,
// `<topic>/Subscriptions/<sub>`, either with `/$DeadLetterQueue`.
func (ns *namespace) receiveSource(addr string) (*queue, error) {
	a := strings.ToLower(strings.Trim(addr, "/"))
	dead := false
	if rest, ok := strings.CutSuffix(a, "/$deadletterqueue"); ok {
		a, dead = rest, true
	}
	var q *queue
	if name, sub, ok := strings.Cut(a, "/subscriptions/"); ok {
		if t := ns.topics[name]; t != nil {
			for _, s := range t.subs {
				if strings.EqualFold(s.name, sub) {
					q = s.q
				}
			}
		}
	} else {
		q = ns.queues[a]
	}
	if q == nil {
		return nil, fmt.Errorf("%w: %q", errUnknownEntity, addr)
	}
	if dead {
		return q.dlq, nil
	}
	return q, nil
}

// sendTarget resolves a sending link's address: a queue or a topic.
func (ns *namespace) sendTarget(addr string) (sendTarget, string, error) {
	a := strings.ToLower(strings.Trim(addr, "/"))
	if q := ns.queues[a]; q != nil {
		return queueTarget{q}, q.name, nil
	}
	if t := ns.topics[a]; t != nil {
		return t, t.name, nil
	}
	return nil, "", fmt.Errorf("%w: %q", errUnknownEntity, addr)
}

// tick drives lock expiry, message expiry and scheduled messages.
func (ns *namespace) tick(now time.Time) {
	ns.later.drain(now, ns.log)
	for _, t := range ns.topics {
		t.tick(now)
	}
	for _, q := range ns.all {
		q.tick(now)
	}
}

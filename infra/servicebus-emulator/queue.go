package emulator

import (
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// entityProps are the behaviours of one queue or subscription.
type entityProps struct {
	LockDuration               time.Duration
	MaxDeliveryCount           int
	DefaultTTL                 time.Duration // 0 = never expires
	DeadLetterOnExpiration     bool
	RequiresDuplicateDetection bool
	DuplicateWindow            time.Duration
	RequiresSession            bool
}

// Limits keep memory bounded: an entity that is full refuses new messages.
type limits struct {
	MaxMessages int
	MaxBytes    int64
}

var defaultLimits = limits{MaxMessages: 250_000, MaxBytes: 256 << 20}

// Errors the broker reports; the protocol layer maps them to AMQP conditions
// and management status codes.
var (
	errLockLost       = errors.New("the lock on the message was lost or the message was already settled")
	errNotFound       = errors.New("message not found")
	errEntityFull     = errors.New("entity is full")
	errInvalidRequest = errors.New("invalid request")
)

type msgState uint8

const (
	stateAvailable msgState = iota
	stateLocked
	stateDeferred
	stateGone
)

// message is one message held by one queue, subscription or dead-letter queue.
type message struct {
	body          *body
	seq           int64
	enqueued      time.Time
	expiresAt     time.Time // zero: never
	state         msgState
	deliveryCount uint32
	deferred      bool // settled with defer: only reachable by sequence number
	lock          lockToken
	lockedUntil   time.Time
	dlSource      string
	readyIdx      int         // index in the ready heap, -1 when not in it
	lockIdx       int         // index in the lock-expiry heap, -1 when not in it
	expIdx        int         // index in the expiry heap, -1 when not in it
	sess          *msgSession // its message session, on a session entity
}

func newMessage(b *body, seq int64, enqueued time.Time) *message {
	return &message{body: b, seq: seq, enqueued: enqueued, readyIdx: -1, lockIdx: -1, expIdx: -1}
}

func (m *message) snapshot(peekLock bool) snapshot {
	s := snapshot{body: m.body, seq: m.seq, enqueued: m.enqueued, expiresAt: m.expiresAt, deliveryCount: m.deliveryCount, dlSource: m.dlSource}
	if peekLock {
		s.lockedUntil = m.lockedUntil
		s.lockToken = m.lock
	}
	if m.deferred {
		s.state = 1
	}
	return s
}

// consumer is a receiving link attached to a queue; its credit and delivery
// count are guarded by the queue's mutex.
type consumer struct {
	credit           uint32
	deliveryCount    uint32
	receiveAndDelete bool
	closed           bool
	session          *msgSession // the session this consumer holds, on a session entity
	// deliver hands a message to the link; called with the queue locked, must not block.
	deliver func(s snapshot)
}

// queue holds the messages of a queue, a subscription or a dead-letter queue.
type queue struct {
	name   string // address as clients spell it
	props  entityProps
	limits limits
	dlq    *queue // nil for a dead-letter queue
	log    func(msg string, args ...any)

	mu        sync.Mutex
	seq       int64 // last sequence number assigned by this entity
	msgs      map[int64]*message
	locks     map[lockToken]*message
	ready     readyHeap
	lockTimes timedHeap // locked messages by lockedUntil
	expiries  timedHeap // messages with a TTL by expiresAt
	bytes     int64
	consumers []*consumer
	next      int // round robin over consumers
	dedup     dedupWindow
	sched     scheduler
	changes   *atomic.Uint64 // the namespace's change counter, for persistence; may be nil

	// ForwardTo and ForwardDeadLetteredMessagesTo; set once at start.
	forward     sendTarget
	forwardDead sendTarget
	later       *forwardQueue // where dead-letter forwards wait; they must not run under q.mu

	sessions map[string]*msgSession // on a session entity
	waiting  []*sessionWaiter       // receivers waiting for any session to have messages
}

// readyOf is the heap an available message waits in.
func (q *queue) readyOf(m *message) *readyHeap {
	if m.sess != nil {
		return &m.sess.ready
	}
	return &q.ready
}

// changed notes a mutation worth saving.
func (q *queue) changed() {
	if q.changes != nil {
		q.changes.Add(1)
	}
}

func newQueue(name string, p entityProps, withDLQ bool, lim limits, log func(string, ...any)) *queue {
	q := &queue{name: name, props: p, limits: lim, log: log, msgs: map[int64]*message{}, locks: map[lockToken]*message{}}
	q.lockTimes.byLock = true
	if withDLQ {
		q.dlq = newQueue(name+"/$DeadLetterQueue", entityProps{LockDuration: p.LockDuration, MaxDeliveryCount: 1 << 30}, false, lim, log)
	}
	return q
}

// checkRoom reports errEntityFull when n more bytes would not fit.
func (q *queue) checkRoom(n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.checkRoomLocked(n)
}

func (q *queue) checkRoomLocked(n int) error {
	if len(q.msgs)+q.sched.len() >= q.limits.MaxMessages || q.bytes+int64(n) > q.limits.MaxBytes {
		return fmt.Errorf("%w: %s holds %d messages, %d bytes (limits %d messages, %d bytes)",
			errEntityFull, q.name, len(q.msgs), q.bytes, q.limits.MaxMessages, q.limits.MaxBytes)
	}
	return nil
}

// send enqueues a message sent directly to this queue: duplicate detection,
// scheduling and sequence numbers are the queue's own. hops counts the
// auto-forwarding the message has been through.
func (q *queue) send(b *body, now time.Time, hops int) error {
	if q.forward != nil && hops < maxForwardHops {
		return q.forward.send(b, now, hops+1)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.props.RequiresDuplicateDetection {
		if id, ok := b.messageID(); ok && q.dedup.seen(id, now, q.props.DuplicateWindow) {
			return nil // a duplicate is accepted and dropped
		}
	}
	if err := q.checkRoomLocked(b.size()); err != nil {
		return err
	}
	if q.props.RequiresSession && b.sessionID() == "" {
		return fmt.Errorf("%w: %s", errNeedsSessionID, q.name)
	}
	q.seq++
	if at, ok := b.scheduledTime(); ok && at.After(now) {
		q.sched.add(q.seq, at, b)
		q.changed()
		return nil
	}
	q.addLocked(b, q.seq, now)
	return nil
}

// scheduleMsgs schedules messages for later and returns their sequence numbers.
func (q *queue) schedule(bodies []*body, at time.Time, now time.Time) ([]int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	seqs := make([]int64, 0, len(bodies))
	for _, b := range bodies {
		if err := q.checkRoomLocked(b.size()); err != nil {
			return nil, err
		}
		q.seq++
		q.sched.add(q.seq, at, b)
		seqs = append(seqs, q.seq)
	}
	q.changed()
	return seqs, nil
}

func (q *queue) cancelScheduled(seqs []int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range seqs {
		q.sched.cancel(s)
	}
	q.changed()
}

// add places a message with a sequence number chosen elsewhere (a topic's).
func (q *queue) add(b *body, seq int64, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(b, seq, now)
}

func (q *queue) addLocked(b *body, seq int64, now time.Time) {
	q.changed()
	m := newMessage(b, seq, now)
	ttl := b.header.TTL
	if ttl <= 0 || (q.props.DefaultTTL > 0 && ttl > q.props.DefaultTTL) {
		ttl = q.props.DefaultTTL
	}
	if ttl > 0 {
		m.expiresAt = now.Add(ttl)
		q.expiries.fix(m)
	}
	q.msgs[seq] = m
	q.bytes += int64(b.size())
	if q.props.RequiresSession {
		m.sess = q.sessionLocked(b.sessionID(), now)
	}
	heap.Push(q.readyOf(m), m)
	if m.sess != nil {
		q.wakeWaitersLocked(now)
	}
	q.dispatchLocked(now)
}

// addDeadLettered moves a message into this dead-letter queue keeping its sequence number.
func (q *queue) addDeadLettered(m *message, source string, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.changed()
	dm := newMessage(m.body, m.seq, m.enqueued)
	dm.deliveryCount, dm.dlSource = m.deliveryCount, source
	if old, ok := q.msgs[dm.seq]; ok { // a sequence number is unique per source entity; never overwrite silently
		q.removeLocked(old)
	}
	q.msgs[dm.seq] = dm
	q.bytes += int64(dm.body.size())
	heap.Push(&q.ready, dm)
	q.dispatchLocked(now)
}

// attach registers a receiving link.
func (q *queue) attach(c *consumer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.consumers = append(q.consumers, c)
}

// detach unregisters a link. Its locked messages stay locked until their lock
// expires, as on Service Bus.
func (q *queue) detach(c *consumer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c.closed = true
	q.releaseSessionLocked(c, time.Now())
	for i, x := range q.consumers {
		if x == c {
			q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
			break
		}
	}
}

// flow applies a flow frame from a receiver: the link credit as the peer
// computes it. With drain, unused credit is consumed and reported back.
func (q *queue) flow(c *consumer, peerDeliveryCount *uint32, linkCredit uint32, drain bool, now time.Time) (deliveryCount, credit uint32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if peerDeliveryCount != nil {
		// credit = delivery-count(rcv) + link-credit(rcv) - delivery-count(snd), serial arithmetic
		c.credit = *peerDeliveryCount + linkCredit - c.deliveryCount
		if int32(c.credit) < 0 {
			c.credit = 0
		}
	} else {
		c.credit = linkCredit
	}
	q.dispatchLocked(now)
	if drain && c.credit > 0 {
		c.deliveryCount += c.credit
		c.credit = 0
	}
	return c.deliveryCount, c.credit
}

// dispatchLocked hands available messages to consumers with credit.
func (q *queue) dispatchLocked(now time.Time) {
	if q.props.RequiresSession {
		q.dispatchSessionsLocked(now)
		return
	}
	for q.ready.Len() > 0 {
		c := q.pickConsumer()
		if c == nil {
			return
		}
		q.deliverLocked(c, heap.Pop(&q.ready).(*message), now)
	}
}

// deliverLocked hands one message, just taken from a ready heap, to a consumer.
func (q *queue) deliverLocked(c *consumer, m *message, now time.Time) {
	if !m.expiresAt.IsZero() && !now.Before(m.expiresAt) {
		q.expireLocked(m, now)
		return
	}
	c.credit--
	c.deliveryCount++
	m.deliveryCount++
	q.changed()
	if c.receiveAndDelete {
		s := m.snapshot(false)
		q.removeLocked(m)
		c.deliver(s)
		return
	}
	q.lockLocked(m, now)
	c.deliver(m.snapshot(true))
}

func (q *queue) pickConsumer() *consumer {
	n := len(q.consumers)
	for i := 0; i < n; i++ {
		c := q.consumers[(q.next+i)%n]
		if c.credit > 0 && !c.closed {
			q.next = (q.next + i + 1) % n
			return c
		}
	}
	return nil
}

func (q *queue) lockLocked(m *message, now time.Time) {
	if m.state == stateLocked {
		delete(q.locks, m.lock)
	}
	m.state = stateLocked
	m.lock = newLockToken()
	m.lockedUntil = now.Add(q.props.LockDuration)
	q.locks[m.lock] = m
	q.lockTimes.fix(m)
}

func (q *queue) removeLocked(m *message) {
	q.changed()
	if m.state == stateLocked {
		delete(q.locks, m.lock)
	}
	if m.readyIdx >= 0 {
		heap.Remove(q.readyOf(m), m.readyIdx)
	}
	q.lockTimes.remove(m)
	q.expiries.remove(m)
	m.state = stateGone
	if q.msgs[m.seq] == m {
		delete(q.msgs, m.seq)
		q.bytes -= int64(m.body.size())
	}
}

// locked returns the message holding an unexpired lock.
func (q *queue) lockedLocked(t lockToken, now time.Time) (*message, error) {
	m, ok := q.locks[t]
	if !ok || m.state != stateLocked || !now.Before(m.lockedUntil) {
		return nil, errLockLost
	}
	return m, nil
}

// Settlement outcomes.
type outcome int

const (
	outcomeComplete outcome = iota
	outcomeAbandon
	outcomeRelease // not an attempt: the delivery count is given back
	outcomeDefer
	outcomeDeadLetter
)

// settle applies an outcome to a locked message. For dead-letter, reason and
// description become the message's DeadLetterReason and DeadLetterErrorDescription.
func (q *queue) settle(t lockToken, o outcome, props map[string]any, reason, description string, now time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, err := q.lockedLocked(t, now)
	if err != nil {
		return err
	}
	delete(q.locks, m.lock)
	q.lockTimes.remove(m)
	m.state = stateAvailable
	q.changed()
	if len(props) > 0 {
		if nb, err := m.body.withAppProps(props); err == nil {
			q.bytes += int64(nb.size() - m.body.size())
			m.body = nb
		}
	}
	switch o {
	case outcomeComplete:
		q.removeLocked(m)
	case outcomeAbandon:
		q.returnLocked(m, now)
	case outcomeRelease:
		if m.deliveryCount > 0 {
			m.deliveryCount--
		}
		q.returnLocked(m, now)
	case outcomeDefer:
		m.state = stateDeferred
		m.deferred = true
	case outcomeDeadLetter:
		q.deadLetterLocked(m, reason, description, now)
	}
	q.dispatchLocked(now)
	return nil
}

// returnLocked makes a message available again, or dead-letters it when it has
// used up its delivery attempts.
func (q *queue) returnLocked(m *message, now time.Time) {
	if q.dlq != nil && q.props.MaxDeliveryCount > 0 && int(m.deliveryCount) >= q.props.MaxDeliveryCount {
		q.deadLetterLocked(m, "MaxDeliveryCountExceeded",
			fmt.Sprintf("Message could not be consumed after %d delivery attempts.", q.props.MaxDeliveryCount), now)
		return
	}
	if m.deferred {
		m.state = stateDeferred
		return
	}
	m.state = stateAvailable
	heap.Push(q.readyOf(m), m)
}

func (q *queue) deadLetterLocked(m *message, reason, description string, now time.Time) {
	q.removeLocked(m)
	if q.dlq == nil {
		return // messages in a dead-letter queue cannot be dead-lettered again; they are dropped
	}
	props := map[string]any{}
	if reason != "" {
		props["DeadLetterReason"] = reason
	}
	if description != "" {
		props["DeadLetterErrorDescription"] = description
	}
	if nb, err := m.body.withAppProps(props); err == nil {
		m.body = nb
	}
	q.log("dead-lettered", "entity", q.name, "seq", m.seq, "reason", reason)
	if q.forwardDead != nil && q.later != nil {
		q.later.push(q.forwardDead, m.body)
		return
	}
	// Lock order is parent then dead-letter queue, never the reverse.
	q.dlq.addDeadLettered(m, q.name, now)
}

func (q *queue) expireLocked(m *message, now time.Time) {
	if q.props.DeadLetterOnExpiration {
		q.deadLetterLocked(m, "TTLExpiredException", "The message expired and was dead lettered.", now)
		return
	}
	q.log("expired", "entity", q.name, "seq", m.seq)
	q.removeLocked(m)
}

// renew extends a lock by the entity's lock duration.
func (q *queue) renew(t lockToken, now time.Time) (time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, err := q.lockedLocked(t, now)
	if err != nil {
		return time.Time{}, err
	}
	m.lockedUntil = now.Add(q.props.LockDuration)
	q.lockTimes.fix(m)
	return m.lockedUntil, nil
}

// peek returns up to n messages from sequence number from on, without locking them.
func (q *queue) peek(from int64, n int) []snapshot {
	q.mu.Lock()
	defer q.mu.Unlock()
	seqs := make([]int64, 0, len(q.msgs)+q.sched.len())
	for s := range q.msgs {
		if s >= from {
			seqs = append(seqs, s)
		}
	}
	for s := range q.sched.bySeq { // scheduled messages show in peek, as on Service Bus
		if s >= from {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	if len(seqs) > n {
		seqs = seqs[:n]
	}
	out := make([]snapshot, 0, len(seqs))
	for _, s := range seqs {
		m, ok := q.msgs[s]
		if !ok {
			e := q.sched.bySeq[s]
			out = append(out, snapshot{body: e.body, seq: s, enqueued: e.at, state: 2})
			continue
		}
		snap := m.snapshot(false)
		if m.state == stateLocked {
			snap.lockedUntil = m.lockedUntil
		}
		out = append(out, snap)
	}
	return out
}

// receiveDeferred locks (or removes, in receive-and-delete) deferred messages by sequence number.
func (q *queue) receiveDeferred(seqs []int64, peekLock bool, now time.Time) ([]snapshot, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []snapshot
	for _, s := range seqs {
		m, ok := q.msgs[s]
		if !ok || !m.deferred || m.state != stateDeferred {
			return nil, fmt.Errorf("%w: no deferred message with sequence number %d in %s", errNotFound, s, q.name)
		}
	}
	for _, s := range seqs {
		m := q.msgs[s]
		m.deliveryCount++
		if !peekLock {
			snap := m.snapshot(false)
			q.removeLocked(m)
			out = append(out, snap)
			continue
		}
		q.lockLocked(m, now)
		snap := m.snapshot(true)
		snap.withLockAnn = true
		out = append(out, snap)
	}
	return out, nil
}

// tick expires locks and messages and enqueues scheduled messages that are due.
func (q *queue) tick(now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.lockTimes.Len() > 0 && !now.Before(q.lockTimes.ms[0].lockedUntil) {
		m := heap.Pop(&q.lockTimes).(*message)
		delete(q.locks, m.lock)
		q.changed()
		q.log("lock expired", "entity", q.name, "seq", m.seq, "deliveryCount", m.deliveryCount)
		q.returnLocked(m, now)
	}
	for q.expiries.Len() > 0 && !now.Before(q.expiries.ms[0].expiresAt) {
		m := heap.Pop(&q.expiries).(*message)
		// Locked and deferred messages expire lazily, when they are next handed out.
		if m.state == stateAvailable && m.readyIdx >= 0 {
			q.expireLocked(m, now)
		}
	}
	for _, d := range q.sched.due(now) {
		q.addLocked(d.body, d.seq, now)
	}
	q.dispatchLocked(now)
	if q.dedup.len() > 0 {
		q.dedup.prune(now, q.props.DuplicateWindow)
	}
}

// count reports the messages held (active and dead-lettered are separate queues).
func (q *queue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// readyHeap orders available messages by sequence number.
type readyHeap []*message

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].readyIdx = i
	h[j].readyIdx = j
}
func (h *readyHeap) Push(x any) {
	m := x.(*message)
	m.readyIdx = len(*h)
	*h = append(*h, m)
}
func (h *readyHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	m.readyIdx = -1
	return m
}

// timedHeap orders messages by lock expiry or by message expiry, tracking
// each message's position so settling can take it out.
type timedHeap struct {
	ms     []*message
	byLock bool
}

func (h *timedHeap) at(m *message) time.Time {
	if h.byLock {
		return m.lockedUntil
	}
	return m.expiresAt
}

func (h *timedHeap) pos(m *message) *int {
	if h.byLock {
		return &m.lockIdx
	}
	return &m.expIdx
}

func (h *timedHeap) Len() int           { return len(h.ms) }
func (h *timedHeap) Less(i, j int) bool { return h.at(h.ms[i]).Before(h.at(h.ms[j])) }
func (h *timedHeap) Swap(i, j int) {
	h.ms[i], h.ms[j] = h.ms[j], h.ms[i]
	*h.pos(h.ms[i]) = i
	*h.pos(h.ms[j]) = j
}
func (h *timedHeap) Push(x any) {
	m := x.(*message)
	*h.pos(m) = len(h.ms)
	h.ms = append(h.ms, m)
}
func (h *timedHeap) Pop() any {
	m := h.ms[len(h.ms)-1]
	h.ms[len(h.ms)-1] = nil
	h.ms = h.ms[:len(h.ms)-1]
	*h.pos(m) = -1
	return m
}

// fix adds m, or moves it after its time changed.
func (h *timedHeap) fix(m *message) {
	if i := *h.pos(m); i >= 0 {
		heap.Fix(h, i)
		return
	}
	heap.Push(h, m)
}

func (h *timedHeap) remove(m *message) {
	if i := *h.pos(m); i >= 0 {
		heap.Remove(h, i)
	}
}

// dedupWindow remembers message ids for duplicate detection.
type dedupWindow struct {
	ids   map[string]time.Time
	order []dedupEntry
}

type dedupEntry struct {
	id string
	at time.Time
}

func (d *dedupWindow) len() int { return len(d.order) }

// seen reports whether id was sent within the window, and records it if not.
func (d *dedupWindow) seen(id string, now time.Time, window time.Duration) bool {
	d.prune(now, window)
	if _, ok := d.ids[id]; ok {
		return true
	}
	if d.ids == nil {
		d.ids = map[string]time.Time{}
	}
	d.ids[id] = now
	d.order = append(d.order, dedupEntry{id, now})
	return false
}

func (d *dedupWindow) prune(now time.Time, window time.Duration) {
	i := 0
	for ; i < len(d.order) && now.Sub(d.order[i].at) >= window; i++ {
		delete(d.ids, d.order[i].id)
	}
	if i > 0 {
		d.order = append(d.order[:0], d.order[i:]...)
	}
}

// scheduler holds messages until their scheduled enqueue time.
type scheduler struct {
	bySeq map[int64]*scheduled
	times schedHeap
}

type scheduled struct {
	seq       int64
	at        time.Time
	body      *body
	cancelled bool
}

func (s *scheduler) len() int { return len(s.bySeq) }

func (s *scheduler) add(seq int64, at time.Time, b *body) {
	if s.bySeq == nil {
		s.bySeq = map[int64]*scheduled{}
	}
	e := &scheduled{seq: seq, at: at, body: b}
	s.bySeq[seq] = e
	heap.Push(&s.times, e)
}

func (s *scheduler) cancel(seq int64) {
	if e, ok := s.bySeq[seq]; ok {
		e.cancelled = true
		delete(s.bySeq, seq)
	}
}

func (s *scheduler) due(now time.Time) []*scheduled {
	var out []*scheduled
	for s.times.Len() > 0 && !now.Before(s.times[0].at) {
		e := heap.Pop(&s.times).(*scheduled)
		if e.cancelled {
			continue
		}
		delete(s.bySeq, e.seq)
		out = append(out, e)
	}
	return out
}

type schedHeap []*scheduled

func (h schedHeap) Len() int           { return len(h) }
func (h schedHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h schedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *schedHeap) Push(x any)        { *h = append(*h, x.(*scheduled)) }
func (h *schedHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

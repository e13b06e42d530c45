package emulator

import (
	"errors"
	"fmt"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"meterline/infra/servicebus-emulator/amqp"
)

type session struct {
	c  *conn
	ch uint16

	// Guarded by c.mu.
	links          map[uint32]*link
	unsettled      map[uint32]*outDelivery // deliveries we sent that the client has yet to settle
	nextDeliveryID uint32
	outFrames      uint32 // transfer frames sent (our next-outgoing-id)
	remoteWindow   uint32 // transfers the client will still accept
	held           []*outDelivery
	pruneAt        int // size of unsettled at which deliveries with expired locks are dropped

	// Reader goroutine only.
	nextIncomingID uint32
	inSinceFlow    uint32
}

// link is one end of an AMQP link as the server sees it.
type link struct {
	s      *session
	name   string
	handle uint32
	addr   string

	// Client sends, we receive (reader goroutine only).
	target           sendTarget
	rpc              *rpcNode
	inCredit         uint32
	inCount          uint32 // delivery-count of the client's sender
	inBuf            []byte
	inDeliveryID     uint32
	inSettled        bool
	inFormat         uint32
	inProgress       bool
	detached         bool // we detached it with an error; frames still in flight are ignored
	entityDetached   bool
	sessionAccept    bool    // a session receiver: attach answered once a session is bound
	wantSession      *string // nil: the next available session
	describedSession bool    // the client sent its session filter as a described value
	sessionWait      time.Duration

	// Client receives, we send.
	q         *queue
	cons      *consumer
	peekLock  bool
	replyAddr string // management reply link: the client's address (guarded by c.mu)
	credit    uint32 // management reply link credit (guarded by c.mu)
	sent      uint32 // management reply link delivery-count (guarded by c.mu)
	pending   [][]byte
}

func (l *link) detachFromEntity() {
	if l.q != nil && l.cons != nil && !l.entityDetached {
		l.entityDetached = true
		l.q.detach(l.cons)
		l.s.c.log.Info("receiver detached", "entity", l.q.name)
	}
}

func (s *session) attach(a *amqp.Attach) error {
	c := s.c
	c.mu.Lock()
	if _, dup := s.links[a.Handle]; dup {
		c.mu.Unlock()
		return &amqp.Error{Condition: amqp.ErrCondIllegalState, Description: fmt.Sprintf("handle %d already attached", a.Handle)}
	}
	tooMany := c.links >= maxLinks
	c.mu.Unlock()

	l := &link{s: s, name: a.Name, handle: a.Handle}
	reply := &amqp.Attach{Name: a.Name, Handle: a.Handle, Role: !a.Role, SndSettleMode: a.SndSettleMode, RcvSettleMode: a.RcvSettleMode, Source: a.Source, Target: a.Target}
	var refuse *amqp.Error
	if tooMany {
		refuse = &amqp.Error{Condition: amqp.ErrCondResourceLimitExceeded, Description: fmt.Sprintf("a connection may have at most %d links", maxLinks)}
	} else if a.Role == amqp.RoleSender {
		refuse = s.attachIncoming(l, a)
		reply.MaxMessageSize = maxMessageSize
	} else {
		refuse = s.attachOutgoing(l, a)
		zero := uint32(0)
		reply.InitialDeliveryCount = &zero
	}
	if refuse != nil {
		// Per the spec a refused attach is answered with an attach without the terminus, then a detach.
		if a.Role == amqp.RoleSender {
			reply.Target = nil
		} else {
			reply.Source = nil
		}
		c.log.Warn("attach refused", "link", a.Name, "err", refuse)
		c.send(s.ch, reply)
		c.send(s.ch, &amqp.Detach{Handle: a.Handle, Closed: true, Error: refuse})
		return nil
	}
	c.mu.Lock()
	s.links[a.Handle] = l
	c.links++
	if l.replyAddr != "" {
		c.replyTo[l.replyAddr] = l
	}
	c.mu.Unlock()
	if l.sessionAccept {
		s.acceptSession(l, reply)
		return nil
	}
	c.send(s.ch, reply)
	if a.Role == amqp.RoleSender {
		l.inCredit = senderCredit
		if a.InitialDeliveryCount != nil {
			l.inCount = *a.InitialDeliveryCount
		}
		s.sendLinkFlow(l)
	}
	if l.cons != nil {
		l.q.attach(l.cons)
	}
	return nil
}

// attachIncoming sets up a link on which the client sends: to an entity, $cbs or a $management node.
func (s *session) attachIncoming(l *link, a *amqp.Attach) *amqp.Error {
	if a.Target == nil {
		return &amqp.Error{Condition: amqp.ErrCondInvalidField, Description: "attach without a target"}
	}
	l.addr = a.Target.Address
	if node, err := s.c.srv.rpcNodeFor(l.addr); node != nil || err != nil {
		if err != nil {
			return notFound(err)
		}
		l.rpc = node
		return nil
	}
	t, name, err := s.c.srv.ns.sendTarget(l.addr)
	if err != nil {
		return notFound(err)
	}
	l.target = t
	s.c.log.Info("sender attached", "entity", name)
	return nil
}

// attachOutgoing sets up a link on which the client receives: from an entity or a management reply link.
func (s *session) attachOutgoing(l *link, a *amqp.Attach) *amqp.Error {
	if a.Source == nil {
		return &amqp.Error{Condition: amqp.ErrCondInvalidField, Description: "attach without a source"}
	}
	l.addr = a.Source.Address
	if node, err := s.c.srv.rpcNodeFor(l.addr); node != nil || err != nil {
		if err != nil {
			return notFound(err)
		}
		// Replies go to the address the requests name as reply-to: the Go and .NET SDKs put it
		// in the receiver's target; the JavaScript SDK's $cbs receiver has no target and uses
		// its link name as reply-to (@azure/core-amqp cbs.js), which Service Bus accepts.
		l.replyAddr = a.Name
		if a.Target != nil && a.Target.Address != "" {
			l.replyAddr = a.Target.Address
		}
		if l.replyAddr == "" {
			return &amqp.Error{Condition: amqp.ErrCondInvalidField, Description: "management receiver with neither a target address nor a name to reply to"}
		}
		return nil
	}
	q, err := s.c.srv.ns.receiveSource(l.addr)
	if err != nil {
		return notFound(err)
	}
	if f, ok := a.Source.Filter[sessionFilter]; ok {
		l.sessionAccept = true
		// The Go SDK sends the session id as a described value, the JavaScript SDK as a plain
		// string (null for the next available session); the answer echoes the client's form.
		if d, ok := f.(*amqp.Described); ok {
			l.describedSession = true
			f = d.Value
		}
		if id, ok := f.(string); ok {
			l.wantSession = &id
		}
		if ms, ok := asInt64(a.Properties[amqp.Symbol("com.microsoft:timeout")]); ok {
			l.sessionWait = time.Duration(ms) * time.Millisecond
		}
	} else if q.props.RequiresSession {
		return &amqp.Error{Condition: amqp.ErrCondNotAllowed, Description: fmt.Sprintf("%v: %s", errNeedsSession, q.name)}
	}
	l.q = q
	l.peekLock = a.SndSettleMode == nil || *a.SndSettleMode != amqp.SndSettleModeSettled
	l.cons = &consumer{receiveAndDelete: !l.peekLock, deliver: l.deliver}
	s.c.log.Info("receiver attached", "entity", q.name, "peekLock", l.peekLock)
	return nil
}

const sessionFilter = amqp.Symbol("com.microsoft:session-filter")

// acceptSession binds a session receiver to a session and only then answers
// its attach, echoing the session id and the session lock expiry; a receiver
// waiting for the next available session gets its answer when one is free.
func (s *session) acceptSession(l *link, reply *amqp.Attach) {
	c := s.c
	l.q.acceptSession(l.cons, l.wantSession, l.sessionWait, time.Now(), func(sid string, until time.Time, err error) {
		if err != nil {
			cond := amqp.ErrCondNotAllowed
			switch {
			case errors.Is(err, errSessionLocked):
				cond = amqp.ErrCondSessionCannotBeLocked
			case errors.Is(err, errNoSession):
				cond = amqp.ErrCondTimeout
			}
			c.mu.Lock()
			l.detached = true
			c.mu.Unlock()
			r := *reply
			r.Source = nil
			c.send(s.ch, &r)
			c.send(s.ch, &amqp.Detach{Handle: l.handle, Closed: true, Error: &amqp.Error{Condition: cond, Description: err.Error()}})
			return
		}
		src := *reply.Source
		src.Filter = amqp.Map{}
		for k, v := range reply.Source.Filter {
			src.Filter[k] = v
		}
		src.Filter[sessionFilter] = sid
		if l.describedSession {
			src.Filter[sessionFilter] = &amqp.Described{Descriptor: uint64(0x137000000C), Value: sid}
		}
		r := *reply
		r.Source = &src
		r.Properties = amqp.Map{amqp.Symbol("com.microsoft:locked-until-utc"): dotNetTicks(until)}
		c.log.Info("session receiver attached", "entity", l.q.name, "session", sid)
		c.send(s.ch, &r)
	})
}

func notFound(err error) *amqp.Error {
	return &amqp.Error{Condition: amqp.ErrCondNotFound, Description: err.Error()}
}

// deliver queues an entity message for the client. Called with the entity locked.
func (l *link) deliver(snap snapshot) {
	s, c := l.s, l.s.c
	d := &outDelivery{l: l, snap: &snap, settled: !l.peekLock}
	if l.peekLock {
		d.tag = snap.lockToken.deliveryTag()
	} else {
		d.tag = seqTag(snap.seq)
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	s.queueDeliveryLocked(d)
	c.mu.Unlock()
	c.signal()
}

func seqTag(seq int64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[i] = byte(seq >> (56 - 8*i))
	}
	return b
}

// queueDeliveryLocked assigns a delivery id and queues the delivery, or holds
// it while the client's session window is closed.
func (s *session) queueDeliveryLocked(d *outDelivery) {
	if s.remoteWindow == 0 || len(s.held) > 0 {
		s.held = append(s.held, d)
		return
	}
	s.remoteWindow--
	s.outFrames++
	d.id = s.nextDeliveryID
	s.nextDeliveryID++
	if !d.settled {
		if len(s.unsettled) >= s.pruneAt {
			s.pruneUnsettledLocked()
		}
		s.unsettled[d.id] = d
	}
	s.c.out = append(s.c.out, outItem{d: d})
}

// pruneUnsettledLocked forgets deliveries whose lock expired long ago: a
// receiver that never settles must not grow the map without bound. A late
// disposition for one of them is answered with lock-lost.
func (s *session) pruneUnsettledLocked() {
	cutoff := time.Now().Add(-time.Minute)
	for id, d := range s.unsettled {
		if d.snap != nil && d.snap.lockedUntil.Before(cutoff) {
			delete(s.unsettled, id)
		}
	}
	s.pruneAt = max(10_000, 2*len(s.unsettled))
}

func (s *session) releaseHeldLocked() {
	held := s.held
	s.held = nil
	for i, d := range held {
		if s.remoteWindow == 0 {
			s.held = append(s.held, held[i:]...)
			return
		}
		s.queueDeliveryLocked(d)
	}
}

// flow handles session and link flow frames.
func (s *session) flow(f *amqp.Flow) error {
	c := s.c
	c.mu.Lock()
	next := uint32(0)
	if f.NextIncomingID != nil {
		next = *f.NextIncomingID
	}
	s.remoteWindow = next + f.IncomingWindow - s.outFrames
	if int32(s.remoteWindow) < 0 {
		s.remoteWindow = 0
	}
	s.releaseHeldLocked()
	var l *link
	detached := false
	if f.Handle != nil {
		if l = s.links[*f.Handle]; l != nil {
			detached = l.detached
		}
	}
	c.mu.Unlock()
	c.signal()
	if f.Handle == nil {
		if f.Echo {
			s.sendSessionFlow()
		}
		return nil
	}
	if l == nil || detached {
		return nil // a flow for a link we already detached
	}
	credit := uint32(0)
	if f.LinkCredit != nil {
		credit = *f.LinkCredit
	}
	switch {
	case l.cons != nil:
		count, left := l.q.flow(l.cons, f.DeliveryCount, credit, f.Drain, time.Now())
		if f.Drain || f.Echo {
			h := l.handle
			c.send(s.ch, &amqp.Flow{Handle: &h, DeliveryCount: &count, LinkCredit: &left, Drain: f.Drain, NextIncomingID: ptr(s.nextIncomingID), IncomingWindow: sessionWindow, NextOutgoingID: s.outFramesNow(), OutgoingWindow: sessionWindow})
		}
	case l.replyAddr != "":
		c.mu.Lock()
		if f.DeliveryCount != nil {
			l.credit = *f.DeliveryCount + credit - l.sent
		} else {
			l.credit = credit
		}
		l.flushPendingLocked()
		c.mu.Unlock()
		c.signal()
	default:
		if f.Echo {
			s.sendLinkFlow(l)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func (s *session) outFramesNow() uint32 {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.outFrames
}

func (s *session) sendSessionFlow() {
	s.inSinceFlow = 0
	s.c.send(s.ch, &amqp.Flow{NextIncomingID: ptr(s.nextIncomingID), IncomingWindow: sessionWindow, NextOutgoingID: s.outFramesNow(), OutgoingWindow: sessionWindow})
}

// sendLinkFlow grants credit to a client's sending link.
func (s *session) sendLinkFlow(l *link) {
	s.inSinceFlow = 0
	h, count, credit := l.handle, l.inCount, l.inCredit
	s.c.send(s.ch, &amqp.Flow{NextIncomingID: ptr(s.nextIncomingID), IncomingWindow: sessionWindow, NextOutgoingID: s.outFramesNow(), OutgoingWindow: sessionWindow,
		Handle: &h, DeliveryCount: &count, LinkCredit: &credit})
}

// transfer receives (part of) a message from the client.
func (s *session) transfer(t *amqp.Transfer, payload []byte) error {
	c := s.c
	s.nextIncomingID++
	s.inSinceFlow++
	c.mu.Lock()
	l := s.links[t.Handle]
	c.mu.Unlock()
	if l == nil || (l.target == nil && l.rpc == nil) {
		return &amqp.Error{Condition: amqp.ErrCondUnattachedHandle, Description: fmt.Sprintf("transfer on unattached handle %d", t.Handle)}
	}
	if l.detached {
		return nil
	}
	if !l.inProgress {
		if t.DeliveryID == nil {
			return &amqp.Error{Condition: amqp.ErrCondNotAllowed, Description: "first transfer without a delivery-id"}
		}
		if l.inCredit == 0 {
			s.detachLink(l, &amqp.Error{Condition: amqp.ErrCondTransferLimitExceeded, Description: "transfer without link credit"})
			return nil
		}
		l.inCredit--
		l.inCount++
		l.inProgress = true
		l.inDeliveryID = *t.DeliveryID
		l.inSettled = t.Settled
		l.inFormat = 0
		if t.MessageFormat != nil {
			l.inFormat = *t.MessageFormat
		}
		l.inBuf = l.inBuf[:0]
	}
	if t.Aborted {
		l.inProgress = false
		return nil
	}
	if len(l.inBuf)+len(payload) > maxMessageSize {
		l.inProgress = false
		l.inBuf = nil
		s.detachLink(l, &amqp.Error{Condition: amqp.ErrCondMessageSizeExceeded, Description: fmt.Sprintf("message larger than %d bytes", maxMessageSize)})
		return nil
	}
	l.inBuf = append(l.inBuf, payload...)
	if t.More {
		return nil
	}
	l.inProgress = false
	var state any
	if l.rpc != nil {
		l.rpc.handle(s, l.inBuf)
		state = &amqp.Accepted{}
	} else {
		state = s.deliverToEntity(l)
	}
	if !l.inSettled {
		id := l.inDeliveryID
		c.send(s.ch, &amqp.Disposition{Role: amqp.RoleReceiver, First: id, Settled: true, State: state})
	}
	if l.inCredit < senderCredit/2 {
		l.inCredit = senderCredit
		s.sendLinkFlow(l)
	} else if s.inSinceFlow >= sessionWindow/2 {
		s.sendSessionFlow()
	}
	return nil
}

// deliverToEntity stores a message (or each message of a batch) and returns the outcome.
func (s *session) deliverToEntity(l *link) any {
	bodies, err := incomingBodies(l.inBuf, l.inFormat)
	if err != nil {
		return &amqp.Rejected{Error: &amqp.Error{Condition: amqp.ErrCondDecodeError, Description: err.Error()}}
	}
	now := time.Now()
	s.c.log.Debug("messages accepted", "entity", l.addr, "count", len(bodies))
	for _, b := range bodies {
		if err := l.target.send(b, now, 0); err != nil {
			cond := amqp.ErrCondInternalError
			switch {
			case errors.Is(err, errEntityFull):
				cond = amqp.ErrCondResourceLimitExceeded
			case errors.Is(err, errNeedsSessionID):
				cond = amqp.ErrCondNotAllowed
			}
			return &amqp.Rejected{Error: &amqp.Error{Condition: cond, Description: err.Error()}}
		}
	}
	return &amqp.Accepted{}
}

// incomingBodies decodes a transfer's message, or each message of a batch.
// A batch's envelope is only unwrapped: it is never stored, so it is not
// re-encoded as a body would be.
func incomingBodies(raw []byte, format uint32) ([]*body, error) {
	const batchFormat = 0x80013700
	if format != batchFormat {
		b, err := parseBody(raw)
		if err != nil {
			return nil, err
		}
		return []*body{b}, nil
	}
	var env goamqp.Message
	if err := env.UnmarshalBinary(raw); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	bodies := make([]*body, 0, len(env.Data))
	for _, d := range env.Data {
		b, err := parseBody(d)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// disposition applies the client's outcomes to messages we delivered.
func (s *session) disposition(d *amqp.Disposition) error {
	if d.Role != amqp.RoleReceiver {
		return nil // outcomes of our management replies: sent settled, nothing to do
	}
	c := s.c
	last := d.First
	if d.Last != nil {
		last = *d.Last
	}
	if last < d.First {
		return &amqp.Error{Condition: amqp.ErrCondInvalidField, Description: fmt.Sprintf("disposition range %d..%d", d.First, last)}
	}
	var ds []*outDelivery
	var unknown []uint32 // deliveries we no longer track; the client still waits for an answer
	c.mu.Lock()
	if last-d.First < uint32(len(s.unsettled)) || last-d.First < 64 {
		for id := d.First; ; id++ {
			if x, ok := s.unsettled[id]; ok {
				ds = append(ds, x)
				delete(s.unsettled, id)
			} else if id < s.nextDeliveryID {
				unknown = append(unknown, id)
			}
			if id == last {
				break
			}
		}
	} else {
		for id, x := range s.unsettled {
			if id-d.First <= last-d.First {
				ds = append(ds, x)
				delete(s.unsettled, id)
			}
		}
	}
	c.mu.Unlock()
	if !d.Settled {
		for _, id := range unknown {
			c.send(s.ch, &amqp.Disposition{Role: amqp.RoleSender, First: id, Settled: true,
				State: &amqp.Rejected{Error: &amqp.Error{Condition: amqp.ErrCondMessageLockLost, Description: "the delivery is no longer held; its lock expired"}}})
		}
	}
	now := time.Now()
	for _, x := range ds {
		state := d.State
		err := settleByState(x.l.q, x.snap.lockToken, d.State, now)
		if err != nil {
			state = &amqp.Rejected{Error: &amqp.Error{Condition: amqp.ErrCondMessageLockLost, Description: err.Error()}}
		} else if _, ok := state.(*amqp.Rejected); ok {
			// go-amqp treats an error in the confirmation as a failed dead-letter.
			state = &amqp.Rejected{}
		}
		if !d.Settled {
			c.send(s.ch, &amqp.Disposition{Role: amqp.RoleSender, First: x.id, Settled: true, State: state})
		}
	}
	return nil
}

// settleByState maps an AMQP outcome to a Service Bus settlement.
func settleByState(q *queue, tok lockToken, state any, now time.Time) error {
	switch st := state.(type) {
	case *amqp.Accepted:
		return q.settle(tok, outcomeComplete, nil, "", "", now)
	case *amqp.Released:
		return q.settle(tok, outcomeRelease, nil, "", "", now)
	case *amqp.Modified:
		props := annotationsToProps(st.MessageAnnotations)
		if st.UndeliverableHere {
			return q.settle(tok, outcomeDefer, props, "", "", now)
		}
		return q.settle(tok, outcomeAbandon, props, "", "", now)
	case *amqp.Rejected:
		var reason, desc string
		var props map[string]any
		if st.Error != nil {
			for k, v := range st.Error.Info {
				ks := fmt.Sprint(k)
				switch ks {
				case "DeadLetterReason":
					reason = fmt.Sprint(v)
				case "DeadLetterErrorDescription":
					desc = fmt.Sprint(v)
				default:
					if props == nil {
						props = map[string]any{}
					}
					props[ks] = v
				}
			}
		}
		return q.settle(tok, outcomeDeadLetter, props, reason, desc, now)
	case nil:
		return nil // settled without an outcome: treat as nothing happened; the lock will expire
	}
	return fmt.Errorf("unsupported outcome %T", state)
}

func annotationsToProps(m amqp.Map) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[fmt.Sprint(k)] = toGoAMQP(v)
	}
	return out
}

// toGoAMQP converts codec values to what go-amqp encodes.
func toGoAMQP(v any) any {
	switch x := v.(type) {
	case amqp.Symbol:
		return goamqp.Symbol(x)
	case amqp.UUID:
		return goamqp.UUID(x)
	}
	return v
}

// detach handles the client detaching a link.
func (s *session) detach(d *amqp.Detach) error {
	c := s.c
	c.mu.Lock()
	l := s.links[d.Handle]
	if l != nil {
		delete(s.links, d.Handle)
		c.links--
		if l.replyAddr != "" && c.replyTo[l.replyAddr] == l {
			delete(c.replyTo, l.replyAddr)
		}
		for id, x := range s.unsettled {
			if x.l == l {
				delete(s.unsettled, id)
			}
		}
	}
	answered := l != nil && l.detached
	c.mu.Unlock()
	if answered {
		l.detachFromEntity()
		return nil // the client's answer to our detach
	}
	if l != nil {
		l.detachFromEntity()
	}
	c.send(s.ch, &amqp.Detach{Handle: d.Handle, Closed: d.Closed})
	return nil
}

// detachLink closes one link with an error, leaving the rest of the connection
// alone. The handle stays reserved until the client answers with its detach,
// so frames it already sent on the link are ignored rather than fatal.
func (s *session) detachLink(l *link, e *amqp.Error) {
	c := s.c
	c.log.Warn("detaching link", "link", l.name, "err", e)
	c.mu.Lock()
	l.detached = true
	c.mu.Unlock()
	l.inBuf = nil
	l.detachFromEntity()
	c.send(s.ch, &amqp.Detach{Handle: l.handle, Closed: true, Error: e})
}

// sendReply queues a management reply on the client's reply link, waiting for credit if needed.
func (c *conn) sendReply(replyTo string, payload []byte) {
	c.mu.Lock()
	l := c.replyTo[replyTo]
	if l == nil {
		c.mu.Unlock()
		c.log.Warn("management reply dropped: no link for reply address", "replyTo", replyTo)
		return
	}
	l.pending = append(l.pending, payload)
	l.flushPendingLocked()
	c.mu.Unlock()
	c.signal()
}

func (l *link) flushPendingLocked() {
	for l.credit > 0 && len(l.pending) > 0 {
		p := l.pending[0]
		l.pending = l.pending[1:]
		l.credit--
		l.sent++
		l.s.queueDeliveryLocked(&outDelivery{l: l, settled: true, payload: p, tag: seqTag(int64(l.sent))})
	}
}

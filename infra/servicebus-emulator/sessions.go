package emulator

import (
	"container/heap"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Message sessions (RequiresSession): messages are grouped by SessionId and a
// session is held by one receiver at a time, which gets only its messages.

var (
	errSessionLocked    = errors.New("the session is locked by another receiver")
	errNoSession        = errors.New("no session is available")
	errSessionNotHeld   = errors.New("the session lock was lost or the session is not held")
	errNeedsSession     = errors.New("the entity requires sessions: use a session receiver")
	errNeedsSessionID   = errors.New("the entity requires sessions: the message has no SessionId")
	errNotSessionEntity = errors.New("the entity does not require sessions")
)

type msgSession struct {
	id          string
	ready       readyHeap
	owner       *consumer
	lockedUntil time.Time
	state       []byte
	updated     time.Time
}

// held reports whether a live receiver holds the session.
func (s *msgSession) held(now time.Time) bool {
	return s.owner != nil && !s.owner.closed && now.Before(s.lockedUntil)
}

// sessionWaiter is a receiver attaching to "the next available session".
type sessionWaiter struct {
	c     *consumer
	done  func(sid string, until time.Time, err error) // called once; may run with the queue locked
	timer *time.Timer
}

func (b *body) sessionID() string {
	if b.msg.Properties == nil || b.msg.Properties.GroupID == nil {
		return ""
	}
	return *b.msg.Properties.GroupID
}

func (q *queue) sessionLocked(id string, now time.Time) *msgSession {
	if q.sessions == nil {
		q.sessions = map[string]*msgSession{}
	}
	s := q.sessions[id]
	if s == nil {
		s = &msgSession{id: id, updated: now}
		q.sessions[id] = s
	}
	return s
}

// acceptSession binds c to a session: the named one, or with id nil the
// first free session with messages. When none is free and wait > 0, done is
// called later: when a session becomes free or with errNoSession after wait.
func (q *queue) acceptSession(c *consumer, id *string, wait time.Duration, now time.Time, done func(string, time.Time, error)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.props.RequiresSession {
		done("", time.Time{}, errNotSessionEntity)
		return
	}
	if id != nil {
		s := q.sessionLocked(*id, now)
		if s.held(now) {
			done("", time.Time{}, fmt.Errorf("%w: %q", errSessionLocked, *id))
			return
		}
		q.bindLocked(c, s, now)
		done(s.id, s.lockedUntil, nil)
		return
	}
	if s := q.freeSessionLocked(now); s != nil {
		q.bindLocked(c, s, now)
		done(s.id, s.lockedUntil, nil)
		return
	}
	if wait <= 0 {
		done("", time.Time{}, errNoSession)
		return
	}
	w := &sessionWaiter{c: c, done: done}
	q.waiting = append(q.waiting, w)
	w.timer = time.AfterFunc(wait, func() {
		q.mu.Lock()
		found := q.dropWaiterLocked(w)
		q.mu.Unlock()
		if found {
			done("", time.Time{}, errNoSession)
		}
	})
}

func (q *queue) dropWaiterLocked(w *sessionWaiter) bool {
	for i, x := range q.waiting {
		if x == w {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// freeSessionLocked picks the free session whose oldest message is oldest.
func (q *queue) freeSessionLocked(now time.Time) *msgSession {
	var best *msgSession
	for _, s := range q.sessions {
		if s.ready.Len() == 0 || s.held(now) {
			continue
		}
		if best == nil || s.ready[0].seq < best.ready[0].seq {
			best = s
		}
	}
	return best
}

func (q *queue) bindLocked(c *consumer, s *msgSession, now time.Time) {
	s.owner = c
	s.lockedUntil = now.Add(q.props.LockDuration)
	c.session = s
	q.consumers = append(q.consumers, c)
}

// wakeWaitersLocked gives free sessions to receivers waiting for one.
func (q *queue) wakeWaitersLocked(now time.Time) {
	for len(q.waiting) > 0 {
		s := q.freeSessionLocked(now)
		if s == nil {
			return
		}
		w := q.waiting[0]
		q.waiting = q.waiting[1:]
		w.timer.Stop()
		q.bindLocked(w.c, s, now)
		w.done(s.id, s.lockedUntil, nil)
	}
}

// releaseSessionLocked frees the session of a detaching receiver.
func (q *queue) releaseSessionLocked(c *consumer, now time.Time) {
	for _, w := range q.waiting {
		if w.c == c {
			w.timer.Stop()
			q.dropWaiterLocked(w)
			break
		}
	}
	if s := c.session; s != nil && s.owner == c {
		s.owner = nil
		s.lockedUntil = time.Time{}
		q.wakeWaitersLocked(now)
	}
}

// dispatchSessionsLocked feeds each session receiver from its own session.
func (q *queue) dispatchSessionsLocked(now time.Time) {
	for _, c := range q.consumers {
		s := c.session
		if s == nil || s.owner != c || c.closed {
			continue
		}
		for c.credit > 0 && s.ready.Len() > 0 {
			q.deliverLocked(c, heap.Pop(&s.ready).(*message), now)
		}
	}
}

func (q *queue) heldSessionLocked(id string, now time.Time) (*msgSession, error) {
	if !q.props.RequiresSession {
		return nil, errNotSessionEntity
	}
	s := q.sessions[id]
	if s == nil || !s.held(now) {
		return nil, fmt.Errorf("%w: %q", errSessionNotHeld, id)
	}
	return s, nil
}

func (q *queue) renewSession(id string, now time.Time) (time.Time, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.heldSessionLocked(id, now)
	if err != nil {
		return time.Time{}, err
	}
	s.lockedUntil = now.Add(q.props.LockDuration)
	return s.lockedUntil, nil
}

func (q *queue) sessionState(id string, now time.Time) ([]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.heldSessionLocked(id, now)
	if err != nil {
		return nil, err
	}
	return s.state, nil
}

func (q *queue) setSessionState(id string, state []byte, now time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.heldSessionLocked(id, now)
	if err != nil {
		return err
	}
	s.state = append([]byte(nil), state...)
	if state == nil {
		s.state = nil
	}
	s.updated = now
	q.changed()
	return nil
}

// messageSessions lists sessions with messages or state, sorted by id.
func (q *queue) messageSessions(skip, top int) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []string
	for id, s := range q.sessions {
		if s.ready.Len() > 0 || s.state != nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if skip >= len(ids) {
		return nil
	}
	ids = ids[skip:]
	if top > 0 && len(ids) > top {
		ids = ids[:top]
	}
	return ids
}

// dotNetTicks is a time as .NET ticks (100 ns since 0001-01-01), how Service
// Bus reports session lock expiry in an attach.
func dotNetTicks(t time.Time) int64 {
	return t.UnixNano()/100 + 621355968000000000
}

package emulator

import (
	"bufio"
	"container/heap"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// Persistence (the -data option) keeps messages across restarts: the whole
// state is written to one file, atomically (temp file + rename), whenever it
// changed, at most every saveInterval, and on Close. A crash loses at most
// the last interval. Locks do not survive a restart: locked messages come
// back available with their delivery count. Duplicate-detection history is
// not kept.

const (
	stateFile    = "sbemulator-state.gob"
	stateVersion = 1
	saveInterval = time.Second
)

type savedState struct {
	Version int
	Queues  map[string]*savedQueue // by lower-cased entity path
	Topics  map[string]*savedTopic
}

type savedQueue struct {
	Seq           int64
	Messages      []savedMessage
	Scheduled     []savedScheduled
	SessionStates map[string][]byte
}

type savedTopic struct {
	Seq       int64
	Scheduled []savedScheduled
}

type savedMessage struct {
	Raw           []byte
	Seq           int64
	Enqueued      time.Time
	ExpiresAt     time.Time
	DeliveryCount uint32
	Deferred      bool
	DLSource      string
}

type savedScheduled struct {
	Seq int64
	At  time.Time
	Raw []byte
}

// raw is the message as a sender would send it, for saving.
func (b *body) raw() ([]byte, error) {
	h := b.header
	m := goamqp.Message{Header: &h, Annotations: b.ann}
	enc, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(enc, b.rest...), nil
}

type store struct {
	path  string
	ns    *namespace
	log   *slog.Logger
	stop  chan struct{}
	wg    sync.WaitGroup
	saved uint64 // change counter at the last save
}

// openStore loads the saved state into ns and starts saving.
func openStore(dir string, ns *namespace, log *slog.Logger) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("servicebus emulator: data dir: %w", err)
	}
	st := &store{path: filepath.Join(dir, stateFile), ns: ns, log: log, stop: make(chan struct{})}
	if err := st.load(); err != nil {
		return nil, err
	}
	st.saved = ns.changes.Load()
	st.wg.Add(1)
	go st.run()
	return st, nil
}

func (st *store) run() {
	defer st.wg.Done()
	t := time.NewTicker(saveInterval)
	defer t.Stop()
	for {
		select {
		case <-st.stop:
			return
		case <-t.C:
			if err := st.saveIfChanged(); err != nil {
				st.log.Error("saving state", "err", err)
			}
		}
	}
}

func (st *store) close() error {
	close(st.stop)
	st.wg.Wait()
	return st.saveIfChanged()
}

func (st *store) saveIfChanged() error {
	n := st.ns.changes.Load()
	if n == st.saved {
		return nil
	}
	if err := st.save(); err != nil {
		return err
	}
	st.saved = n
	return nil
}

func (st *store) save() error {
	state := savedState{Version: stateVersion, Queues: map[string]*savedQueue{}, Topics: map[string]*savedTopic{}}
	for _, q := range st.ns.all {
		sq, err := q.save()
		if err != nil {
			return err
		}
		state.Queues[strings.ToLower(q.name)] = sq
	}
	for key, t := range st.ns.topics {
		t.mu.Lock()
		stp := &savedTopic{Seq: t.seq}
		sched, schedBodies := scheduledLocked(&t.sched)
		t.mu.Unlock()
		if err := encodeBodies(schedBodies, func(i int, raw []byte) { sched[i].Raw = raw }); err != nil {
			return err
		}
		stp.Scheduled = sched
		state.Topics[key] = stp
	}
	tmp := st.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = gob.NewEncoder(w).Encode(&state)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("servicebus emulator: save state: %w", err)
	}
	return os.Rename(tmp, st.path)
}

func (q *queue) save() (*savedQueue, error) {
	q.mu.Lock()
	sq := &savedQueue{Seq: q.seq}
	saved := make([]savedMessage, 0, len(q.msgs))
	bodies := make([]*body, 0, len(q.msgs))
	for _, m := range q.msgs {
		saved = append(saved, savedMessage{Seq: m.seq, Enqueued: m.enqueued, ExpiresAt: m.expiresAt, DeliveryCount: m.deliveryCount, Deferred: m.deferred, DLSource: m.dlSource})
		bodies = append(bodies, m.body)
	}
	for id, ms := range q.sessions {
		if ms.state != nil {
			if sq.SessionStates == nil {
				sq.SessionStates = map[string][]byte{}
			}
			sq.SessionStates[id] = ms.state
		}
	}
	sched, schedBodies := scheduledLocked(&q.sched)
	q.mu.Unlock()
	if err := encodeBodies(bodies, func(i int, raw []byte) { saved[i].Raw = raw }); err != nil {
		return nil, err
	}
	if err := encodeBodies(schedBodies, func(i int, raw []byte) { sched[i].Raw = raw }); err != nil {
		return nil, err
	}
	sq.Messages, sq.Scheduled = saved, sched
	return sq, nil
}

// scheduledLocked lists an entity's scheduled messages for saving, without
// their encoded bodies: those are encoded once the entity is unlocked.
func scheduledLocked(s *scheduler) ([]savedScheduled, []*body) {
	out := make([]savedScheduled, 0, len(s.bySeq))
	bodies := make([]*body, 0, len(s.bySeq))
	for _, e := range s.bySeq {
		out = append(out, savedScheduled{Seq: e.seq, At: e.at})
		bodies = append(bodies, e.body)
	}
	return out, bodies
}

// encodeBodies encodes bodies for saving, handing the i-th to set. Bodies
// are immutable, so this needs no entity lock: saving must not stall sends.
func encodeBodies(bodies []*body, set func(i int, raw []byte)) error {
	for i, b := range bodies {
		raw, err := b.raw()
		if err != nil {
			return err
		}
		set(i, raw)
	}
	return nil
}

func (st *store) load() error {
	f, err := os.Open(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("servicebus emulator: load state: %w", err)
	}
	defer f.Close()
	var state savedState
	if err := gob.NewDecoder(bufio.NewReader(f)).Decode(&state); err != nil {
		return fmt.Errorf("servicebus emulator: load state %s: %w", st.path, err)
	}
	if state.Version != stateVersion {
		return fmt.Errorf("servicebus emulator: state %s has version %d, want %d", st.path, state.Version, stateVersion)
	}
	byName := map[string]*queue{}
	for _, q := range st.ns.all {
		byName[strings.ToLower(q.name)] = q
	}
	restored := 0
	for name, sq := range state.Queues {
		q := byName[name]
		if q == nil {
			if len(sq.Messages) > 0 {
				st.log.Warn("saved messages dropped: entity no longer configured", "entity", name, "messages", len(sq.Messages))
			}
			continue
		}
		if err := q.restore(sq); err != nil {
			return fmt.Errorf("servicebus emulator: restore %s: %w", name, err)
		}
		restored += len(sq.Messages)
	}
	for name, stp := range state.Topics {
		t := st.ns.topics[name]
		if t == nil {
			continue
		}
		t.seq = stp.Seq
		for _, s := range stp.Scheduled {
			b, err := parseBody(s.Raw)
			if err != nil {
				return err
			}
			t.sched.add(s.Seq, s.At, b)
		}
	}
	st.log.Info("state restored", "path", st.path, "messages", restored)
	return nil
}

func (q *queue) restore(sq *savedQueue) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq = sq.Seq
	for id, st := range sq.SessionStates {
		q.sessionLocked(id, time.Now()).state = st
	}
	for _, s := range sq.Messages {
		b, err := parseBody(s.Raw)
		if err != nil {
			return err
		}
		m := newMessage(b, s.Seq, s.Enqueued)
		m.expiresAt, m.deliveryCount, m.deferred, m.dlSource = s.ExpiresAt, s.DeliveryCount, s.Deferred, s.DLSource
		q.msgs[m.seq] = m
		q.bytes += int64(b.size())
		if !m.expiresAt.IsZero() {
			q.expiries.fix(m)
		}
		if q.props.RequiresSession {
			m.sess = q.sessionLocked(b.sessionID(), time.Now())
		}
		if m.deferred {
			m.state = stateDeferred
		} else {
			heap.Push(q.readyOf(m), m)
		}
	}
	for _, s := range sq.Scheduled {
		b, err := parseBody(s.Raw)
		if err != nil {
			return err
		}
		q.sched.add(s.Seq, s.At, b)
	}
	return nil
}

// Package memstore is the in-memory twin of the Table Storage event store: the same semantics
// (checked by the eventstoretest conformance suite), for tests and local experiments.
package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"meterline/shared/eventstore"
)

// Store is an in-memory eventstore.Store and eventstore.StreamOutbox, safe for concurrent use.
type Store struct {
	// Now stamps events appended without CreatedAt; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	streams map[string]*stream
	pending map[mark]uint64 // outbox: event -> append sequence, for oldest-first order
	seq     uint64
	snaps   map[string]eventstore.Snapshot
}

type stream struct {
	events []eventstore.Event
	ids    map[string]int64 // event id -> version
}

type mark struct {
	stream  string
	version int64
}

var (
	_ eventstore.Store         = (*Store)(nil)
	_ eventstore.StreamOutbox  = (*Store)(nil)
	_ eventstore.SnapshotStore = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{streams: map[string]*stream{}, pending: map[mark]uint64{}, snaps: map[string]eventstore.Snapshot{}}
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, name string, expected eventstore.Expected, events ...eventstore.Event) (eventstore.Appended, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Appended{}, err
	}
	if expected < eventstore.Any {
		return eventstore.Appended{}, fmt.Errorf("%w: %d", eventstore.ErrInvalidExpected, expected)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	events, err := eventstore.Prepare(name, events, now())
	if err != nil {
		return eventstore.Appended{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[name]
	if st == nil {
		st = &stream{ids: map[string]int64{}}
	}
	version := int64(len(st.events))

	// Idempotency first: a retry of a stored append succeeds whatever the expected version.
	stored := 0
	for _, e := range events {
		if _, ok := st.ids[e.ID]; ok {
			stored++
		}
	}
	switch {
	case stored == len(events):
		return eventstore.Appended{Stream: name, FirstVersion: st.ids[events[0].ID], LastVersion: st.ids[events[len(events)-1].ID], Duplicate: true}, nil
	case stored > 0:
		return eventstore.Appended{}, fmt.Errorf("%w: stream %q", eventstore.ErrPartlyStored, name)
	}

	if expected != eventstore.Any && int64(expected) != version {
		from := max(int64(expected), 0)
		committed := []eventstore.Event{}
		if from < version {
			committed = cloneAll(st.events[from:])
		}
		return eventstore.Appended{}, &eventstore.ConflictError{Stream: name, Expected: expected, Actual: version, Committed: committed}
	}

	for i := range events {
		events[i].Version = version + int64(i) + 1
		st.ids[events[i].ID] = events[i].Version
		s.seq++
		s.pending[mark{name, events[i].Version}] = s.seq
	}
	st.events = append(st.events, events...)
	s.streams[name] = st
	return eventstore.Appended{Stream: name, FirstVersion: version + 1, LastVersion: version + int64(len(events))}, nil
}

// Read implements eventstore.Store.
func (s *Store) Read(ctx context.Context, name string, from int64) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStream(name); err != nil {
		return nil, err
	}
	from = max(from, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[name]
	if st == nil || from > int64(len(st.events)) {
		return nil, nil
	}
	return cloneAll(st.events[from-1:]), nil
}

// Pending implements eventstore.Outbox.
func (s *Store) Pending(ctx context.Context, limit int) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	marks := make([]mark, 0, len(s.pending))
	for m := range s.pending {
		marks = append(marks, m)
	}
	sort.Slice(marks, func(i, j int) bool { return s.pending[marks[i]] < s.pending[marks[j]] })
	if limit > 0 && len(marks) > limit {
		marks = marks[:limit]
	}
	out := make([]eventstore.Event, len(marks))
	for i, m := range marks {
		out[i] = clone(s.streams[m.stream].events[m.version-1])
	}
	return out, nil
}

// PendingIn implements eventstore.StreamOutbox.
func (s *Store) PendingIn(ctx context.Context, name string) ([]eventstore.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStream(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var versions []int64
	for m := range s.pending {
		if m.stream == name {
			versions = append(versions, m.version)
		}
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	out := make([]eventstore.Event, len(versions))
	for i, v := range versions {
		out[i] = clone(s.streams[name].events[v-1])
	}
	return out, nil
}

// MarkPublished implements eventstore.Outbox.
func (s *Store) MarkPublished(ctx context.Context, events ...eventstore.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		delete(s.pending, mark{e.Stream, e.Version})
	}
	return nil
}

func clone(e eventstore.Event) eventstore.Event {
	e.Data = append(json.RawMessage(nil), e.Data...)
	return e
}

func cloneAll(events []eventstore.Event) []eventstore.Event {
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		out[i] = clone(e)
	}
	return out
}

// SaveSnapshot implements eventstore.SnapshotStore.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := eventstore.ValidateSnapshot(snap); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var version int64
	if st := s.streams[snap.Stream]; st != nil {
		version = int64(len(st.events))
	}
	if snap.Version > version {
		return eventstore.SnapshotBeyondEnd(snap, version)
	}
	if old, ok := s.snaps[snap.Stream]; ok && old.Version > snap.Version {
		return nil
	}
	snap.Data = append(json.RawMessage(nil), snap.Data...)
	s.snaps[snap.Stream] = snap
	return nil
}

// LoadSnapshot implements eventstore.SnapshotStore.
func (s *Store) LoadSnapshot(ctx context.Context, name string) (eventstore.Snapshot, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Snapshot{}, false, err
	}
	if err := eventstore.ValidateStream(name); err != nil {
		return eventstore.Snapshot{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, ok := s.snaps[name]
	if !ok {
		return eventstore.Snapshot{}, false, nil
	}
	snap.Data = append(json.RawMessage(nil), snap.Data...)
	return snap, true, nil
}

var _ eventstore.Scanner = (*Store)(nil)

// Scan implements eventstore.Scanner: streams in name order, as the table store's partitions.
func (s *Store) Scan(ctx context.Context, fn func(eventstore.Event) error) error {
	s.mu.Lock()
	names := make([]string, 0, len(s.streams))
	for name := range s.streams {
		names = append(names, name)
	}
	s.mu.Unlock()
	sort.Strings(names)
	for _, name := range names {
		events, err := s.Read(ctx, name, 1)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

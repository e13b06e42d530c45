// Package aggregate runs commands on event-sourced aggregates: load an aggregate from its
// stream, run a command on it, append the events it makes with the expected version, and on a
// concurrent change merge or re-run (seed 001's DispatchAndMergeConflicts).
//
// An aggregate is any type with Apply(event any): it mutates its state from one past event and
// never fails. Commands are plain functions of the aggregate returning the new events (not yet
// applied) or a domain error; they never change the aggregate (Apply alone does).
//
// Snapshots: an aggregate whose stream grows long implements Snapshotter, and its Service gets
// a SnapshotStore. A load then reads the snapshot and only the events after it; after a command
// (or a load) that leaves SnapshotEvery events or more past the snapshot, the service saves a
// new one. A snapshot is only an optimisation: a missing one, one of another schema, one that
// cannot be read or restored, or a failing snapshot store, all make the service replay the
// whole stream, and a snapshot that cannot be saved is skipped (OnSnapshotError hears of it).
package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"meterline/shared/eventstore"
	"meterline/shared/telemetry"
)

// Root is an event-sourced aggregate.
type Root interface {
	Apply(event any)
}

// Service is the application-service helper for aggregates of type A.
type Service[A Root] struct {
	Store  eventstore.Store
	Events *eventstore.Registry
	Source string                // bounded context name, stamped on events
	New    func(stream string) A // an empty aggregate for a stream
	// Conflicts reports whether one of our new events conflicts with one committed concurrently.
	// nil: every concurrent event conflicts, so the command is re-run on fresh state.
	Conflicts   func(ours, theirs any) bool
	MaxAttempts int // default 5
	// Dispatch, if set, publishes the stored events right after the append (the outbox
	// dispatcher); its failures are left to the outbox sweep.
	Dispatch func(ctx context.Context, events []eventstore.Event)
	// FlushPending, if set, is called when a command changes nothing: a retry of a command
	// whose events were stored but not yet published gets them out now rather than at the
	// next sweep (the outbox dispatcher's AfterNoChange). Its failures are its own to log.
	FlushPending func(ctx context.Context, stream string)
	Now          func() time.Time // default time.Now

	// Snapshots, if set, keeps snapshots of the aggregates (A must implement Snapshotter).
	Snapshots eventstore.SnapshotStore
	// SnapshotEvery is how many events past the last snapshot make the service save a new
	// one; default 100. Lower means shorter replays and more snapshot writes.
	SnapshotEvery int
	// OnSnapshotError, if set, hears of snapshots that could not be read, used or saved (for
	// logging); the load or command goes on without them.
	OnSnapshotError func(ctx context.Context, stream string, err error)
}

// Snapshotter is an aggregate that can be saved as a snapshot and restored from one.
//
// Restore(Snapshot()) must give the state that replaying the same events gives: Snapshot must
// include everything Apply and the commands read (test it: snapshot+tail against a full
// replay after random commands).
type Snapshotter interface {
	// SnapshotSchema is the version of Snapshot's shape. Change it whenever that shape or the
	// meaning of the state changes: snapshots of another schema are ignored.
	SnapshotSchema() int
	// Snapshot returns the state to store, marshalled to JSON by the service.
	Snapshot() (any, error)
	// Restore sets the state of an aggregate fresh from New from Snapshot's JSON. An error
	// makes the service discard the aggregate and replay the stream.
	Restore(data []byte) error
}

// DefaultSnapshotEvery is SnapshotEvery's default.
const DefaultSnapshotEvery = 100

// ErrNotSnapshotter: Service.Snapshots is set for an aggregate type that is not a Snapshotter.
var ErrNotSnapshotter = errors.New("aggregate: Snapshots is set but the aggregate does not implement Snapshotter")

// Load reads stream and returns the aggregate with every event applied, and its version
// (0 for a stream that does not exist). An event of an unregistered type fails the load. With
// Snapshots it starts from the stream's snapshot, and saves a new one if the tail was long.
func (s *Service[A]) Load(ctx context.Context, stream string) (A, int64, error) {
	agg, version, snapshot, err := s.load(ctx, stream)
	if err == nil {
		s.saveSnapshot(ctx, stream, agg, version, snapshot)
	}
	return agg, version, err
}

// load returns the aggregate at its stream's version, and the version of the snapshot it
// started from (0 if none).
func (s *Service[A]) load(ctx context.Context, stream string) (A, int64, int64, error) {
	if s.Snapshots != nil {
		var zero A
		if _, ok := any(zero).(Snapshotter); !ok {
			return zero, 0, 0, fmt.Errorf("%w: %T", ErrNotSnapshotter, zero)
		}
		if agg, at, ok := s.restore(ctx, stream); ok {
			events, err := s.Store.Read(ctx, stream, at+1)
			if err != nil {
				return agg, 0, 0, err
			}
			if len(events) == 0 || events[0].Version == at+1 {
				version, err := s.apply(agg, at, events)
				return agg, version, at, err
			}
			s.snapshotFailed(ctx, stream, fmt.Errorf("aggregate: the events after the snapshot at %d start at %d", at, events[0].Version))
		}
	}
	agg, version, err := s.replay(ctx, stream)
	return agg, version, 0, err
}

// replay applies the whole stream to a new aggregate.
func (s *Service[A]) replay(ctx context.Context, stream string) (A, int64, error) {
	agg := s.New(stream)
	events, err := s.Store.Read(ctx, stream, 1)
	if err != nil {
		return agg, 0, err
	}
	version, err := s.apply(agg, 0, events)
	return agg, version, err
}

// restore returns a new aggregate restored from the stream's snapshot and its version; ok is
// false when there is no usable snapshot.
func (s *Service[A]) restore(ctx context.Context, stream string) (A, int64, bool) {
	agg := s.New(stream)
	snap, found, err := s.Snapshots.LoadSnapshot(ctx, stream)
	if err != nil || !found {
		if err != nil {
			s.snapshotFailed(ctx, stream, err)
		}
		return agg, 0, false
	}
	target := any(agg).(Snapshotter)
	if snap.SchemaVersion != target.SnapshotSchema() {
		s.snapshotFailed(ctx, stream, fmt.Errorf("%w: schema %d, the aggregate reads %d", ErrSnapshotSchema, snap.SchemaVersion, target.SnapshotSchema()))
		return agg, 0, false
	}
	if err := target.Restore(snap.Data); err != nil {
		s.snapshotFailed(ctx, stream, fmt.Errorf("aggregate: restore snapshot at %d: %w", snap.Version, err))
		return s.New(stream), 0, false // the half-restored one is garbage
	}
	return agg, snap.Version, true
}

// ErrSnapshotSchema: a stored snapshot of a schema the aggregate does not read (reported to
// OnSnapshotError; the stream is replayed and the next snapshot replaces it).
var ErrSnapshotSchema = errors.New("aggregate: snapshot of another schema")

// saveSnapshot saves agg at version if that is SnapshotEvery or more past the snapshot it
// started from, and reports whether it did. Failures are only reported to OnSnapshotError: a
// snapshot is an optimisation.
func (s *Service[A]) saveSnapshot(ctx context.Context, stream string, agg A, version, snapshot int64) bool {
	every := s.SnapshotEvery
	if every <= 0 {
		every = DefaultSnapshotEvery
	}
	if s.Snapshots == nil || version-snapshot < int64(every) {
		return false
	}
	source := any(agg).(Snapshotter) // checked by load
	state, err := source.Snapshot()
	if err != nil {
		s.snapshotFailed(ctx, stream, fmt.Errorf("aggregate: take snapshot: %w", err))
		return false
	}
	data, err := json.Marshal(state)
	if err != nil {
		s.snapshotFailed(ctx, stream, fmt.Errorf("aggregate: encode snapshot: %w", err))
		return false
	}
	err = s.Snapshots.SaveSnapshot(ctx, eventstore.Snapshot{Stream: stream, Version: version, SchemaVersion: source.SnapshotSchema(), Data: data})
	if err != nil {
		s.snapshotFailed(ctx, stream, err)
		return false
	}
	return true
}

func (s *Service[A]) snapshotFailed(ctx context.Context, stream string, err error) {
	if s.OnSnapshotError != nil {
		s.OnSnapshotError(ctx, stream, err)
	}
}

func (s *Service[A]) apply(agg A, version int64, events []eventstore.Event) (int64, error) {
	for _, e := range events {
		v, err := s.Events.Decode(e)
		if err != nil {
			return version, err
		}
		agg.Apply(v)
		version = e.Version
	}
	return version, nil
}

// Execute loads stream, runs command on the aggregate and appends the events it returns,
// expecting the version it loaded. On a concurrent append it rebases our events onto the new
// version when none of them Conflicts with the committed ones, otherwise applies the committed
// events and re-runs the command, at most MaxAttempts appends in all. It returns the stored
// events (nil if the command made none); domain errors of the command come back unchanged.
//
// With a command id in ctx (eventstore.WithCommandID) the event ids are deterministic, so
// executing the same command again after a success stores nothing twice. Either way a retry
// publishes what the first run stored but did not publish: a re-append of the same events is
// a duplicate that Dispatch gets, and a command that makes no changes calls FlushPending.
func (s *Service[A]) Execute(ctx context.Context, stream string, command func(A) ([]any, error)) (stored []eventstore.Event, err error) {
	ctx, span := telemetry.Start(ctx, "command "+s.Source, trace.SpanKindInternal, attribute.String("meterline.stream", stream))
	defer func() {
		span.SetAttributes(attribute.Int("meterline.events", len(stored)))
		telemetry.End(span, err)
	}()
	return s.execute(ctx, stream, command)
}

func (s *Service[A]) execute(ctx context.Context, stream string, command func(A) ([]any, error)) ([]eventstore.Event, error) {
	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	agg, version, snapshot, err := s.load(ctx, stream)
	if err != nil {
		return nil, err
	}
	if s.saveSnapshot(ctx, stream, agg, version, snapshot) {
		snapshot = version // before the command: a long tail is not read again if it fails
	}
	attempt := 0
	for {
		changes, err := command(agg)
		if err != nil {
			return nil, err
		}
		if len(changes) == 0 {
			// Perhaps a retry after a crash between append and publication (the events that
			// made this a no-op are stored but maybe unpublished): flush the stream.
			if s.FlushPending != nil {
				s.FlushPending(ctx, stream)
			}
			return nil, nil
		}
		events, err := s.Events.NewEvents(ctx, s.Source, stream, now(), changes...)
		if err != nil {
			return nil, err
		}
		for {
			attempt++
			app, err := s.append(ctx, stream, version, events)
			if err == nil {
				if app.Duplicate {
					// A re-run of a command that was stored already: hand back what is stored.
					if events, err = s.stored(ctx, stream, app); err != nil {
						return nil, err
					}
				}
				for i := range events {
					events[i].Version = app.FirstVersion + int64(i)
				}
				if s.Dispatch != nil {
					s.Dispatch(ctx, events)
				}
				if !app.Duplicate && app.FirstVersion == version+1 && s.Snapshots != nil {
					// Ours are the next events: with them applied, agg is at LastVersion.
					if last, err := s.apply(agg, version, events); err == nil {
						s.saveSnapshot(ctx, stream, agg, last, snapshot)
					}
				}
				return events, nil
			}
			var conflict *eventstore.ConflictError
			if !errors.As(err, &conflict) {
				return nil, err
			}
			if attempt >= attempts {
				return nil, fmt.Errorf("aggregate: %d attempts on %q: %w", attempt, stream, err)
			}
			if conflict.Actual < version {
				// The stream is behind the state we loaded, so that state came from a snapshot
				// beyond its stream (which stores refuse to save): replay and re-run.
				s.snapshotFailed(ctx, stream, fmt.Errorf("%w: the stream is at %d, the snapshot loaded was at %d or before", eventstore.ErrInvalidSnapshot, conflict.Actual, version))
				if agg, version, err = s.replay(ctx, stream); err != nil {
					return nil, err
				}
				snapshot = 0
				break
			}
			theirs := make([]any, 0, len(conflict.Committed))
			for _, e := range conflict.Committed {
				v, derr := s.Events.Decode(e)
				if derr != nil {
					return nil, derr
				}
				theirs = append(theirs, v)
			}
			// Catch up with what the others committed: the aggregate is now at their version.
			for _, v := range theirs {
				agg.Apply(v)
			}
			if len(conflict.Committed) > 0 {
				version = conflict.Committed[len(conflict.Committed)-1].Version
			} else {
				version = conflict.Actual
			}
			if s.Conflicts == nil || conflicts(s.Conflicts, changes, theirs) {
				break // re-run the command on the fresh state
			}
			// No conflict: the same events go on top of theirs (rebase).
		}
	}
}

func (s *Service[A]) stored(ctx context.Context, stream string, app eventstore.Appended) ([]eventstore.Event, error) {
	events, err := s.Store.Read(ctx, stream, app.FirstVersion)
	if err != nil {
		return nil, err
	}
	n := int(app.LastVersion - app.FirstVersion + 1)
	if len(events) < n {
		return nil, fmt.Errorf("aggregate: %q lost events %d..%d", stream, app.FirstVersion, app.LastVersion)
	}
	return events[:n], nil
}

func conflicts(rule func(ours, theirs any) bool, ours, theirs []any) bool {
	for _, o := range ours {
		for _, t := range theirs {
			if rule(o, t) {
				return true
			}
		}
	}
	return false
}

// append is one append attempt, in its own span.
func (s *Service[A]) append(ctx context.Context, stream string, version int64, events []eventstore.Event) (app eventstore.Appended, err error) {
	ctx, span := telemetry.Start(ctx, "append "+stream, trace.SpanKindClient, attribute.Int64("meterline.expected_version", version))
	defer func() { telemetry.End(span, err) }()
	return s.Store.Append(ctx, stream, eventstore.Exact(version), events...)
}

// Package aggregate runs commands on event-sourced aggregates: load an aggregate from its
// stream, run a command on it, append the events it makes with the expected version, and on a
// concurrent change merge or re-run (seed 001's DispatchAndMergeConflicts).
//
// An aggregate is any type with Apply(event any): it mutates its state from one past event and
// never fails. Commands are plain functions of the aggregate returning the new events (not yet
// applied) or a domain error.
package aggregate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"meterline/shared/eventstore"
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
	Now      func() time.Time // default time.Now
}

// Load reads stream and returns the aggregate with every event applied, and its version
// (0 for a stream that does not exist). An event of an unregistered type fails the load.
func (s *Service[A]) Load(ctx context.Context, stream string) (A, int64, error) {
	agg := s.New(stream)
	events, err := s.Store.Read(ctx, stream, 1)
	if err != nil {
		return agg, 0, err
	}
	version, err := s.apply(agg, 0, events)
	return agg, version, err
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
// executing the same command again after a success stores nothing twice.
func (s *Service[A]) Execute(ctx context.Context, stream string, command func(A) ([]any, error)) ([]eventstore.Event, error) {
	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	agg, version, err := s.Load(ctx, stream)
	if err != nil {
		return nil, err
	}
	attempt := 0
	for {
		changes, err := command(agg)
		if err != nil {
			return nil, err
		}
		if len(changes) == 0 {
			return nil, nil
		}
		events, err := s.Events.NewEvents(ctx, s.Source, stream, now(), changes...)
		if err != nil {
			return nil, err
		}
		for {
			attempt++
			app, err := s.Store.Append(ctx, stream, eventstore.Exact(version), events...)
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
				return events, nil
			}
			var conflict *eventstore.ConflictError
			if !errors.As(err, &conflict) {
				return nil, err
			}
			if attempt >= attempts {
				return nil, fmt.Errorf("aggregate: %d attempts on %q: %w", attempt, stream, err)
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

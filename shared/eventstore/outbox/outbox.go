// Package outbox moves appended events to the context's topic. The store marks every appended
// event as pending in the same transaction as the append; the Dispatcher publishes them right
// after the append and clears the marks, and its Sweep re-publishes whatever is still marked
// after a crash or a failed publish. FlushStream does the same for one stream at once, for a
// retried command that finds its work stored but not yet published.
//
// Delivery is at least once: an event can be published twice (a sweep racing a dispatch, a
// crash between publish and clear), always under the same message id (the event id), so
// consumers dedupe by event id.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"meterline/shared/eventstore"
	"meterline/shared/telemetry"
)

// Dispatcher publishes pending events and clears their marks. Safe for concurrent use if its
// Outbox and Publisher are.
type Dispatcher struct {
	Outbox eventstore.Outbox
	// Publisher sends the events to the context's topic; nil publishes nothing (a context on
	// its own, in tests).
	Publisher eventstore.Publisher
	// Local hands the events to the context's own projections, after they are published and
	// before their marks are cleared: the outbox is the one path by which a context's events
	// reach its own views, so a failure leaves them marked for the sweep as a failed publish
	// does. Optional.
	Local func(ctx context.Context, events []eventstore.Event) error
	// Now is the sweep's clock; default time.Now.
	Now func() time.Time
	// SweepLimit caps the events one Sweep handles (the rest wait for the next); default 1000.
	SweepLimit int
	// Log reports the failures of AfterAppend and AfterNoChange; default slog.Default().
	Log *slog.Logger
}

// publishChunk is how many events one Publish call carries.
const publishChunk = 100

// Dispatch publishes events (just appended), hands them to Local, and clears their marks.
func (d *Dispatcher) Dispatch(ctx context.Context, events []eventstore.Event) error {
	for start := 0; start < len(events); start += publishChunk {
		chunk := events[start:min(start+publishChunk, len(events))]
		if d.Publisher != nil {
			if err := d.Publisher.Publish(ctx, chunk...); err != nil {
				return fmt.Errorf("outbox: publish: %w", err)
			}
			for _, e := range chunk {
				telemetry.RecordLag(ctx, "meterline.outbox.lag", e.CreatedAt, attribute.String("source", e.Source))
			}
		}
		if d.Local != nil {
			if err := d.Local(ctx, chunk); err != nil {
				return fmt.Errorf("outbox: own projections: %w", err)
			}
		}
		if err := d.Outbox.MarkPublished(ctx, chunk...); err != nil {
			return fmt.Errorf("outbox: clear marks: %w", err)
		}
	}
	return nil
}

// AfterAppend is Dispatch for aggregate.Service.Dispatch: a failure is logged and left to the
// sweep (the events stay marked), never failing the command that already stored its events.
func (d *Dispatcher) AfterAppend(ctx context.Context, events []eventstore.Event) {
	if err := d.Dispatch(ctx, events); err != nil {
		d.logger().WarnContext(ctx, "events left to the outbox sweep", "error", err, "events", len(events))
	}
}

// FlushStream publishes whatever is still pending in stream and clears the marks, if the
// Outbox is an eventstore.StreamOutbox (otherwise it does nothing and leaves them to the
// sweep). It is for a command that changed nothing: when that command is a retry of one
// whose events were stored but never published (the process died in between), they go out
// now rather than at the next sweep. Racing a dispatch of the same events only publishes
// them twice, which consumers absorb.
func (d *Dispatcher) FlushStream(ctx context.Context, stream string) error {
	so, ok := d.Outbox.(eventstore.StreamOutbox)
	if !ok {
		return nil
	}
	pending, err := so.PendingIn(ctx, stream)
	if err != nil {
		return fmt.Errorf("outbox: pending in %q: %w", stream, err)
	}
	return d.Dispatch(ctx, pending)
}

// AfterNoChange is FlushStream for aggregate.Service.FlushPending: like AfterAppend, a
// failure is logged and left to the sweep.
func (d *Dispatcher) AfterNoChange(ctx context.Context, stream string) {
	if err := d.FlushStream(ctx, stream); err != nil {
		d.logger().WarnContext(ctx, "events left to the outbox sweep", "error", err, "stream", stream)
	}
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// DefaultSweepAge is the age under which a sweep leaves a pending event alone: its dispatch
// right after the append is probably still under way.
const DefaultSweepAge = 10 * time.Second

// Sweep publishes the pending events created more than olderThan ago (younger ones are
// probably being dispatched right now) and clears their marks. It returns how many it
// published. Run it on a timer; running it beside Dispatch is safe.
func (d *Dispatcher) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	limit := d.SweepLimit
	if limit <= 0 {
		limit = 1000
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	cutoff := now().Add(-olderThan)
	pending, err := d.Outbox.Pending(ctx, limit)
	if err != nil {
		return 0, fmt.Errorf("outbox: sweep: %w", err)
	}
	due := pending[:0]
	for _, e := range pending {
		if !e.CreatedAt.After(cutoff) {
			due = append(due, e)
		}
	}
	published := 0
	var failed []error
	for start := 0; start < len(due); start += publishChunk {
		chunk := due[start:min(start+publishChunk, len(due))]
		if err := d.Dispatch(ctx, chunk); err == nil {
			published += len(chunk)
			continue
		}
		// One by one, so that an event that cannot be published (too large for a message)
		// does not hold back the others; it stays marked and is reported.
		for _, e := range chunk {
			if err := d.Dispatch(ctx, []eventstore.Event{e}); err != nil {
				failed = append(failed, fmt.Errorf("event %s (%q@%d): %w", e.ID, e.Stream, e.Version, err))
				continue
			}
			published++
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(failed) > 0 {
		return published, fmt.Errorf("outbox: sweep: %d events not published: %w", len(failed), errors.Join(failed...))
	}
	return published, nil
}

// RunSweep is the outbox sweep as a task (blocks.Task's Run, on the OutboxSweep timer of every
// context that publishes): it sweeps what is older than DefaultSweepAge and logs how many
// events it republished.
func (d *Dispatcher) RunSweep(ctx context.Context) error {
	n, err := d.Sweep(ctx, DefaultSweepAge)
	if n > 0 {
		d.logger().InfoContext(ctx, "outbox sweep republished events", "events", n)
	}
	return err
}

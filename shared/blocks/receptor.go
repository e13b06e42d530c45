package blocks

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
	"meterline/shared/telemetry"
)

// Receptor is seed 001's event receptor: when an event it wants arrives, it sends a command.
//
// When runs with the event's correlation id, the event as causation, and a command id derived
// from the receptor and the event, so that a redelivered or duplicated event stores nothing
// twice. When may set its own command id (eventstore.WithCommandID) when the command's identity
// is in the fact rather than in the event (two events about one report bill it once).
type Receptor[F any] struct {
	Name   string // the function, e.g. "ApplyUsage"
	Source Source[F]
	When   func(ctx context.Context, e Event[F]) error
}

// Register registers the receptor's Service Bus function (none when it has no topic).
func (r Receptor[F]) Register(a *funcapp.App) {
	r.Source.check(r.Name)
	if r.When == nil {
		panic(fmt.Sprintf("blocks: receptor %s has no When", r.Name))
	}
	if r.Source.Topic != "" {
		listen(a, r.Name, r.Source, r.Handle)
	}
}

// Handle runs the receptor on one event; types it does not want are ignored.
func (r Receptor[F]) Handle(ctx context.Context, e eventstore.Event) (err error) {
	ev, wanted, err := r.Source.event(e)
	if !wanted || err != nil {
		return err
	}
	ctx, span := telemetry.Start(ctx, "receptor "+r.Name, trace.SpanKindInternal, eventAttributes(e)...)
	defer func() { telemetry.End(span, err) }()
	ctx = eventstore.WithCommandID(eventstore.HandlingEvent(ctx, e), r.Name+":"+e.ID)
	return r.When(ctx, ev)
}

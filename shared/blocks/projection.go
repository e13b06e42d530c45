package blocks

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
	"meterline/shared/telemetry"
	"meterline/shared/views"
)

// StreamReader reads a stream from a version on (an eventstore.Store does).
type StreamReader interface {
	Read(ctx context.Context, stream string, from int64) ([]eventstore.Event, error)
}

// Projection is seed 001's view projection: each event it wants changes one document, chosen
// by Key, through When.
//
// It is idempotent by construction: a document applies each (stream, version) once, so a
// redelivered or duplicated event changes nothing. Order:
//
//   - With Store set (the context's own events), a stream's events are applied in version
//     order: an event past a gap first brings the document up to date from the store, so When
//     may be written as a plain left fold.
//   - Without (another context's events, which arrive in any order and, filtered to the wanted
//     types, with gaps), When must be order-free: facts that are set once, sums, and values
//     that the newest version wins (compare e.Version). projectiontest checks this for every
//     projection by applying its events in many orders, with duplicates.
type Projection[F, D any] struct {
	Name   string // the function, e.g. "ReplicateAccess"
	Source Source[F]
	Docs   *views.Docs[D] // D embeds views.Tracked
	// Key is the document e changes; "" for none.
	Key  func(e Event[F]) string
	When func(doc *D, e Event[F])
	// Store, for a projection of the context's own streams, fills gaps in stream order.
	Store StreamReader
	// After runs once the document is up to date (changed or not, so that a redelivery repairs a
	// crash between the two writes), e.g. to mirror it into an index keyed otherwise. Optional;
	// not called for tombstones.
	After func(ctx context.Context, key string, doc D) error
	// Indexes are the collections After writes: a rebuild drops them with Docs, and After fills
	// them again.
	Indexes []Collection
}

// Collection is a document collection a rebuild empties (a *views.Docs of any type).
type Collection interface {
	Name() string
	Drop(ctx context.Context) (int, error)
}

// Register registers the projection's Service Bus function (none when it has no topic).
func (p Projection[F, D]) Register(a *funcapp.App) {
	p.Source.check(p.Name)
	if p.Docs == nil || p.Key == nil || p.When == nil {
		panic(fmt.Sprintf("blocks: projection %s needs Docs, Key and When", p.Name))
	}
	if _, ok := any(new(D)).(views.Tracker); !ok {
		panic(fmt.Sprintf("blocks: projection %s: its document %T does not embed views.Tracked", p.Name, *new(D)))
	}
	if p.Source.Topic != "" {
		listen(a, p.Name, p.Source, p.Handle)
	}
	collections := []string{p.Docs.Name()}
	for _, c := range p.Indexes {
		collections = append(collections, c.Name())
	}
	a.AddView(funcapp.View{Name: p.Name, App: a.Name, Topic: p.Source.Topic, Types: p.Source.Types, InStreams: p.Store != nil,
		Collections: collections, Rebuild: p.Rebuild})
}

// Handle applies one event; types it does not want are ignored.
func (p Projection[F, D]) Handle(ctx context.Context, e eventstore.Event) (err error) {
	ev, wanted, err := p.Source.event(e)
	if !wanted || err != nil {
		return err
	}
	key := p.Key(ev)
	if key == "" {
		return nil
	}
	ctx, span := telemetry.Start(ctx, "projection "+p.Name, trace.SpanKindInternal, eventAttributes(e)...)
	defer func() {
		telemetry.End(span, err)
		if err == nil {
			telemetry.RecordLag(ctx, "meterline.projection.lag", e.CreatedAt, attribute.String("projection", p.Name))
		}
	}()
	if p.Store != nil {
		return p.catchUp(ctx, key, ev)
	}
	doc, err := p.Docs.Update(ctx, key, func(d *D) error { p.apply(d, ev); return nil })
	return p.after(ctx, key, doc, err)
}

// Get returns the document at key; false when there is none or it was deleted.
func (p Projection[F, D]) Get(ctx context.Context, key string) (D, bool, error) {
	doc, ok, err := p.Docs.Get(ctx, key)
	if err != nil || !ok || trackedOf(&doc).Deleted {
		var zero D
		return zero, false, err
	}
	return doc, true, nil
}

func (p Projection[F, D]) apply(d *D, e Event[F]) {
	t := trackedOf(d)
	if !t.Applies(e.Stream, e.Version) {
		return
	}
	p.When(d, e)
	if t.Deleted {
		// A tombstone keeps nothing else, so that it is the same whatever reached it first.
		var zero D
		*d = zero
		trackedOf(d).Deleted = true
		return
	}
	t.Mark(e.Stream, e.Version)
}

// catchUp applies, in order, every event of e's stream after the document's last contiguous
// version, up to e (and past it, when the store already has more). Events of the stream that
// are not for this document only have their version recorded, so that the versions stay
// contiguous.
func (p Projection[F, D]) catchUp(ctx context.Context, key string, e Event[F]) error {
	doc, _, err := p.Docs.Get(ctx, key)
	if err != nil {
		return err
	}
	from := trackedOf(&doc).Applied[e.Stream].Contiguous() + 1
	if e.Version < from {
		return p.after(ctx, key, doc, nil) // applied already
	}
	stored, err := p.Store.Read(ctx, e.Stream, from)
	if err != nil {
		return err
	}
	type step struct {
		e       Event[F]
		forThis bool
	}
	steps := make([]step, 0, len(stored))
	for _, s := range stored {
		ev, wanted, err := p.Source.event(s)
		if err != nil {
			return fmt.Errorf("projection %s: %s@%d: %w", p.Name, s.Stream, s.Version, err)
		}
		steps = append(steps, step{Event[F]{Event: s, Fact: ev.Fact}, wanted && p.Key(ev) == key})
	}
	doc, err = p.Docs.Update(ctx, key, func(d *D) error {
		for _, s := range steps {
			if s.forThis {
				p.apply(d, s.e)
			} else if t := trackedOf(d); !t.Deleted {
				t.Mark(s.e.Stream, s.e.Version)
			}
		}
		return nil
	})
	return p.after(ctx, key, doc, err)
}

func (p Projection[F, D]) after(ctx context.Context, key string, doc D, err error) error {
	if err != nil || p.After == nil || trackedOf(&doc).Deleted {
		return err
	}
	return p.After(ctx, key, doc)
}

func trackedOf[D any](d *D) *views.Tracked { return any(d).(views.Tracker).Tracking() }

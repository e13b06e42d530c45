package funcapp

import (
	"context"
	"fmt"
	"iter"

	"meterline/shared/eventstore"
)

// View is a read model that one of the app's functions keeps, as the operations tools see it:
// where its events come from, and how to fold it again from scratch. package blocks registers
// one for each projection (blocks.Projection), so that every context can be rebuilt without a
// list kept by hand. The runtime itself never uses them.
type View struct {
	Name string // the projection, e.g. "ReplicateAccounts"
	App  string // the bounded context that keeps it
	// Topic the events arrive on; "" for the context's own streams (fed by its outbox).
	Topic string
	Types []string // the event types it folds (or blocks.EveryType)
	// InStreams: the view reads its streams in order (blocks.Projection.Store), so a rebuild
	// must be given every event of its streams, not only the wanted types.
	InStreams bool
	// Collections are the document collections it writes (its own and its indexes).
	Collections []string
	// Rebuild drops the collections and folds events into them afresh; progress, if set, hears
	// how many events were read and documents written so far.
	Rebuild func(ctx context.Context, events iter.Seq2[eventstore.Event, error], progress func(Progress)) (RebuildStats, error)
}

// Progress is how far a rebuild is.
type Progress struct {
	Events    int // events read
	Written   int // documents written
	Documents int // documents to write (known once every event is read)
}

// RebuildStats is what a rebuild did.
type RebuildStats struct {
	Events    int // events read
	Applied   int // events folded into a document
	Skipped   int // events that cannot be applied (the live projection dead-letters them)
	Documents int // documents written (tombstones included)
	Dropped   int // documents deleted first
}

// AddView registers a view. Two views of one name are a programming error and panic.
func (a *App) AddView(v View) {
	for _, existing := range a.views {
		if existing.App == v.App && existing.Name == v.Name {
			panic(fmt.Sprintf("funcapp: view %s.%s registered twice", v.App, v.Name))
		}
	}
	if v.Rebuild == nil {
		panic(fmt.Sprintf("funcapp: view %s.%s has no Rebuild", v.App, v.Name))
	}
	a.views = append(a.views, v)
}

// Views lists the registered views in registration order.
func (a *App) Views() []View { return append([]View(nil), a.views...) }

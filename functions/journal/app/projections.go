package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"meterline/functions/journal/acl"
	"meterline/functions/journal/domain"
	"meterline/functions/journal/store"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/telemetry"
	"meterline/shared/views"

	"go.opentelemetry.io/otel/attribute"
)

// EventSource reads the Journal in received order (*Reader does).
type EventSource interface {
	ByTypes(ctx context.Context, types []string, after store.Position, before time.Time, limit int) ([]store.Record, bool, error)
}

// Folded is what a checkpointed projection keeps in each document, beside the view: the
// position of the last event the document took. Embed it in the document type.
type Folded struct {
	Through string `json:"through,omitempty"`
}

// Folding gives the projection the document's bookkeeping.
func (f *Folded) Folding() *Folded { return f }

// Folder is a document that embeds Folded.
type Folder interface{ Folding() *Folded }

// Checkpoint is a projection's progress: every event of its types received before Through
// (a store.Position key) is in its documents; Horizon is the stable horizon of its last run.
type Checkpoint struct {
	Through string    `json:"through"`
	Horizon time.Time `json:"horizon"`
	Events  int64     `json:"events"`  // read, over all runs
	Skipped int64     `json:"skipped"` // malformed, or for no document
}

// Checkpointed is seed 003's projection: run by a timer, it reads the events of Types received
// after its checkpoint and before the stable horizon (a run's now minus the grace period, and
// never past an ingest in flight), in received order, and folds each into the document Key
// names, through When. Since the order is the Journal's received order, an event created long
// before others but received after them (a late event) is simply further on: never skipped.
//
// Each document keeps the position of the last event it took (Folded) in the same write as
// the view, and the checkpoint moves after the documents: a run that dies between the two
// leaves the checkpoint behind, and the next run skips, document by document, what each took
// already. Two overlapping runs are as harmless: a document takes an event once, and the
// checkpoint only moves forward.
type Checkpointed[F, D any] struct {
	Name      string
	Types     []string
	Translate func(eventstore.Event) (F, error) // the ACL; an error wrapping blocks.ErrMalformed skips the event
	Key       func(F) string                    // the document; "" for none
	When      func(doc *D, fact F, r store.Record)
	Docs      *views.Docs[D] // D embeds Folded
	// Checkpoints is the collection of the projections' checkpoints (one document each).
	Checkpoints *views.Docs[Checkpoint]
	// Batch is how many events a step reads; default 500.
	Batch int
}

// ProjectionName names the projection (for the task's log).
func (p Checkpointed[F, D]) ProjectionName() string { return p.Name }

// Get returns the document at key; false if there is none.
func (p Checkpointed[F, D]) Get(ctx context.Context, key string) (D, bool, error) {
	if views.CheckKey(key) != nil {
		var zero D
		return zero, false, nil
	}
	return p.Docs.Get(ctx, key)
}

// Checkpoint returns the projection's progress.
func (p Checkpointed[F, D]) Checkpoint(ctx context.Context) (Checkpoint, error) {
	cp, _, err := p.Checkpoints.Get(ctx, p.Name)
	return cp, err
}

// docWorkers bounds the documents written at once.
const docWorkers = 8

// Run folds in every event of its types received after the checkpoint and before horizon. It
// returns how many events it read.
func (p Checkpointed[F, D]) Run(ctx context.Context, src EventSource, horizon time.Time) (int, error) {
	if _, ok := any(new(D)).(Folder); !ok {
		return 0, fmt.Errorf("projection %s: its document %T does not embed app.Folded", p.Name, *new(D))
	}
	batch := p.Batch
	if batch <= 0 {
		batch = 500
	}
	cp, err := p.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	var after store.Position
	if cp.Through != "" {
		if after, err = store.ParsePosition(cp.Through); err != nil {
			return 0, fmt.Errorf("projection %s: checkpoint: %w", p.Name, err)
		}
	}
	folded := 0
	for {
		recs, more, err := src.ByTypes(ctx, p.Types, after, horizon, batch)
		if err != nil {
			return folded, err
		}
		applied, skipped, err := p.fold(ctx, recs)
		if err != nil {
			return folded, err
		}
		folded += applied
		if len(recs) > 0 {
			last := recs[len(recs)-1]
			after = last.Position()
			// Checkpoint lag: how long ago the newest event folded in reached the Journal.
			telemetry.RecordLag(ctx, "meterline.journal.checkpoint.lag", last.ReceivedAt, attribute.String("projection", p.Name))
		}
		// Moved even when nothing was read: the horizon says how complete the documents are.
		if _, err := p.Checkpoints.Update(ctx, p.Name, func(c *Checkpoint) error {
			if c.Through < after.Key() {
				c.Through = after.Key()
				c.Events += int64(applied)
				c.Skipped += int64(skipped)
			}
			if horizon.After(c.Horizon) {
				c.Horizon = horizon
			}
			return nil
		}); err != nil {
			return folded, err
		}
		if !more {
			return folded, nil
		}
	}
}

type step[F any] struct {
	fact F
	rec  store.Record
}

// fold applies recs (in received order) to their documents, each document in one write.
func (p Checkpointed[F, D]) fold(ctx context.Context, recs []store.Record) (applied, skipped int, err error) {
	groups := map[string][]step[F]{}
	var keys []string
	for _, r := range recs {
		fact, err := p.Translate(r.Event)
		if errors.Is(err, blocks.ErrMalformed) {
			skipped++ // kept in the Journal, as everything is; there is just nothing to fold
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		key := p.Key(fact)
		if key == "" || views.CheckKey(key) != nil {
			skipped++
			continue
		}
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], step[F]{fact, r})
	}
	errs := make([]error, len(keys))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(docWorkers, len(keys)) {
		wg.Go(func() {
			for i := range next {
				_, errs[i] = p.Docs.Update(ctx, keys[i], func(d *D) error {
					f := any(d).(Folder).Folding()
					for _, s := range groups[keys[i]] {
						if k := s.rec.Position().Key(); k > f.Through {
							p.When(d, s.fact, s.rec)
							f.Through = k
						}
					}
					return nil
				})
			}
		})
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	return len(recs) - skipped, skipped, errors.Join(errs...)
}

// CustomerMonth is the monthly report document: the report and the projection's bookkeeping.
type CustomerMonth struct {
	domain.MonthlyReport
	Folded
}

// MonthlyReports is the monthly revenue-and-usage report per customer, from the Cloud API's
// usage reports and Subscriptions' consumption, charges, invoices and payments (acl.ReportTypes).
func MonthlyReports(docs *views.Docs[CustomerMonth], checkpoints *views.Docs[Checkpoint]) Checkpointed[domain.Movement, CustomerMonth] {
	return Checkpointed[domain.Movement, CustomerMonth]{
		Name:        "MonthlyReports",
		Types:       acl.ReportTypes,
		Translate:   acl.MovementFrom,
		Key:         func(m domain.Movement) string { return ReportKey(m.CustomerID, m.Month) },
		When:        func(d *CustomerMonth, m domain.Movement, _ store.Record) { d.Apply(m) },
		Docs:        docs,
		Checkpoints: checkpoints,
	}
}

// ReportKey is the document of a customer's month.
func ReportKey(customerID, month string) string { return customerID + "/" + month }

package blocks

import (
	"cmp"
	"context"
	"iter"
	"slices"
	"sync"

	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
	"meterline/shared/views"
)

// Rebuild drops the projection's documents (Docs and Indexes) and folds events into fresh
// ones, the way the live projection folds them: each (stream, version) once, the same When,
// tombstones kept. Documents are folded in memory and written once each, in bulk; After then
// runs for every document, filling the indexes. An event that cannot be applied (malformed, or
// a key no document can have) is counted as skipped: the live projection dead-letters it.
//
// events is every event the projection may want, in any order (received order from the
// Journal, stream by stream from an event store); types it does not want are passed over. A
// projection with Store is given every event of its streams, whatever the type: it records the
// versions it passes, as its live catch-up does.
//
// Read models are disposable (seed 004): nothing is dropped until every event has been read
// and folded, so a failing source leaves the old documents in place. Events applied live while
// the documents are written may be overwritten; a replay of that window applies them again.
func (p Projection[F, D]) Rebuild(ctx context.Context, events iter.Seq2[eventstore.Event, error], progress func(funcapp.Progress)) (funcapp.RebuildStats, error) {
	if progress == nil {
		progress = func(funcapp.Progress) {}
	}
	docs, stats, err := p.fold(events, progress)
	if err != nil {
		return stats, err
	}
	for _, c := range append([]Collection{p.Docs}, p.Indexes...) {
		n, err := c.Drop(ctx)
		if err != nil {
			return stats, err
		}
		stats.Dropped += n
	}
	entries := make([]views.Entry[D], 0, len(docs))
	for key, d := range docs {
		entries = append(entries, views.Entry[D]{Key: key, Doc: *d})
	}
	slices.SortFunc(entries, func(a, b views.Entry[D]) int { return cmp.Compare(a.Key, b.Key) })
	const chunk = 1000 // documents between two progress reports
	for i := 0; i < len(entries); i += chunk {
		if err := p.Docs.PutAll(ctx, entries[i:min(i+chunk, len(entries))]); err != nil {
			return stats, err
		}
		stats.Documents = min(i+chunk, len(entries))
		progress(funcapp.Progress{Events: stats.Events, Written: stats.Documents, Documents: len(entries)})
	}
	return stats, p.afterAll(ctx, entries)
}

// fold applies events to documents in memory.
func (p Projection[F, D]) fold(events iter.Seq2[eventstore.Event, error], progress func(funcapp.Progress)) (map[string]*D, funcapp.RebuildStats, error) {
	var stats funcapp.RebuildStats
	docs := map[string]*D{}
	doc := func(key string) *D {
		d := docs[key]
		if d == nil {
			d = new(D)
			docs[key] = d
		}
		return d
	}
	type step struct {
		e   Event[F]
		key string // "" when not for any document
	}
	streams := map[string][]step{} // Store projections: every event of each stream
	for e, err := range events {
		if err != nil {
			return nil, stats, err
		}
		stats.Events++
		if stats.Events%1000 == 0 {
			progress(funcapp.Progress{Events: stats.Events})
		}
		ev, wanted, err := p.Source.event(e)
		key := ""
		switch {
		case wanted && err != nil:
			stats.Skipped++
		case wanted:
			if key = p.Key(ev); key != "" && views.CheckKey(key) != nil {
				stats.Skipped++
				key = ""
			}
		}
		if p.Store != nil {
			ev.Event = e
			streams[e.Stream] = append(streams[e.Stream], step{ev, key})
			continue
		}
		if key != "" {
			p.apply(doc(key), ev)
			stats.Applied++
		}
	}
	for _, steps := range streams {
		slices.SortFunc(steps, func(a, b step) int { return cmp.Compare(a.e.Version, b.e.Version) })
		last := map[string]int{} // key -> index of its last event in the stream
		for i, s := range steps {
			if s.key != "" {
				last[s.key] = i
			}
		}
		for key, end := range last {
			d := doc(key)
			// As catchUp: the document's events applied, the stream's others passed, up to its last.
			for _, s := range steps[:end+1] {
				if s.key == key {
					p.apply(d, s.e)
					stats.Applied++
				} else if t := trackedOf(d); !t.Deleted {
					t.Mark(s.e.Stream, s.e.Version)
				}
			}
		}
	}
	progress(funcapp.Progress{Events: stats.Events, Documents: len(docs)})
	return docs, stats, nil
}

// afterAll runs After for every live document, a few at a time (After runs concurrently live
// too).
func (p Projection[F, D]) afterAll(ctx context.Context, entries []views.Entry[D]) error {
	if p.After == nil {
		return nil
	}
	work := make(chan views.Entry[D])
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range 8 {
		wg.Go(func() {
			for e := range work {
				if err := p.after(ctx, e.Key, e.Doc, nil); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, e := range entries {
		work <- e
	}
	close(work)
	wg.Wait()
	return first
}

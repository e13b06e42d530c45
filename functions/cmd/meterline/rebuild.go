package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"meterline/functions/internal/apps"
	"meterline/functions/internal/topology"
	"meterline/functions/journal/store"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
)

// Where a rebuild reads its events.
const (
	fromStreams = "streams" // the event store of the context that writes them
	fromJournal = "journal" // the Journal: every event of every context
)

func rebuild(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	from := fs.String("from", fromStreams, "where the events come from: streams (the writing context's event store) or journal")
	list := fs.Bool("list", false, "list the views")
	settingsPath := settingsFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	all, err := definedViews()
	if err != nil {
		return err
	}
	if *list {
		for _, v := range all {
			fmt.Fprintf(stdout, "%s.%s\t%s\n", v.App, v.Name, strings.Join(v.Collections, ", "))
		}
		return nil
	}
	if *from != fromStreams && *from != fromJournal {
		return usage("rebuild: --from %q: want %s or %s", *from, fromStreams, fromJournal)
	}
	if fs.NArg() == 0 {
		return usage("rebuild: name a VIEW (a context, or context.Projection; --list shows them)")
	}
	// Every name is checked before anything connects or changes.
	var chosen []funcapp.View
	for _, name := range fs.Args() {
		vs, err := selectViews(all, name)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if !slices.ContainsFunc(chosen, func(c funcapp.View) bool { return c.App == v.App && c.Name == v.Name }) {
				chosen = append(chosen, v)
			}
		}
	}
	setting, err := loadSettings(*settingsPath, env)
	if err != nil {
		return err
	}
	tp, err := apps.Topology()
	if err != nil {
		return err
	}
	started := time.Now()
	for _, v := range chosen {
		if err := rebuildView(ctx, v, *from, tp.Topics, setting, stdout, stderr); err != nil {
			return fmt.Errorf("rebuild %s.%s: %w", v.App, v.Name, err)
		}
	}
	// Documents written while a live projection applied a newer event may have lost it.
	fmt.Fprintf(stdout, "to re-apply what arrived meanwhile: meterline replay --to <context> --since %s\n", started.UTC().Format(time.RFC3339))
	return nil
}

// definedViews are the views every context registers, defined without connecting.
func definedViews() ([]funcapp.View, error) {
	a, err := apps.Define(apps.All)
	if err != nil {
		return nil, err
	}
	return a.Views(), nil
}

// selectViews is what a VIEW argument names: a context's views, or one of them.
func selectViews(all []funcapp.View, name string) ([]funcapp.View, error) {
	ctxName, projection, one := strings.Cut(name, ".")
	var out []funcapp.View
	for _, v := range all {
		if v.App == ctxName && (!one || strings.EqualFold(v.Name, projection)) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		var names []string
		for _, v := range all {
			names = append(names, v.App+"."+v.Name)
		}
		return nil, usage("rebuild: no view %q (views: %s)", name, strings.Join(names, ", "))
	}
	return out, nil
}

// rebuildView connects the view's context, reads its events and rebuilds it.
func rebuildView(ctx context.Context, defined funcapp.View, from string, topics []topology.Topic, setting func(string) string,
	stdout, stderr io.Writer) error {
	a, err := apps.Build(ctx, defined.App, setting)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(a.Views(), func(v funcapp.View) bool { return v.Name == defined.Name })
	if i < 0 {
		return fmt.Errorf("the connected app has no view %s", defined.Name)
	}
	v := a.Views()[i]
	writer := v.App // whose streams the events are
	if v.Topic != "" {
		j := slices.IndexFunc(topics, func(t topology.Topic) bool { return t.Name == v.Topic })
		if j < 0 {
			return fmt.Errorf("no context publishes topic %q", v.Topic)
		}
		writer = topics[j].Publisher
	}
	var events iter.Seq2[eventstore.Event, error]
	if from == fromJournal {
		reader, err := apps.Journal(ctx, setting)
		if err != nil {
			return err
		}
		types := v.Types
		if v.InStreams || slices.Equal(types, blocks.EveryType) {
			types = nil // every type: a view of its streams records the versions it passes
		}
		events = fromSource(journalEvents(ctx, reader, types, time.Time{}, time.Now()), writer)
	} else {
		scanner, err := apps.Events(ctx, writer, setting)
		if err != nil {
			return err
		}
		events = scan(ctx, scanner)
	}
	b := &bar{w: stderr, label: v.App + "." + v.Name}
	start := time.Now()
	stats, err := v.Rebuild(ctx, events, b.update)
	b.end()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "%s.%s: %d events read, %d applied, %d skipped; %d documents written (%d dropped) in %s, %.0f events/s\n",
		v.App, v.Name, stats.Events, stats.Applied, stats.Skipped, stats.Documents, stats.Dropped, elapsed.Round(time.Millisecond),
		float64(stats.Events)/elapsed.Seconds())
	return nil
}

// scan is an event store read whole, as a sequence.
func scan(ctx context.Context, s eventstore.Scanner) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		errStop := errors.New("stopped")
		err := s.Scan(ctx, func(e eventstore.Event) error {
			if !yield(e, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			yield(eventstore.Event{}, err)
		}
	}
}

// fromSource keeps the events written by context source (the Journal holds every context's).
func fromSource(events iter.Seq2[eventstore.Event, error], source string) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		for e, err := range events {
			if err == nil && e.Source != source {
				continue
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

// journalEvents are the Journal's records of types (nil: every type) received in [since,
// until), in received order, page by page.
func journalEvents(ctx context.Context, r journalReader, types []string, since, until time.Time) iter.Seq2[eventstore.Event, error] {
	return func(yield func(eventstore.Event, error) bool) {
		// ByTypes starts after a position: just before since.
		after := store.Position{At: since.Add(-time.Microsecond)}
		for {
			recs, more, err := r.ByTypes(ctx, types, after, until, 1000)
			if err != nil {
				yield(eventstore.Event{}, err)
				return
			}
			for _, rec := range recs {
				if rec.ReceivedAt.Before(since) {
					continue
				}
				if !yield(rec.Event, nil) {
					return
				}
			}
			if !more || len(recs) == 0 {
				return
			}
			after = recs[len(recs)-1].Position()
		}
	}
}

// journalReader is what the tool reads of the Journal.
type journalReader interface {
	ByTypes(ctx context.Context, types []string, after store.Position, before time.Time, limit int) ([]store.Record, bool, error)
}

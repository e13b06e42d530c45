// Package eventstoretest is the conformance suite every eventstore.Store must pass: the
// in-memory twin and the Table Storage adapter run the same tests, so code tested against one
// behaves the same on the other. A store that is also an eventstore.SnapshotStore is held to
// the snapshot tests too (snapshots.go).
package eventstoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/shared/eventstore"
)

// Store is what the suite tests: a store and its outbox.
type Store interface {
	eventstore.Store
	eventstore.Outbox
}

// Run runs the suite. newStore must return an empty store, independent of the others.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"ExpectedVersions", testExpectedVersions},
		{"ConflictCarriesCommittedEvents", testConflictCarriesCommitted},
		{"IdempotentReappend", testIdempotentReappend},
		{"BadInputLeavesStorageUnchanged", testBadInput},
		{"BigPayloadsRoundTrip", testBigPayloads},
		{"Outbox", testOutbox},
		{"PendingInOneStream", testPendingIn},
		{"OrderingOfThousandEvents", testOrdering},
		{"ConcurrentWritersOneWinnerPerVersion", testConcurrentWriters},
		{"SnapshotsSaveAndLoad", snapshots(testSnapshotSaveAndLoad)},
		{"SnapshotsBadInputLeavesThemUnchanged", snapshots(testSnapshotBadInput)},
		{"SnapshotsConcurrentSaversNewestWins", snapshots(testSnapshotConcurrentSavers)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

var base = time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)

// ev makes a valid event with a distinct id and payload.
func ev(id string) eventstore.Event {
	return eventstore.Event{
		ID: id, Type: "test.Happened", SchemaVersion: 2, Source: "test",
		CreatedAt: base, CorrelationID: "flow-" + id, CausationID: "cause-" + id,
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		Data:        json.RawMessage(fmt.Sprintf(`{"id":%q,"n":1,"text":"héllo <&> \"q\""}`, id)),
	}
}

func evs(prefix string, n int) []eventstore.Event {
	out := make([]eventstore.Event, n)
	for i := range out {
		out[i] = ev(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func mustAppend(t *testing.T, s Store, stream string, expected eventstore.Expected, events ...eventstore.Event) eventstore.Appended {
	t.Helper()
	app, err := s.Append(context.Background(), stream, expected, events...)
	if err != nil {
		t.Fatalf("Append(%q, %d, %d events): %v", stream, expected, len(events), err)
	}
	return app
}

func mustRead(t *testing.T, s Store, stream string, from int64) []eventstore.Event {
	t.Helper()
	events, err := s.Read(context.Background(), stream, from)
	if err != nil {
		t.Fatalf("Read(%q, %d): %v", stream, from, err)
	}
	return events
}

// sameEvent compares everything a store must keep.
func sameEvent(t *testing.T, got, want eventstore.Event) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.SchemaVersion != want.SchemaVersion ||
		got.Stream != want.Stream || got.Version != want.Version || got.Source != want.Source ||
		!got.CreatedAt.Equal(want.CreatedAt) || got.CorrelationID != want.CorrelationID ||
		got.CausationID != want.CausationID || got.TraceParent != want.TraceParent || string(got.Data) != string(want.Data) {
		t.Fatalf("event differs\n got: %s\nwant: %s", show(got), show(want))
	}
}

func show(e eventstore.Event) string {
	data := string(e.Data)
	if len(data) > 80 {
		data = fmt.Sprintf("%s...(%d bytes)", data[:80], len(data))
	}
	return fmt.Sprintf("{ID:%s Type:%s SV:%d Stream:%s V:%d Source:%s At:%s Corr:%s Cause:%s Trace:%s Data:%s}",
		e.ID, e.Type, e.SchemaVersion, e.Stream, e.Version, e.Source, e.CreatedAt.Format(time.RFC3339Nano),
		e.CorrelationID, e.CausationID, e.TraceParent, data)
}

func sameEvents(t *testing.T, got, want []eventstore.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range got {
		sameEvent(t, got[i], want[i])
	}
}

// stored returns events as the store must hand them back: on stream, numbered from first.
func stored(stream string, first int64, events ...eventstore.Event) []eventstore.Event {
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		e.Stream, e.Version = stream, first+int64(i)
		e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
		out[i] = e
	}
	return out
}

func testAppendAndRead(t *testing.T, s Store) {
	in := evs("a", 3)
	app := mustAppend(t, s, "order-1", eventstore.NoStream, in...)
	if app != (eventstore.Appended{Stream: "order-1", FirstVersion: 1, LastVersion: 3}) {
		t.Fatalf("Appended = %+v", app)
	}
	sameEvents(t, mustRead(t, s, "order-1", 1), stored("order-1", 1, in...))
	sameEvents(t, mustRead(t, s, "order-1", 0), stored("order-1", 1, in...))
	sameEvents(t, mustRead(t, s, "order-1", 3), stored("order-1", 3, in[2]))
	if got := mustRead(t, s, "order-1", 4); len(got) != 0 {
		t.Fatalf("Read past the end = %d events", len(got))
	}
	if got := mustRead(t, s, "order-2", 1); len(got) != 0 {
		t.Fatalf("Read of a missing stream = %d events", len(got))
	}
	// A stream whose name is a prefix of another is a different stream.
	mustAppend(t, s, "order-10", eventstore.NoStream, ev("b-0"))
	if got := mustRead(t, s, "order-1", 1); len(got) != 3 {
		t.Fatalf("order-1 has %d events after appending to order-10", len(got))
	}

	// The store stamps CreatedAt when missing; the caller's copy is untouched.
	e := ev("c-0")
	e.CreatedAt = time.Time{}
	e.Version, e.Stream = 99, "elsewhere"
	before := time.Now().Add(-time.Minute)
	mustAppend(t, s, "order-3", eventstore.Any, e)
	got := mustRead(t, s, "order-3", 1)
	if len(got) != 1 || got[0].CreatedAt.Before(before) || got[0].Version != 1 || got[0].Stream != "order-3" {
		t.Fatalf("stamped event = %+v", got)
	}
	if !e.CreatedAt.IsZero() || e.Version != 99 {
		t.Fatal("Append changed the caller's event")
	}
	// Names and ids with quotes, spaces, percent signs and non-ASCII are just names; a big
	// payload under such a name too.
	odd := ev("ïd 'quoted' %20 ~!")
	big := ev("big 'one' %2F")
	big.Data = bigJSON(100 << 10)
	stream := "client 'o'reilly' é %41 ~"
	mustAppend(t, s, stream, eventstore.NoStream, odd, big)
	sameEvents(t, mustRead(t, s, stream, 1), stored(stream, 1, odd, big))
	if app := mustAppend(t, s, stream, eventstore.Any, odd); !app.Duplicate || app.FirstVersion != 1 {
		t.Fatalf("re-append of an odd id = %+v", app)
	}

	// The longest names and metadata the limits allow fit the store.
	longest := strings.Repeat("é", eventstore.MaxStreamLength/2)
	maxed := ev(strings.Repeat("i", eventstore.MaxIDLength))
	maxed.Type = strings.Repeat("t", eventstore.MaxMetadataLength)
	maxed.Source, maxed.CorrelationID, maxed.CausationID, maxed.TraceParent = maxed.Type, maxed.Type, maxed.Type, maxed.Type
	maxedBig := ev(strings.Repeat("j", eventstore.MaxIDLength))
	maxedBig.Data = bigJSON(100 << 10)
	mustAppend(t, s, longest, eventstore.NoStream, maxed, maxedBig)
	sameEvents(t, mustRead(t, s, longest, 1), stored(longest, 1, maxed, maxedBig))
}

func testExpectedVersions(t *testing.T, s Store) {
	mustAppend(t, s, "s", eventstore.NoStream, evs("a", 2)...)
	if app := mustAppend(t, s, "s", eventstore.Exact(2), ev("b")); app.FirstVersion != 3 || app.LastVersion != 3 {
		t.Fatalf("Exact(2) = %+v", app)
	}
	if app := mustAppend(t, s, "s", eventstore.Any, evs("c", 2)...); app.FirstVersion != 4 || app.LastVersion != 5 {
		t.Fatalf("Any = %+v", app)
	}
	if app := mustAppend(t, s, "fresh", eventstore.Any, ev("d")); app.FirstVersion != 1 {
		t.Fatalf("Any on a new stream = %+v", app)
	}
	cases := []struct {
		stream   string
		expected eventstore.Expected
		actual   int64
	}{
		{"s", eventstore.NoStream, 5},
		{"s", eventstore.Exact(4), 5},
		{"s", eventstore.Exact(6), 5}, // beyond the end: never a gap
		{"s", eventstore.Exact(100), 5},
		{"missing", eventstore.Exact(1), 0},
	}
	for _, c := range cases {
		_, err := s.Append(context.Background(), c.stream, c.expected, ev(fmt.Sprintf("x-%s-%d", c.stream, c.expected)))
		var ce *eventstore.ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, eventstore.ErrConflict) {
			t.Fatalf("Append(%q, %d) = %v, want a conflict", c.stream, c.expected, err)
		}
		if ce.Stream != c.stream || ce.Expected != c.expected || ce.Actual != c.actual {
			t.Fatalf("Append(%q, %d): conflict %+v, want actual %d", c.stream, c.expected, ce, c.actual)
		}
	}
	if got := mustRead(t, s, "s", 1); len(got) != 5 || got[4].Version != 5 {
		t.Fatalf("stream after refused appends: %d events", len(got))
	}
	if got := mustRead(t, s, "missing", 1); len(got) != 0 {
		t.Fatal("a refused append created a stream")
	}
}

func testConflictCarriesCommitted(t *testing.T, s Store) {
	first, second := evs("first", 2), evs("second", 3)
	mustAppend(t, s, "s", eventstore.NoStream, first...)
	mustAppend(t, s, "s", eventstore.Exact(2), second...)

	_, err := s.Append(context.Background(), "s", eventstore.Exact(2), ev("late"))
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("want conflict, got %v", err)
	}
	if ce.Actual != 5 {
		t.Fatalf("Actual = %d", ce.Actual)
	}
	sameEvents(t, ce.Committed, stored("s", 3, second...))

	_, err = s.Append(context.Background(), "s", eventstore.NoStream, ev("late"))
	if !errors.As(err, &ce) {
		t.Fatalf("want conflict, got %v", err)
	}
	sameEvents(t, ce.Committed, append(stored("s", 1, first...), stored("s", 3, second...)...))

	// Rebase as an application service would: append at the version the conflict reported.
	if app := mustAppend(t, s, "s", eventstore.Exact(ce.Actual), ev("late")); app.FirstVersion != 6 {
		t.Fatalf("rebased append = %+v", app)
	}
}

func testIdempotentReappend(t *testing.T, s Store) {
	in := evs("a", 3)
	mustAppend(t, s, "s", eventstore.NoStream, in...)
	mustAppend(t, s, "s", eventstore.Exact(3), ev("b"))
	want := mustRead(t, s, "s", 1)
	pending := pendingIDs(t, s)

	// A retry after a lost answer: same ids, whatever expected version the caller had.
	for _, expected := range []eventstore.Expected{eventstore.NoStream, eventstore.Exact(3), eventstore.Exact(0), eventstore.Any, eventstore.Exact(9)} {
		app, err := s.Append(context.Background(), "s", expected, in...)
		if err != nil {
			t.Fatalf("re-append with expected %d: %v", expected, err)
		}
		if app != (eventstore.Appended{Stream: "s", FirstVersion: 1, LastVersion: 3, Duplicate: true}) {
			t.Fatalf("re-append with expected %d = %+v", expected, app)
		}
	}
	app, err := s.Append(context.Background(), "s", eventstore.Exact(1), in[1:]...)
	if err != nil || app != (eventstore.Appended{Stream: "s", FirstVersion: 2, LastVersion: 3, Duplicate: true}) {
		t.Fatalf("re-append of a part = %+v, %v", app, err)
	}
	// Stored ids mixed with new ones: refused whole.
	_, err = s.Append(context.Background(), "s", eventstore.Exact(4), in[2], ev("new"))
	if !errors.Is(err, eventstore.ErrPartlyStored) {
		t.Fatalf("mixed append = %v, want ErrPartlyStored", err)
	}
	// Ids are per stream: the same id elsewhere is a new event.
	if app := mustAppend(t, s, "other", eventstore.NoStream, in[0]); app.Duplicate {
		t.Fatal("an id of another stream was taken for a duplicate")
	}
	sameEvents(t, mustRead(t, s, "s", 1), want)
	if got := pendingIDs(t, s); !reflect.DeepEqual(got, append(pending, in[0].ID+"@other")) {
		t.Fatalf("pending after re-appends: %v, want %v", got, pending)
	}
}

func pendingIDs(t *testing.T, s Store) []string {
	t.Helper()
	events, err := s.Pending(context.Background(), 0)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID + "@" + e.Stream
	}
	return out
}

func testBadInput(t *testing.T, s Store) {
	mustAppend(t, s, "s", eventstore.NoStream, evs("a", 2)...)
	want := mustRead(t, s, "s", 1)
	wantPending := pendingIDs(t, s)

	with := func(f func(e *eventstore.Event)) eventstore.Event {
		e := ev("bad")
		f(&e)
		return e
	}
	cases := []struct {
		name     string
		stream   string
		expected eventstore.Expected
		events   []eventstore.Event
		err      error
	}{
		{"empty stream", "", eventstore.Any, evs("x", 1), eventstore.ErrInvalidStream},
		{"slash in stream", "s/1", eventstore.Any, evs("x", 1), eventstore.ErrInvalidStream},
		{"backslash in stream", `s\1`, eventstore.Any, evs("x", 1), eventstore.ErrInvalidStream},
		{"hash in stream", "s#1", eventstore.Any, evs("x", 1), eventstore.ErrInvalidStream},
		{"question mark in stream", "s?1", eventstore.Any, evs("x", 1), eventstore.ErrInvalidStream},
		{"control char in stream", "s\n1", eventstore.Any, evs("x", 1), eventstore.ErrInvalidStream},
		{"stream too long", strings.Repeat("s", eventstore.MaxStreamLength+1), eventstore.Any, evs("x", 1), eventstore.ErrInvalidStream},
		{"no events", "s", eventstore.Any, nil, eventstore.ErrInvalidEvent},
		{"too many events", "s", eventstore.Exact(2), evs("x", eventstore.MaxEventsPerAppend+1), eventstore.ErrTooManyEvents},
		{"no id", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.ID = "" })}, eventstore.ErrInvalidEvent},
		{"slash in id", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.ID = "a/b" })}, eventstore.ErrInvalidEvent},
		{"id too long", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.ID = strings.Repeat("i", eventstore.MaxIDLength+1) })}, eventstore.ErrInvalidEvent},
		{"no type", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.Type = "" })}, eventstore.ErrInvalidEvent},
		{"no data", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.Data = nil })}, eventstore.ErrInvalidEvent},
		{"data not JSON", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.Data = json.RawMessage(`{"a":`) })}, eventstore.ErrInvalidEvent},
		{"data not UTF-8", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.Data = json.RawMessage("\"\xff\"") })}, eventstore.ErrInvalidEvent},
		{"same id twice", "s", eventstore.Exact(2), []eventstore.Event{ev("twice"), ev("twice")}, eventstore.ErrInvalidEvent},
		{"metadata too long", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.Type = strings.Repeat("t", eventstore.MaxMetadataLength+1) })}, eventstore.ErrInvalidEvent},
		{"payload too large", "s", eventstore.Exact(2), []eventstore.Event{with(func(e *eventstore.Event) { e.Data = bigJSON(eventstore.MaxPayloadBytes + 1) })}, eventstore.ErrPayloadTooLarge},
		{"one bad event among good", "s", eventstore.Exact(2), append(evs("y", 3), with(func(e *eventstore.Event) { e.Type = "" })), eventstore.ErrInvalidEvent},
		{"invalid expected", "s", eventstore.Expected(-2), evs("x", 1), eventstore.ErrInvalidExpected},
		{"wrong expected version", "s", eventstore.Exact(1), evs("x", 1), eventstore.ErrConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Append(context.Background(), c.stream, c.expected, c.events...)
			if !errors.Is(err, c.err) {
				t.Fatalf("Append = %v, want %v", err, c.err)
			}
			sameEvents(t, mustRead(t, s, "s", 1), want)
			if got := pendingIDs(t, s); !reflect.DeepEqual(got, wantPending) {
				t.Fatalf("pending changed: %v, want %v", got, wantPending)
			}
		})
	}
	for _, bad := range []string{"", "a/b", "a?b"} {
		if _, err := s.Read(context.Background(), bad, 1); !errors.Is(err, eventstore.ErrInvalidStream) {
			t.Fatalf("Read(%q) = %v", bad, err)
		}
	}
	// The largest allowed payload is fine.
	mustAppend(t, s, "s", eventstore.Exact(2), with(func(e *eventstore.Event) { e.Data = bigJSON(eventstore.MaxPayloadBytes) }))
}

// bigJSON is a JSON string of exactly n bytes.
func bigJSON(n int) json.RawMessage {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	b[0], b[n-1] = '"', '"'
	return b
}

func testBigPayloads(t *testing.T, s Store) {
	// Over a table property's 64 KiB, in multi-byte characters too (2 bytes per 'é', 4 per
	// emoji), which must come back whole.
	big := ev("big")
	big.Data = bigJSON(200 << 10)
	accents := ev("accents")
	accents.Data = json.RawMessage(`"` + strings.Repeat("é", 33<<10) + `"`)
	emoji := ev("emoji")
	emoji.Data = json.RawMessage(`"` + strings.Repeat("😀", 17<<10) + `"`)
	small := ev("small")
	in := []eventstore.Event{big, small, accents, emoji}
	mustAppend(t, s, "s", eventstore.NoStream, in...)
	sameEvents(t, mustRead(t, s, "s", 1), stored("s", 1, in...))

	// Many events just under the property limit: together over a transaction's 4 MiB.
	many := evs("many", eventstore.MaxEventsPerAppend)
	for i := range many {
		many[i].Data = bigJSON(60 << 10)
	}
	mustAppend(t, s, "s", eventstore.Exact(4), many...)
	sameEvents(t, mustRead(t, s, "s", 5), stored("s", 5, many...))

	pending, err := s.Pending(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, pending, append(stored("s", 1, in...), stored("s", 5, many...)...))
}

func testOutbox(t *testing.T, s Store) {
	ctx := context.Background()
	if p, err := s.Pending(ctx, 0); err != nil || len(p) != 0 {
		t.Fatalf("Pending of an empty store = %v, %v", p, err)
	}
	a, b := evs("a", 2), evs("b", 1)
	mustAppend(t, s, "s1", eventstore.NoStream, a...)
	time.Sleep(20 * time.Millisecond) // distinct write times, so that "oldest first" is defined
	mustAppend(t, s, "s2", eventstore.NoStream, b...)
	time.Sleep(20 * time.Millisecond)
	mustAppend(t, s, "s1", eventstore.Exact(2), ev("c"))

	all, err := s.Pending(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, all, append(append(stored("s1", 1, a...), stored("s2", 1, b...)...), stored("s1", 3, ev("c"))...))
	first, err := s.Pending(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, first, stored("s1", 1, a...))

	if err := s.MarkPublished(ctx, all[0], all[2]); err != nil {
		t.Fatal(err)
	}
	if got := pendingIDs(t, s); !reflect.DeepEqual(got, []string{"a-1@s1", "c@s1"}) {
		t.Fatalf("pending after MarkPublished = %v", got)
	}
	// Clearing again, or events never marked, is fine.
	if err := s.MarkPublished(ctx, all...); err != nil {
		t.Fatalf("MarkPublished again: %v", err)
	}
	if err := s.MarkPublished(ctx, eventstore.Event{Stream: "nowhere", Version: 7}, eventstore.Event{Stream: "", Version: 1}, eventstore.Event{Stream: "a/b"}); err != nil {
		t.Fatalf("MarkPublished of unknown events: %v", err)
	}
	if got := pendingIDs(t, s); len(got) != 0 {
		t.Fatalf("pending after clearing all = %v", got)
	}
	// The events themselves stay.
	if got := mustRead(t, s, "s1", 1); len(got) != 3 {
		t.Fatalf("s1 has %d events after publication", len(got))
	}
}

func testPendingIn(t *testing.T, s Store) {
	so, ok := s.(eventstore.StreamOutbox)
	if !ok {
		t.Skipf("%T does not implement eventstore.StreamOutbox, which is optional", s)
	}
	ctx := context.Background()
	pendingIn := func(stream string) []eventstore.Event {
		t.Helper()
		events, err := so.PendingIn(ctx, stream)
		if err != nil {
			t.Fatalf("PendingIn(%q): %v", stream, err)
		}
		return events
	}
	// s1's events among others': a stream whose name extends s1's, and one appended between.
	a, b, c := evs("a", 3), evs("b", 2), evs("c", 1)
	big := ev("big")
	big.Data = bigJSON(100 << 10) // offloaded on tables
	mustAppend(t, s, "s1", eventstore.NoStream, a...)
	mustAppend(t, s, "s10", eventstore.NoStream, b...)
	mustAppend(t, s, "s1", eventstore.Exact(3), big)
	mustAppend(t, s, "s2", eventstore.NoStream, c...)
	mustAppend(t, s, "s1", eventstore.Exact(4), ev("d"))

	s1 := append(append(stored("s1", 1, a...), stored("s1", 4, big)...), stored("s1", 5, ev("d"))...)
	sameEvents(t, pendingIn("s1"), s1)
	sameEvents(t, pendingIn("s10"), stored("s10", 1, b...))
	if got := pendingIn("missing"); len(got) != 0 {
		t.Fatalf("PendingIn of a missing stream = %d events", len(got))
	}

	// Published ones leave the list, whatever their place; the rest keep version order.
	if err := s.MarkPublished(ctx, s1[0], s1[2], s1[4]); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, pendingIn("s1"), []eventstore.Event{s1[1], s1[3]})
	if err := s.MarkPublished(ctx, pendingIn("s1")...); err != nil {
		t.Fatal(err)
	}
	if got := pendingIn("s1"); len(got) != 0 {
		t.Fatalf("PendingIn after publishing all = %d events", len(got))
	}
	// The other streams are untouched, here and in the store-wide list.
	sameEvents(t, pendingIn("s10"), stored("s10", 1, b...))
	if got := pendingIDs(t, s); !sameSet(got, []string{"b-0@s10", "b-1@s10", "c-0@s2"}) {
		t.Fatalf("Pending after publishing s1 = %v", got)
	}
	if got := mustRead(t, s, "s1", 1); len(got) != 5 {
		t.Fatalf("s1 has %d events after publication", len(got))
	}
	// A later append is pending on its own.
	mustAppend(t, s, "s1", eventstore.Exact(5), ev("e"))
	sameEvents(t, pendingIn("s1"), stored("s1", 6, ev("e")))

	for _, bad := range []string{"", "a/b", "a?b", strings.Repeat("s", eventstore.MaxStreamLength+1)} {
		if _, err := so.PendingIn(ctx, bad); !errors.Is(err, eventstore.ErrInvalidStream) {
			t.Fatalf("PendingIn(%q) = %v, want ErrInvalidStream", bad, err)
		}
	}
}

// sameSet compares two lists of distinct strings in any order.
func sameSet(got, want []string) bool {
	seen := map[string]bool{}
	for _, w := range want {
		seen[w] = true
	}
	for _, g := range got {
		if !seen[g] {
			return false
		}
		delete(seen, g)
	}
	return len(seen) == 0 && len(got) == len(want)
}

func testOrdering(t *testing.T, s Store) {
	const total = 1010 // past 1,000: versions of different digit counts, and several pages
	var version int64
	for version < total {
		n := min(eventstore.MaxEventsPerAppend, total-int(version))
		app := mustAppend(t, s, "long", eventstore.Exact(version), evs(fmt.Sprintf("v%d", version), n)...)
		version = app.LastVersion
	}
	got := mustRead(t, s, "long", 1)
	if len(got) != total {
		t.Fatalf("read %d events, want %d", len(got), total)
	}
	for i, e := range got {
		if e.Version != int64(i+1) {
			t.Fatalf("event %d has version %d", i, e.Version)
		}
	}
	tail := mustRead(t, s, "long", 999)
	if len(tail) != total-998 || tail[0].Version != 999 || tail[len(tail)-1].Version != total {
		t.Fatalf("Read(999) = %d events from %d", len(tail), tail[0].Version)
	}
}

// ConcurrentAppends is how many appends each of the 50 writers of the concurrency test makes.
var ConcurrentAppends = 2

func testConcurrentWriters(t *testing.T, s Store) {
	const writers = 50
	type ack struct {
		id      string
		version int64
	}
	var (
		mu    sync.Mutex
		acks  []ack
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var version int64
			for n := 0; n < ConcurrentAppends; {
				e := ev(fmt.Sprintf("w%d-%d", w, n))
				app, err := s.Append(context.Background(), "contended", eventstore.Exact(version), e)
				var ce *eventstore.ConflictError
				switch {
				case err == nil:
					if app.Duplicate || app.FirstVersion != version+1 {
						errs <- fmt.Errorf("writer %d: appended %+v expecting %d", w, app, version)
						return
					}
					mu.Lock()
					acks = append(acks, ack{e.ID, app.FirstVersion})
					mu.Unlock()
					version = app.LastVersion
					n++
				case errors.As(err, &ce):
					if ce.Actual <= version || len(ce.Committed) == 0 || ce.Committed[0].Version != version+1 {
						errs <- fmt.Errorf("writer %d: conflict at %d: actual %d, %d committed", w, version, ce.Actual, len(ce.Committed))
						return
					}
					version = ce.Actual
				default:
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	total := writers * ConcurrentAppends
	winners := map[int64]string{}
	for _, a := range acks {
		if other, ok := winners[a.version]; ok {
			t.Fatalf("version %d won by both %s and %s", a.version, other, a.id)
		}
		winners[a.version] = a.id
	}
	got := mustRead(t, s, "contended", 1)
	if len(got) != total {
		t.Fatalf("stream has %d events, %d were acknowledged", len(got), total)
	}
	seen := map[string]bool{}
	for i, e := range got {
		if e.Version != int64(i+1) {
			t.Fatalf("gap or disorder: event %d has version %d", i, e.Version)
		}
		if seen[e.ID] {
			t.Fatalf("event %s stored twice", e.ID)
		}
		seen[e.ID] = true
		if winners[e.Version] != e.ID {
			t.Fatalf("version %d holds %s, %s was acknowledged", e.Version, e.ID, winners[e.Version])
		}
	}
}

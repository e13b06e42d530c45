// Package storetest is the conformance suite of the Journal's storage: the in-memory twin and
// the Table Storage backend run the same tests, partial failures included, so that code tested
// against one behaves the same on the other.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/functions/journal/store"
	"meterline/shared/eventstore"
)

// PayloadLister is a backend that can list its offloaded payloads (both can): the suite checks
// that a refused event leaves none behind.
type PayloadLister interface {
	PayloadNames(ctx context.Context) ([]string, error)
}

// Open returns an empty Journal with opt, independent of every other, and its backend.
type Open func(t *testing.T, opt *store.Options) (*store.Journal, store.Backend)

// Run runs the suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		run  func(t *testing.T, open Open)
	}{
		{"RecordAndRead", testRecordAndRead},
		{"SameContentIsAlreadyStored", testSameContent},
		{"OtherContentIsAConflictAndChangesNothing", testConflict},
		{"InvalidEventsStoreNothing", testInvalid},
		{"BigPayloadsRoundTrip", testBigPayloads},
		{"PagingByTypeAndByStream", testPaging},
		{"CrashAfterTheCommitIsRepairedByARetry", testCrashRetry},
		{"CrashAfterTheCommitIsRepairedWithoutARetry", testCrashRepair},
		{"ConcurrentDuplicatesAndConflicts", testConcurrent},
		{"ArchivedRowsBecomeStubs", testArchived},
		{"DayArchivesAppendAtAPosition", testArchives},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
	}
}

var (
	created = time.Date(2026, 3, 4, 5, 6, 7, 891011123, time.UTC) // nanoseconds: kept exactly
	now     = time.Date(2026, 3, 4, 10, 0, 0, 123456789, time.UTC)
	day     = "2026-03-04"
)

// ev is a valid event; its payload is distinct per id.
func ev(id, typ, stream string, version int64) eventstore.Event {
	return eventstore.Event{
		ID: id, Type: typ, SchemaVersion: 1, Stream: stream, Version: version, Source: "test",
		CreatedAt: created, CorrelationID: "flow-" + id, CausationID: "cause-" + id,
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		Data:        json.RawMessage(fmt.Sprintf(`{"id":%q,"text":"héllo <&> \"q\" \u2028"}`, id)),
	}
}

func record(t *testing.T, j *store.Journal, e eventstore.Event, at time.Time) store.Record {
	t.Helper()
	rec, stored, err := j.Record(context.Background(), e, at)
	if err != nil || !stored {
		t.Fatalf("Record(%s): stored %v, %v", e.ID, stored, err)
	}
	return rec
}

func want(e eventstore.Event, at time.Time) store.Record {
	return store.Record{Event: e, ReceivedAt: at.UTC().Truncate(time.Microsecond)}
}

func same(t *testing.T, got, want store.Record) {
	t.Helper()
	if !got.SameAs(want) || got.ArchivedOn != want.ArchivedOn {
		t.Fatalf("record differs\n got: %s\nwant: %s", show(got), show(want))
	}
}

func sameAll(t *testing.T, got, want []store.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d: %v", len(got), len(want), ids(got))
	}
	for i := range got {
		same(t, got[i], want[i])
	}
}

func show(r store.Record) string {
	data := string(r.Data)
	if len(data) > 60 {
		data = fmt.Sprintf("%s...(%d bytes)", data[:60], len(data))
	}
	return fmt.Sprintf("{%s %s sv%d %s@%d src:%s at:%s recv:%s corr:%s cause:%s trace:%s archived:%q data:%s}",
		r.ID, r.Type, r.SchemaVersion, r.Stream, r.Version, r.Source, r.CreatedAt.Format(time.RFC3339Nano),
		r.ReceivedAt.Format(time.RFC3339Nano), r.CorrelationID, r.CausationID, r.TraceParent, r.ArchivedOn, data)
}

func ids(rs []store.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func byType(t *testing.T, j *store.Journal, typ string) []store.Record {
	t.Helper()
	rs, err := j.ByType(context.Background(), typ, day, store.Position{}, now.Add(24*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func byStream(t *testing.T, j *store.Journal, stream string) []store.Record {
	t.Helper()
	rs, err := j.ByStream(context.Background(), stream, store.StreamPosition{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func inFlight(t *testing.T, j *store.Journal) []store.Position {
	t.Helper()
	ps, err := j.InFlight(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// snapshot is everything a backend holds but the day archives.
type snapshot struct {
	Rows     map[store.Table][]store.Row
	Payloads []string
}

func snap(t *testing.T, b store.Backend) snapshot {
	t.Helper()
	s := snapshot{Rows: map[store.Table][]store.Row{}}
	for _, tb := range store.Tables {
		rows, err := b.All(context.Background(), tb)
		if err != nil {
			t.Fatal(err)
		}
		s.Rows[tb] = rows
	}
	if pl, ok := b.(PayloadLister); ok {
		names, err := pl.PayloadNames(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		s.Payloads = names
	}
	return s
}

func unchanged(t *testing.T, b store.Backend, before snapshot, what string) {
	t.Helper()
	if after := snap(t, b); !reflect.DeepEqual(before, after) {
		t.Fatalf("%s changed storage\nbefore: %+v\n after: %+v", what, before, after)
	}
}

func testRecordAndRead(t *testing.T, open Open) {
	j, _ := open(t, nil)
	ctx := context.Background()
	a1 := ev("a1", "test.Opened", "order/1", 1) // '/' is forbidden in keys: escaped
	a2 := ev("a2", "test.Closed", "order/1", 2)
	b1 := ev("b1", "test.Opened", "order-2", 1)
	c1 := ev("c 1 ü", "test.Opened", "", 0) // no stream: in no stream index
	c1.Data = nil
	at := []time.Time{now, now.Add(time.Second), now.Add(2 * time.Second), now.Add(3 * time.Second)}
	for i, e := range []eventstore.Event{a1, a2, b1, c1} {
		same(t, record(t, j, e, at[i]), want(e, at[i]))
	}
	for i, e := range []eventstore.Event{a1, a2, b1, c1} {
		got, ok, err := j.Get(ctx, e.ID)
		if err != nil || !ok {
			t.Fatalf("Get(%s): %v %v", e.ID, ok, err)
		}
		same(t, got, want(e, at[i]))
	}
	if _, ok, err := j.Get(ctx, "nope"); ok || err != nil {
		t.Fatalf("Get of a missing id: %v %v", ok, err)
	}
	sameAll(t, byType(t, j, "test.Opened"), []store.Record{want(a1, at[0]), want(b1, at[2]), want(c1, at[3])})
	sameAll(t, byType(t, j, "test.Closed"), []store.Record{want(a2, at[1])})
	sameAll(t, byStream(t, j, "order/1"), []store.Record{want(a1, at[0]), want(a2, at[1])})
	sameAll(t, byStream(t, j, "order-2"), []store.Record{want(b1, at[2])})
	if rs := byStream(t, j, "order"); len(rs) != 0 {
		t.Fatalf("a prefix of stream names is another stream: %v", ids(rs))
	}
	// Time bounds: after is exclusive, before too.
	rs, err := j.ByType(ctx, "test.Opened", day, want(a1, at[0]).Position(), at[3], 0)
	if err != nil {
		t.Fatal(err)
	}
	sameAll(t, rs, []store.Record{want(b1, at[2])})
	if rs, _ := j.ByType(ctx, "test.Opened", "2026-03-05", store.Position{}, now.Add(48*time.Hour), 0); len(rs) != 0 {
		t.Fatalf("another day holds %v", ids(rs))
	}
	days, err := j.Days(ctx)
	if err != nil || !slices.Equal(days, []string{day}) {
		t.Fatalf("Days = %v, %v", days, err)
	}
	types, err := j.Types(ctx)
	if err != nil || !slices.Equal(types, []string{"test.Closed", "test.Opened"}) {
		t.Fatalf("Types = %v, %v", types, err)
	}
	if ps := inFlight(t, j); len(ps) != 0 {
		t.Fatalf("in flight after complete ingests: %v", ps)
	}
}

func testSameContent(t *testing.T, open Open) {
	j, b := open(t, nil)
	e := ev("dup", "test.Opened", "s", 1)
	first := record(t, j, e, now)
	before := snap(t, b)
	again := e
	again.Data = json.RawMessage(strings.Replace(" "+string(e.Data)+"\n", `{"id":`, "{ \"id\" :\n\t", 1)) // the same JSON, spaced out
	escaped := e
	escaped.Data = json.RawMessage(`{"id":"dup","text":"h\u00e9llo \u003c\u0026\u003e \"q\" \u2028"}`) // as Go's encoder escapes it
	for _, again := range []eventstore.Event{again, escaped} {
		rec, stored, err := j.Record(context.Background(), again, now.Add(time.Hour))
		if err != nil || stored {
			t.Fatalf("the same event again (%s): stored %v, %v", again.Data, stored, err)
		}
		same(t, rec, first)
	}
	unchanged(t, b, before, "an event stored again")
	sameAll(t, byType(t, j, "test.Opened"), []store.Record{first})
}

func testConflict(t *testing.T, open Open) {
	j, b := open(t, nil)
	e := ev("x", "test.Opened", "s", 1)
	first := record(t, j, e, now)
	before := snap(t, b)
	for name, change := range map[string]func(*eventstore.Event){
		"data":        func(e *eventstore.Event) { e.Data = json.RawMessage(`{"id":"x","other":true}`) },
		"no data":     func(e *eventstore.Event) { e.Data = nil },
		"type":        func(e *eventstore.Event) { e.Type = "test.Other" },
		"stream":      func(e *eventstore.Event) { e.Stream = "s2" },
		"version":     func(e *eventstore.Event) { e.Version = 2 },
		"source":      func(e *eventstore.Event) { e.Source = "elsewhere" },
		"time":        func(e *eventstore.Event) { e.CreatedAt = e.CreatedAt.Add(time.Nanosecond) },
		"correlation": func(e *eventstore.Event) { e.CorrelationID = "other" },
		"schema":      func(e *eventstore.Event) { e.SchemaVersion = 2 },
		"big data":    func(e *eventstore.Event) { e.Data = bigPayload("x", 100<<10) },
	} {
		other := e
		change(&other)
		_, stored, err := j.Record(context.Background(), other, now.Add(time.Minute))
		var conflict *store.ConflictError
		if stored || !errors.Is(err, store.ErrConflict) || !errors.As(err, &conflict) {
			t.Fatalf("%s changed: stored %v, %v; want a *ConflictError", name, stored, err)
		}
		same(t, conflict.Stored, first)
		unchanged(t, b, before, "a conflicting event ("+name+")")
	}
	if rs := byType(t, j, "test.Other"); len(rs) != 0 {
		t.Fatalf("a conflict indexed its type: %v", ids(rs))
	}
}

func testInvalid(t *testing.T, open Open) {
	j, b := open(t, nil)
	before := snap(t, b)
	for name, change := range map[string]func(*eventstore.Event){
		"no id":           func(e *eventstore.Event) { e.ID = "" },
		"no type":         func(e *eventstore.Event) { e.Type = "" },
		"no time":         func(e *eventstore.Event) { e.CreatedAt = time.Time{} },
		"bad JSON":        func(e *eventstore.Event) { e.Data = json.RawMessage(`{"a":`) },
		"not UTF-8":       func(e *eventstore.Event) { e.Data = json.RawMessage("\"\xff\"") },
		"negative":        func(e *eventstore.Event) { e.Version = -1 },
		"long id":         func(e *eventstore.Event) { e.ID = strings.Repeat("/", store.MaxKeyUnits) },
		"long type":       func(e *eventstore.Event) { e.Type = strings.Repeat("t", store.MaxKeyUnits+1) },
		"long stream":     func(e *eventstore.Event) { e.Stream = strings.Repeat("é", store.MaxKeyUnits) },
		"huge payload":    func(e *eventstore.Event) { e.Data = bigPayload("h", store.MaxPayloadBytes+1) },
		"long source":     func(e *eventstore.Event) { e.Source = strings.Repeat("s", store.MaxMetadataBytes+1) },
		"id not UTF-8":    func(e *eventstore.Event) { e.ID = "a\xffb" },
		"stream not UTF8": func(e *eventstore.Event) { e.Stream = "\xfe" },
	} {
		e := ev("ok", "test.Opened", "s", 1)
		change(&e)
		if _, stored, err := j.Record(context.Background(), e, now); stored || !errors.Is(err, store.ErrInvalidEvent) {
			t.Fatalf("%s: stored %v, %v; want ErrInvalidEvent", name, stored, err)
		}
	}
	unchanged(t, b, before, "invalid events")
}

// bigPayload is a JSON document of about n bytes.
func bigPayload(id string, n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"blob":"%s"}`, id, strings.Repeat("x", max(n-20, 1))))
}

func testBigPayloads(t *testing.T, open Open) {
	j, b := open(t, nil)
	ctx := context.Background()
	var all []store.Record
	for i, data := range []json.RawMessage{
		bigPayload("p0", 40<<10),                                 // 40 KiB: inline
		json.RawMessage(`"` + strings.Repeat("é", 33<<10) + `"`), // 66 KiB of UTF-8: offloaded
		json.RawMessage(`"` + strings.Repeat("😀", 9<<10) + `"`),  // 36 KiB, inline: long enough to be sent in several chunks
		json.RawMessage(`"` + strings.Repeat("😀", 17<<10) + `"`), // 68 KiB: offloaded
		bigPayload("p3", 3<<20),
		bigPayload("p4", 30<<10), // 60 KiB in UTF-16: inline
	} {
		e := ev(fmt.Sprintf("p%d", i), "test.Big", "big", int64(i+1))
		e.Data = data
		all = append(all, record(t, j, e, now.Add(time.Duration(i)*time.Second)))
	}
	for _, r := range all {
		got, ok, err := j.Get(ctx, r.ID)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		same(t, got, r)
	}
	sameAll(t, byType(t, j, "test.Big"), all)
	sameAll(t, byStream(t, j, "big"), all)
	before := snap(t, b)
	if _, stored, err := j.Record(ctx, all[3].Event, now.Add(time.Hour)); stored || err != nil {
		t.Fatalf("a big event again: %v %v", stored, err)
	}
	unchanged(t, b, before, "a big event stored again")
}

func testPaging(t *testing.T, open Open) {
	j, _ := open(t, nil)
	ctx := context.Background()
	var all []store.Record
	for i := range 23 {
		// Three events a microsecond: ties in received_at are ordered by id.
		at := now.Add(time.Duration(i/3) * time.Microsecond)
		all = append(all, record(t, j, ev(fmt.Sprintf("e%02d", 22-i), "test.Paged", "paged", int64(i%5)), at))
	}
	inOrder := slices.Clone(all)
	slices.SortFunc(inOrder, func(a, b store.Record) int { return strings.Compare(a.Position().Key(), b.Position().Key()) })
	var got []store.Record
	after := store.Position{}
	for page := 0; ; page++ {
		rs, err := j.ByType(ctx, "test.Paged", day, after, now.Add(time.Hour), 5)
		if err != nil || page > 10 {
			t.Fatal(err, page)
		}
		if len(rs) == 0 {
			break
		}
		got = append(got, rs...)
		after = rs[len(rs)-1].Position()
	}
	sameAll(t, got, inOrder)

	byVersion := slices.Clone(all)
	slices.SortFunc(byVersion, func(a, b store.Record) int {
		return strings.Compare(a.StreamPosition().Key(), b.StreamPosition().Key())
	})
	got = nil
	var afterS store.StreamPosition
	for page := 0; ; page++ {
		rs, err := j.ByStream(ctx, "paged", afterS, 4)
		if err != nil || page > 10 {
			t.Fatal(err, page)
		}
		if len(rs) == 0 {
			break
		}
		got = append(got, rs...)
		afterS = rs[len(rs)-1].StreamPosition()
	}
	sameAll(t, got, byVersion)
	for i := 1; i < len(got); i++ {
		if got[i].Version < got[i-1].Version {
			t.Fatalf("stream out of version order at %d", i)
		}
	}
}

var errCrash = errors.New("simulated crash")

// crashOnce fails Record at step for the first attempt of id.
func crashOnce(step store.Step, id string) *store.Options {
	var once sync.Once
	return &store.Options{Crash: func(s store.Step, eid string) error {
		var err error
		if s == step && eid == id {
			once.Do(func() { err = errCrash })
		}
		return err
	}}
}

func testCrashRetry(t *testing.T, open Open) {
	j, _ := open(t, crashOnce(store.StepIndex, "late"))
	ctx := context.Background()
	e := ev("late", "test.Opened", "s", 1)
	if _, _, err := j.Record(ctx, e, now); !errors.Is(err, errCrash) {
		t.Fatalf("the crash did not happen: %v", err)
	}
	if _, ok, _ := j.Get(ctx, "late"); !ok {
		t.Fatal("the event is not stored after a crash past the commit")
	}
	if rs := byType(t, j, "test.Opened"); len(rs) != 0 {
		t.Fatalf("indexed before the crash: %v", ids(rs))
	}
	if ps := inFlight(t, j); len(ps) != 1 || !ps[0].At.Equal(want(e, now).ReceivedAt) {
		t.Fatalf("in flight %v; want the mark of the crashed ingest, holding the horizon", ps)
	}
	// The retry (a redelivery, or a client posting again) repairs, with the first received_at.
	rec, stored, err := j.Record(ctx, e, now.Add(10*time.Minute))
	if err != nil || stored {
		t.Fatalf("retry: stored %v, %v", stored, err)
	}
	same(t, rec, want(e, now))
	sameAll(t, byType(t, j, "test.Opened"), []store.Record{want(e, now)})
	sameAll(t, byStream(t, j, "s"), []store.Record{want(e, now)})
	if ps := inFlight(t, j); len(ps) != 0 {
		t.Fatalf("in flight after the repair: %v", ps)
	}
}

func testCrashRepair(t *testing.T, open Open) {
	for _, step := range []store.Step{store.StepIndex, store.StepSettle} {
		t.Run(string(step), func(t *testing.T) {
			j, b := open(t, crashOnce(step, "orphan"))
			ctx := context.Background()
			e := ev("orphan", "test.Opened", "s", 1)
			if _, _, err := j.Record(ctx, e, now); !errors.Is(err, errCrash) {
				t.Fatalf("the crash did not happen: %v", err)
			}
			// A mark of an ingest that died before its commit.
			ghost := store.Row{Partition: "0", Key: store.Position{At: now, ID: "ghost"}.Key(), EventID: "ghost"}
			if err := b.Put(ctx, store.InFlight, ghost); err != nil {
				t.Fatal(err)
			}
			// Marks younger than the bound are ingests under way: left alone.
			received := want(e, now).ReceivedAt
			if n, err := j.Repair(ctx, received); err != nil || n != 0 || len(inFlight(t, j)) != 2 {
				t.Fatalf("Repair(before the marks) = %d, %v; in flight %v", n, err, inFlight(t, j))
			}
			if n, err := j.Repair(ctx, received.Add(time.Microsecond)); err != nil || n != 1 {
				t.Fatalf("Repair = %d, %v; want 1 event settled", n, err)
			}
			sameAll(t, byType(t, j, "test.Opened"), []store.Record{want(e, now)})
			if ps := inFlight(t, j); len(ps) != 0 {
				t.Fatalf("in flight after Repair: %v", ps)
			}
			if _, ok, _ := j.Get(ctx, "ghost"); ok {
				t.Fatal("Repair stored an event")
			}
		})
	}
}

func testConcurrent(t *testing.T, open Open) {
	j, _ := open(t, nil)
	ctx := context.Background()
	const n = 12
	run := func(make func(i int) eventstore.Event) (stored []int, conflicts []*store.ConflictError) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, ok, err := j.Record(ctx, make(i), now.Add(time.Duration(i)*time.Millisecond))
				var c *store.ConflictError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.As(err, &c):
					conflicts = append(conflicts, c)
				case err != nil:
					t.Errorf("writer %d: %v", i, err)
				case ok:
					stored = append(stored, i)
				}
			})
		}
		wg.Wait()
		return stored, conflicts
	}
	stored, conflicts := run(func(int) eventstore.Event { return ev("same", "test.Dup", "dup", 1) })
	if len(stored) != 1 || len(conflicts) != 0 {
		t.Fatalf("%d writers of one event: %d stored it, %d conflicts; want 1 and 0", n, len(stored), len(conflicts))
	}
	if rs := byType(t, j, "test.Dup"); len(rs) != 1 {
		t.Fatalf("indexed %d times", len(rs))
	}
	stored, conflicts = run(func(i int) eventstore.Event {
		e := ev("contested", "test.Contested", "c", 1)
		e.Data = json.RawMessage(fmt.Sprintf(`{"writer":%d}`, i))
		return e
	})
	if len(stored) != 1 || len(conflicts) != n-1 {
		t.Fatalf("%d writers of one id with different content: %d stored, %d conflicts", n, len(stored), len(conflicts))
	}
	winner, _, _ := j.Get(ctx, "contested")
	for _, c := range conflicts {
		same(t, c.Stored, winner)
	}
	if rs := byType(t, j, "test.Contested"); len(rs) != 1 || !rs[0].SameAs(winner) {
		t.Fatalf("the index holds %v; want only the winner", ids(rs))
	}
	if ps := inFlight(t, j); len(ps) != 0 {
		t.Fatalf("in flight: %v", ps)
	}
}

func testArchived(t *testing.T, open Open) {
	j, b := open(t, nil)
	ctx := context.Background()
	big := ev("big", "test.Opened", "s", 2)
	big.Data = bigPayload("big", 100<<10)
	recs := []store.Record{
		record(t, j, ev("a", "test.Opened", "s", 1), now),
		record(t, j, big, now.Add(time.Second)),
		record(t, j, ev("c", "test.Closed", "", 0), now.Add(2*time.Second)),
	}
	other := record(t, j, ev("d", "test.Opened", "s", 3), now.Add(24*time.Hour))
	if err := j.Archived(ctx, day, append(slices.Clone(recs), other)); err == nil {
		t.Fatal("Archived took a record of another day")
	}
	for range 2 { // safe to repeat
		if err := j.Archived(ctx, day, recs); err != nil {
			t.Fatal(err)
		}
	}
	stub := func(r store.Record) store.Record {
		r.Data, r.ArchivedOn = nil, day
		return r
	}
	for _, r := range recs {
		got, ok, err := j.Get(ctx, r.ID)
		if err != nil || !ok {
			t.Fatalf("Get(%s) after archival: %v %v", r.ID, ok, err)
		}
		same(t, got, stub(r))
	}
	if rs := byType(t, j, "test.Opened"); len(rs) != 0 {
		t.Fatalf("ByType of an archived day: %v", ids(rs))
	}
	sameAll(t, byStream(t, j, "s"), []store.Record{stub(recs[0]), stub(recs[1]), other})
	if days, _ := j.Days(ctx); !slices.Equal(days, []string{"2026-03-05"}) {
		t.Fatalf("Days after archival = %v", days)
	}
	if pl, ok := b.(PayloadLister); ok {
		if names, _ := pl.PayloadNames(ctx); len(names) != 0 {
			t.Fatalf("payloads left after archival: %v", names)
		}
	}
	// An archived id is still known: the same event is stored already; other content conflicts.
	if _, stored, err := j.Record(ctx, recs[1].Event, now.Add(48*time.Hour)); stored || err != nil {
		t.Fatalf("an archived event again: %v %v", stored, err)
	}
	changed := recs[0].Event
	changed.Source = "elsewhere"
	if _, _, err := j.Record(ctx, changed, now.Add(48*time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an archived id with other content: %v", err)
	}
	if rs := byType(t, j, "test.Opened"); len(rs) != 0 {
		t.Fatalf("an archived event was indexed again: %v", ids(rs))
	}
}

func testArchives(t *testing.T, open Open) {
	j, _ := open(t, nil)
	ctx := context.Background()
	read := func() []byte {
		t.Helper()
		rc, err := j.OpenDay(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		if rc == nil {
			return nil
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := read(); got != nil {
		t.Fatalf("an archive before any append: %q", got)
	}
	if err := j.AppendDay(ctx, day, 0, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendDay(ctx, day, 0, []byte("racer")); !errors.Is(err, store.ErrArchiveMoved) {
		t.Fatalf("an append at a stale position: %v", err)
	}
	if err := j.AppendDay(ctx, day, 99, []byte("gap")); !errors.Is(err, store.ErrArchiveMoved) {
		t.Fatalf("an append past the end: %v", err)
	}
	if err := j.AppendDay(ctx, day, 5, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got := string(read()); got != "firstsecond" {
		t.Fatalf("archive %q", got)
	}
	if err := j.AppendDay(ctx, "2026-03-05", 0, make([]byte, store.MaxChunkBytes+1)); !errors.Is(err, store.ErrChunkTooLarge) {
		t.Fatalf("a chunk over the limit: %v", err)
	}
	seal := store.Seal{Events: 3, Bytes: 11, SHA256: "abc", At: now.Truncate(time.Microsecond)}
	if err := j.Seal(ctx, day, seal); err != nil {
		t.Fatal(err)
	}
	seals, err := j.Seals(ctx)
	if err != nil || len(seals) != 1 || seals[day] != seal {
		t.Fatalf("Seals = %+v, %v", seals, err)
	}
}

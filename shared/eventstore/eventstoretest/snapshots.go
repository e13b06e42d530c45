package eventstoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"meterline/shared/eventstore"
)

// snapshots runs a snapshot test on stores that keep snapshots.
func snapshots(test func(t *testing.T, s Store, snaps eventstore.SnapshotStore)) func(t *testing.T, s Store) {
	return func(t *testing.T, s Store) {
		snaps, ok := s.(eventstore.SnapshotStore)
		if !ok {
			t.Skipf("%T keeps no snapshots (it is not an eventstore.SnapshotStore)", s)
		}
		test(t, s, snaps)
	}
}

func mustSaveSnapshot(t *testing.T, snaps eventstore.SnapshotStore, snap eventstore.Snapshot) {
	t.Helper()
	if err := snaps.SaveSnapshot(context.Background(), snap); err != nil {
		t.Fatalf("SaveSnapshot(%q@%d): %v", snap.Stream, snap.Version, err)
	}
}

// wantSnapshot expects the stream's snapshot to be want (ok false if want.Version is 0).
func wantSnapshot(t *testing.T, snaps eventstore.SnapshotStore, stream string, want eventstore.Snapshot) {
	t.Helper()
	got, ok, err := snaps.LoadSnapshot(context.Background(), stream)
	if err != nil {
		t.Fatalf("LoadSnapshot(%q): %v", stream, err)
	}
	if want.Version == 0 {
		if ok {
			t.Fatalf("LoadSnapshot(%q) found version %d, want none", stream, got.Version)
		}
		return
	}
	if !ok {
		t.Fatalf("LoadSnapshot(%q) found none, want version %d", stream, want.Version)
	}
	if got.Stream != stream || got.Version != want.Version || got.SchemaVersion != want.SchemaVersion || string(got.Data) != string(want.Data) {
		t.Fatalf("LoadSnapshot(%q) = {%d, schema %d, %d bytes}, want {%d, schema %d, %d bytes}",
			stream, got.Version, got.SchemaVersion, len(got.Data), want.Version, want.SchemaVersion, len(want.Data))
	}
}

func snap(stream string, version int64, schema int, data string) eventstore.Snapshot {
	return eventstore.Snapshot{Stream: stream, Version: version, SchemaVersion: schema, Data: json.RawMessage(data)}
}

func testSnapshotSaveAndLoad(t *testing.T, s Store, snaps eventstore.SnapshotStore) {
	wantSnapshot(t, snaps, "order-1", eventstore.Snapshot{})
	in := evs("a", 5)
	mustAppend(t, s, "order-1", eventstore.NoStream, in...)
	mustAppend(t, s, "order-10", eventstore.NoStream, ev("b"))
	wantSnapshot(t, snaps, "order-1", eventstore.Snapshot{})

	v3 := snap("order-1", 3, 1, `{"total":3,"text":"héllo <&> \"q\""}`)
	mustSaveSnapshot(t, snaps, v3)
	wantSnapshot(t, snaps, "order-1", v3)
	wantSnapshot(t, snaps, "order-10", eventstore.Snapshot{}) // a stream whose name extends another's

	v5 := snap("order-1", 5, 1, `{"total":5}`)
	mustSaveSnapshot(t, snaps, v5)
	wantSnapshot(t, snaps, "order-1", v5)
	// An older one (a slow writer) changes nothing and is not an error.
	mustSaveSnapshot(t, snaps, snap("order-1", 4, 1, `{"total":4}`))
	wantSnapshot(t, snaps, "order-1", v5)
	// The same version replaces it (a new schema after a deployment, or a repair).
	v5b := snap("order-1", 5, 2, `{"sum":5}`)
	mustSaveSnapshot(t, snaps, v5b)
	wantSnapshot(t, snaps, "order-1", v5b)

	// The stream, its outbox and its appends do not see the snapshot.
	sameEvents(t, mustRead(t, s, "order-1", 1), stored("order-1", 1, in...))
	sameEvents(t, mustRead(t, s, "order-1", 4), stored("order-1", 4, in[3:]...))
	if got := mustRead(t, s, "order-1", 6); len(got) != 0 {
		t.Fatalf("Read past the end = %d events", len(got))
	}
	if got := pendingIDs(t, s); len(got) != 6 {
		t.Fatalf("pending = %v, want the 6 events", got)
	}
	_, err := s.Append(context.Background(), "order-1", eventstore.Exact(4), ev("late"))
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Actual != 5 || len(ce.Committed) != 1 || ce.Committed[0].Version != 5 {
		t.Fatalf("conflict beside a snapshot = %v", err)
	}
	if app := mustAppend(t, s, "order-1", eventstore.Exact(5), ev("c")); app.FirstVersion != 6 {
		t.Fatalf("append beside a snapshot = %+v", app)
	}

	// Big state, cut by the table store into 64 KiB (UTF-16) properties: accents are 2 bytes in
	// both encodings, emoji 4, ASCII 1 in UTF-8 and 2 in UTF-16; the cuts must fall between runes.
	var b strings.Builder
	b.WriteString(`{"s":"`)
	for b.Len() < eventstore.MaxSnapshotBytes-64 {
		b.WriteString("ab é😀 c ")
	}
	for b.Len() < eventstore.MaxSnapshotBytes-2 {
		b.WriteString("x")
	}
	b.WriteString(`"}`)
	odd := "client 'o'reilly' é %41 ~"
	mustAppend(t, s, odd, eventstore.NoStream, ev("d"))
	big := snap(odd, 1, 7, b.String())
	if len(big.Data) != eventstore.MaxSnapshotBytes {
		t.Fatalf("test data is %d bytes", len(big.Data))
	}
	mustSaveSnapshot(t, snaps, big)
	wantSnapshot(t, snaps, odd, big)
	// Smaller again: no part of the bigger one is left behind.
	small := snap(odd, 1, 7, `"small"`)
	mustSaveSnapshot(t, snaps, small)
	wantSnapshot(t, snaps, odd, small)
	sameEvents(t, mustRead(t, s, odd, 1), stored(odd, 1, ev("d")))
}

func testSnapshotBadInput(t *testing.T, s Store, snaps eventstore.SnapshotStore) {
	mustAppend(t, s, "s", eventstore.NoStream, evs("a", 5)...)
	good := snap("s", 2, 1, `{"n":2}`)
	mustSaveSnapshot(t, snaps, good)
	with := func(f func(x *eventstore.Snapshot)) eventstore.Snapshot {
		x := snap("s", 3, 1, `{"n":3}`)
		f(&x)
		return x
	}
	cases := []struct {
		name string
		snap eventstore.Snapshot
		err  error
	}{
		{"empty stream", with(func(x *eventstore.Snapshot) { x.Stream = "" }), eventstore.ErrInvalidStream},
		{"slash in stream", with(func(x *eventstore.Snapshot) { x.Stream = "s/1" }), eventstore.ErrInvalidStream},
		{"version 0", with(func(x *eventstore.Snapshot) { x.Version = 0 }), eventstore.ErrInvalidSnapshot},
		{"negative version", with(func(x *eventstore.Snapshot) { x.Version = -1 }), eventstore.ErrInvalidSnapshot},
		{"beyond the stream's end", with(func(x *eventstore.Snapshot) { x.Version = 6 }), eventstore.ErrInvalidSnapshot},
		{"stream that does not exist", with(func(x *eventstore.Snapshot) { x.Stream, x.Version = "missing", 1 }), eventstore.ErrInvalidSnapshot},
		{"schema version 0", with(func(x *eventstore.Snapshot) { x.SchemaVersion = 0 }), eventstore.ErrInvalidSnapshot},
		{"no data", with(func(x *eventstore.Snapshot) { x.Data = nil }), eventstore.ErrInvalidSnapshot},
		{"data not JSON", with(func(x *eventstore.Snapshot) { x.Data = json.RawMessage(`{"n":`) }), eventstore.ErrInvalidSnapshot},
		{"data not UTF-8", with(func(x *eventstore.Snapshot) { x.Data = json.RawMessage("\"\xff\"") }), eventstore.ErrInvalidSnapshot},
		{"data too large", with(func(x *eventstore.Snapshot) { x.Data = bigJSON(eventstore.MaxSnapshotBytes + 1) }), eventstore.ErrSnapshotTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := snaps.SaveSnapshot(context.Background(), c.snap); !errors.Is(err, c.err) {
				t.Fatalf("SaveSnapshot = %v, want %v", err, c.err)
			}
			wantSnapshot(t, snaps, "s", good)
			wantSnapshot(t, snaps, "missing", eventstore.Snapshot{})
		})
	}
	if _, _, err := snaps.LoadSnapshot(context.Background(), "a?b"); !errors.Is(err, eventstore.ErrInvalidStream) {
		t.Fatalf("LoadSnapshot of an invalid stream = %v", err)
	}
	if got := mustRead(t, s, "s", 1); len(got) != 5 {
		t.Fatalf("stream has %d events after refused snapshots", len(got))
	}
}

func testSnapshotConcurrentSavers(t *testing.T, s Store, snaps eventstore.SnapshotStore) {
	const savers = 8 // each version saved by one writer, in a random order of arrival
	mustAppend(t, s, "contended", eventstore.NoStream, evs("a", savers)...)
	var wg sync.WaitGroup
	errs := make(chan error, savers)
	start := make(chan struct{})
	for v := int64(1); v <= savers; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := snaps.SaveSnapshot(context.Background(), snap("contended", v, 1, fmt.Sprintf(`{"v":%d}`, v))); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantSnapshot(t, snaps, "contended", snap("contended", savers, 1, fmt.Sprintf(`{"v":%d}`, savers)))
	if got := mustRead(t, s, "contended", 1); len(got) != savers {
		t.Fatalf("stream has %d events", len(got))
	}
}

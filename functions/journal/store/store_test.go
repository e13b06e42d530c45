package store_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"meterline/functions/journal/store"
	"meterline/shared/eventstore"
)

func TestEscapeMakesPrintableASCIIKeysAndIsReversible(t *testing.T) {
	for _, s := range []string{"plain-id_1.2", "a/b\\c#d?e%f", "ü日本😀", "tab\there\x7f", "~tilde~", ""} {
		e := store.Escape(s)
		for i := 0; i < len(e); i++ {
			if c := e[i]; c < 0x20 || c >= 0x7f || strings.ContainsRune(`/\#?`, rune(c)) {
				t.Fatalf("Escape(%q) = %q holds %q", s, e, c)
			}
		}
		if back, err := store.Unescape(e); err != nil || back != s {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", s, back, err)
		}
	}
	if _, err := store.Unescape("bad%zz"); err == nil {
		t.Fatal("a bad escape was accepted")
	}
}

func TestPositionKeysSortAsPositions(t *testing.T) {
	base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ps := []store.Position{
		{At: base, ID: "b"}, {At: base, ID: "a"}, {At: base.Add(time.Microsecond), ID: "0"},
		{At: base.Add(-time.Hour), ID: "z"}, {At: base, ID: "a/b"},
	}
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.Key()
		back, err := store.ParsePosition(p.Key())
		if err != nil || !back.At.Equal(p.At) || back.ID != p.ID {
			t.Fatalf("ParsePosition(%q) = %+v, %v", p.Key(), back, err)
		}
	}
	slices.Sort(keys)
	want := []string{ps[3].Key(), ps[1].Key(), ps[4].Key(), ps[0].Key(), ps[2].Key()}
	if !slices.Equal(keys, want) {
		t.Fatalf("order %v, want %v", keys, want)
	}
	if (store.Position{}).Key() >= ps[3].Key() {
		t.Fatal("the zero position is not before every event")
	}
	sp := store.StreamPosition{Version: 42, ID: "x/y"}
	if back, err := store.ParseStreamPosition(sp.Key()); err != nil || back != sp {
		t.Fatalf("ParseStreamPosition: %+v, %v", back, err)
	}
}

func record(i int, data string) store.Record {
	return store.Record{
		Event: eventstore.Event{
			ID: fmt.Sprintf("id-%d", i), Type: "test.Archived", SchemaVersion: 2, Stream: "s", Version: int64(i),
			Source: "test", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC),
			CorrelationID: "c", CausationID: "k", TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			Data: json.RawMessage(data),
		},
		ReceivedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC).Add(time.Duration(i) * time.Microsecond),
	}
}

// An archive is gzip members of JSON Lines that read back byte for byte, whatever the payload.
func TestArchiveChunksReadBackIdentically(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []store.Record
	for i := range 400 {
		// Incompressible text, so that 400 records of ~20 KiB need several members.
		var b strings.Builder
		for range 20 << 10 {
			b.WriteByte(byte('a' + rng.IntN(26)))
		}
		recs = append(recs, record(i, fmt.Sprintf(`{"html":"<a href=\"x\">&amp;</a>","line":"\u2028","n":%d,"text":%q}`, i, b.String())))
	}
	recs = append(recs, record(400, ""), record(401, `"just a string"`))
	chunks, err := store.EncodeChunks(recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 2 {
		t.Fatalf("%d chunk(s); want several members", len(chunks))
	}
	var all bytes.Buffer
	for _, c := range chunks {
		if len(c) > store.MaxChunkBytes {
			t.Fatalf("a chunk of %d bytes", len(c))
		}
		all.Write(c)
	}
	var got []store.Record
	if err := store.DecodeArchive(&all, func(r store.Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records back, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !got[i].SameAs(recs[i]) {
			t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, got[i].Event, recs[i].Event)
		}
	}
	if err := store.DecodeArchive(bytes.NewReader(nil), func(store.Record) error { return nil }); err != nil {
		t.Fatalf("an empty archive: %v", err)
	}
	damaged := append(bytes.Clone(chunks[0]), "trailing garbage"...)
	if err := store.DecodeArchive(bytes.NewReader(damaged), func(store.Record) error { return nil }); err == nil {
		t.Fatal("a damaged archive decoded")
	}
}

// A record's JSON is an envelope and a CloudEvent: the kit reads it back as the same event.
func TestRecordJSONIsAnEnvelope(t *testing.T) {
	r := record(7, `{"a":[1,2,{"b":null}]}`)
	b, err := store.MarshalRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsRune(b, '\n') {
		t.Fatal("a record's JSON spans lines")
	}
	e, err := eventstore.UnmarshalEnvelope(b)
	if err != nil || !store.SameEvent(e, r.Event) {
		t.Fatalf("UnmarshalEnvelope: %+v, %v", e, err)
	}
	var ce map[string]any
	json.Unmarshal(b, &ce)
	for _, attr := range []string{"specversion", "id", "source", "type", "time"} {
		if ce[attr] == nil || ce[attr] == "" {
			t.Fatalf("CloudEvents attribute %s missing in %s", attr, b)
		}
	}
}

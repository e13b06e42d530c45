// Package viewstest is the conformance suite every views.Backend passes.
package viewstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"meterline/shared/views"
)

// Invoice is the test document.
type Invoice struct {
	Customer string         `json:"customer"`
	Lines    []string       `json:"lines"`
	Total    int64          `json:"total"`
	Applied  map[string]int `json:"applied,omitempty"` // last version applied per stream
	Note     string         `json:"note,omitempty"`
}

// Run runs the suite; newBackend returns an empty backend for each subtest.
func Run(t *testing.T, newBackend func(t *testing.T) views.Backend) {
	ctx := context.Background()

	t.Run("GetMissing", func(t *testing.T) {
		docs := views.Collection[Invoice](newBackend(t), "invoices")
		doc, ok, err := docs.Get(ctx, "nope")
		if err != nil || ok || doc.Customer != "" {
			t.Fatalf("Get missing = %+v, %v, %v", doc, ok, err)
		}
		if _, err := newBackend(t).Get(ctx, "invoices", "nope"); !errors.Is(err, views.ErrNotFound) {
			t.Fatalf("Backend.Get missing: %v, want ErrNotFound", err)
		}
	})

	t.Run("UpdateCreatesThenChanges", func(t *testing.T) {
		docs := views.Collection[Invoice](newBackend(t), "invoices")
		got, err := docs.Update(ctx, "inv-1", func(d *Invoice) error {
			if d.Customer != "" {
				return errors.New("not a fresh document")
			}
			d.Customer, d.Total = "c-1", 10
			return nil
		})
		if err != nil || got.Total != 10 {
			t.Fatalf("create: %+v, %v", got, err)
		}
		got, err = docs.Update(ctx, "inv-1", func(d *Invoice) error { d.Total += 5; d.Lines = append(d.Lines, "x"); return nil })
		if err != nil || got.Total != 15 {
			t.Fatalf("update: %+v, %v", got, err)
		}
		read, ok, err := docs.Get(ctx, "inv-1")
		if err != nil || !ok || read.Customer != "c-1" || read.Total != 15 || !slices.Equal(read.Lines, []string{"x"}) {
			t.Fatalf("Get = %+v, %v, %v", read, ok, err)
		}
	})

	t.Run("FailedUpdateWritesNothing", func(t *testing.T) {
		b := newBackend(t)
		docs := views.Collection[Invoice](b, "invoices")
		boom := errors.New("boom")
		if _, err := docs.Update(ctx, "inv-2", func(d *Invoice) error { d.Total = 1; return boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want fn's error", err)
		}
		if _, ok, _ := docs.Get(ctx, "inv-2"); ok {
			t.Fatal("a failed create was stored")
		}
		docs.Update(ctx, "inv-2", func(d *Invoice) error { d.Total = 7; return nil })
		before, _ := b.Get(ctx, "invoices", "inv-2")
		if _, err := docs.Update(ctx, "inv-2", func(d *Invoice) error { d.Total = 99; return boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		after, _ := b.Get(ctx, "invoices", "inv-2")
		if after.Version != before.Version || string(after.Data) != string(before.Data) {
			t.Fatalf("a failed update changed the document: %s -> %s", before.Data, after.Data)
		}
	})

	t.Run("UnchangedDocumentIsNotWritten", func(t *testing.T) {
		b := newBackend(t)
		docs := views.Collection[Invoice](b, "invoices")
		apply := func(stream string, version int) error {
			_, err := docs.Update(ctx, "inv-3", func(d *Invoice) error {
				if d.Applied[stream] >= version {
					return nil // already applied: idempotent projection
				}
				if d.Applied == nil {
					d.Applied = map[string]int{}
				}
				d.Applied[stream] = version
				d.Total++
				return nil
			})
			return err
		}
		if err := apply("s", 1); err != nil {
			t.Fatal(err)
		}
		before, _ := b.Get(ctx, "invoices", "inv-3")
		if err := apply("s", 1); err != nil {
			t.Fatal(err)
		}
		after, _ := b.Get(ctx, "invoices", "inv-3")
		if after.Version != before.Version {
			t.Fatal("a no-op update wrote the document")
		}
	})

	t.Run("OptimisticConcurrency", func(t *testing.T) {
		b := newBackend(t)
		v1, err := b.Put(ctx, "invoices", "k", []byte(`{"total":1}`), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Put(ctx, "invoices", "k", []byte(`{"total":2}`), ""); !errors.Is(err, views.ErrConflict) {
			t.Fatalf("second create: %v, want ErrConflict", err)
		}
		v2, err := b.Put(ctx, "invoices", "k", []byte(`{"total":3}`), v1)
		if err != nil || v2 == v1 || v2 == "" {
			t.Fatalf("replace: %q, %v", v2, err)
		}
		if _, err := b.Put(ctx, "invoices", "k", []byte(`{"total":4}`), v1); !errors.Is(err, views.ErrConflict) {
			t.Fatalf("stale version: %v, want ErrConflict", err)
		}
		b.Delete(ctx, "invoices", "k")
		if _, err := b.Put(ctx, "invoices", "k", []byte(`{"total":5}`), v2); !errors.Is(err, views.ErrConflict) {
			t.Fatalf("replace after delete: %v, want ErrConflict", err)
		}
		doc, err := b.Get(ctx, "invoices", "k")
		if !errors.Is(err, views.ErrNotFound) {
			t.Fatalf("after losing writes: %s, %v", doc.Data, err)
		}
	})

	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		docs := views.Collection[Invoice](newBackend(t), "invoices")
		docs.Update(ctx, "inv-4", func(d *Invoice) error { d.Total = 1; return nil })
		for i := 0; i < 2; i++ {
			if err := docs.Delete(ctx, "inv-4"); err != nil {
				t.Fatalf("delete #%d: %v", i+1, err)
			}
		}
		if _, ok, _ := docs.Get(ctx, "inv-4"); ok {
			t.Fatal("deleted document still there")
		}
	})

	t.Run("ListReturnsOneCollectionInKeyOrder", func(t *testing.T) {
		b := newBackend(t)
		a := views.Collection[Invoice](b, "a")
		other := views.Collection[Invoice](b, "a2")
		for _, k := range []string{"b", "a/1", "c", "a"} {
			a.Update(ctx, k, func(d *Invoice) error { d.Customer = k; return nil })
		}
		other.Update(ctx, "zz", func(d *Invoice) error { d.Customer = "other"; return nil })
		list, err := a.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range list {
			got = append(got, d.Customer)
		}
		if want := []string{"a", "a/1", "b", "c"}; !slices.Equal(got, want) {
			t.Fatalf("List = %v, want %v", got, want)
		}
		entries, err := a.Entries(ctx)
		if err != nil || len(entries) != len(list) {
			t.Fatalf("Entries: %d, %v; List: %d", len(entries), err, len(list))
		}
		for i, e := range entries {
			if e.Key != got[i] || e.Doc.Customer != got[i] { // each document's Customer is its key
				t.Errorf("Entries[%d] = %q %+v, want key %q", i, e.Key, e.Doc, got[i])
			}
		}
		raw, err := b.List(ctx, "a")
		if err != nil || len(raw) != 4 {
			t.Fatalf("Backend.List: %d docs, %v", len(raw), err)
		}
		for _, d := range raw {
			one, err := b.Get(ctx, "a", d.Key)
			if err != nil || one.Version != d.Version || string(one.Data) != string(d.Data) {
				t.Errorf("List entry %q differs from Get: %+v vs %+v (%v)", d.Key, d, one, err)
			}
		}
		if empty, err := views.Collection[Invoice](b, "none").List(ctx); err != nil || len(empty) != 0 {
			t.Fatalf("empty collection: %v, %v", empty, err)
		}
	})

	t.Run("KeysWithCharactersTablesForbid", func(t *testing.T) {
		b := newBackend(t)
		keys := []string{"a/b", `back\slash`, "hash#tag", "what?", "100%", "~tilde~", "it's", "tab\there", "nl\n", "del\x7f", "c1\u0085", "é-ü-日本", "~2F", "%2F", " space ", "a/b/"}
		coll := "odd/coll#?"
		for _, k := range keys {
			data, _ := json.Marshal(k)
			if _, err := b.Put(ctx, coll, k, data, ""); err != nil {
				t.Fatalf("Put %q: %v", k, err)
			}
		}
		for _, k := range keys {
			d, err := b.Get(ctx, coll, k)
			var stored string
			if err != nil || json.Unmarshal(d.Data, &stored) != nil || stored != k || d.Key != k {
				t.Errorf("Get %q = %+v, %v", k, d, err)
			}
		}
		list, err := b.List(ctx, coll)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range list {
			got = append(got, d.Key)
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("List keys = %q, want %q", got, want)
		}
	})

	t.Run("InvalidKeysAreRefused", func(t *testing.T) {
		b := newBackend(t)
		for _, k := range []string{"", strings.Repeat("/", views.MaxKeyLength+1), "bad\xffutf8"} {
			if _, err := b.Put(ctx, "invoices", k, []byte(`{}`), ""); !errors.Is(err, views.ErrInvalidKey) {
				t.Errorf("Put key %q: %v, want ErrInvalidKey", k, err)
			}
			if _, err := b.Get(ctx, "invoices", k); !errors.Is(err, views.ErrInvalidKey) {
				t.Errorf("Get key %q: %v, want ErrInvalidKey", k, err)
			}
			if _, err := b.Put(ctx, k, "key", []byte(`{}`), ""); !errors.Is(err, views.ErrInvalidKey) {
				t.Errorf("Put collection %q: %v, want ErrInvalidKey", k, err)
			}
		}
		longest := strings.Repeat("#", views.MaxKeyLength) // escapes to three times its length
		if _, err := b.Put(ctx, "invoices", longest, []byte(`{"ok":true}`), ""); err != nil {
			t.Fatalf("longest key: %v", err)
		}
		if d, err := b.Get(ctx, "invoices", longest); err != nil || d.Key != longest {
			t.Fatalf("longest key read back: %v", err)
		}
		if _, err := b.Put(ctx, "invoices", "k", []byte(`{not json`), ""); !errors.Is(err, views.ErrInvalidDocument) {
			t.Fatalf("invalid JSON: %v, want ErrInvalidDocument", err)
		}
		if _, err := b.Put(ctx, "invoices", "k", []byte("\"bad \xff utf8\""), ""); !errors.Is(err, views.ErrInvalidDocument) {
			t.Fatalf("invalid UTF-8: %v, want ErrInvalidDocument", err)
		}
		if list, _ := b.List(ctx, "invoices"); len(list) != 1 {
			t.Fatalf("refused writes left %d documents", len(list))
		}
	})

	t.Run("LargeDocuments", func(t *testing.T) {
		b := newBackend(t)
		docs := views.Collection[Invoice](b, "invoices")
		// JSON overhead of Invoice{Note: s} plus the Lines field.
		overhead := len(`{"customer":"","lines":null,"total":0,"note":""}`)
		// Odd offset: two-byte runes straddle the 32 KiB chunk boundaries of the table backend.
		big := "x" + strings.Repeat("é", (views.MaxDocumentSize-overhead-1)/2)
		got, err := docs.Update(ctx, "big", func(d *Invoice) error { d.Note = big; return nil })
		if err != nil {
			t.Fatalf("document of the maximum size: %v", err)
		}
		read, ok, err := docs.Get(ctx, "big")
		if err != nil || !ok || read.Note != got.Note {
			t.Fatalf("big document read back: ok=%v err=%v lengths %d, %d", ok, err, len(read.Note), len(got.Note))
		}
		before, _ := b.Get(ctx, "invoices", "big")
		_, err = docs.Update(ctx, "big", func(d *Invoice) error { d.Note += "yy"; return nil })
		if !errors.Is(err, views.ErrTooLarge) {
			t.Fatalf("oversize update: %v, want ErrTooLarge", err)
		}
		after, _ := b.Get(ctx, "invoices", "big")
		if after.Version != before.Version {
			t.Fatal("a refused oversize update changed the stored document")
		}
		if _, err := docs.Update(ctx, "new-big", func(d *Invoice) error { d.Note = big + "yy"; return nil }); !errors.Is(err, views.ErrTooLarge) {
			t.Fatalf("oversize create: %v", err)
		}
		if _, ok, _ := docs.Get(ctx, "new-big"); ok {
			t.Fatal("a refused oversize create was stored")
		}
		// Shrinking a multi-chunk document leaves no stale chunk behind.
		if _, err := docs.Update(ctx, "big", func(d *Invoice) error { d.Note = "small"; return nil }); err != nil {
			t.Fatal(err)
		}
		if read, _, _ := docs.Get(ctx, "big"); read.Note != "small" {
			t.Fatalf("shrunk document = %.40q", read.Note)
		}
	})

	t.Run("DocumentsOfEverySize", func(t *testing.T) {
		b := newBackend(t)
		docs := views.Collection[Invoice](b, "invoices")
		// Sizes around the table backend's layouts (32 KiB text, 64 KiB chunks), with
		// multi-byte runes, quotes and characters JSON escapes.
		pieces := []string{"é", `"`, "<&>", "日本", "\\", "😀", "a"}
		for _, size := range []int{1, 20 << 10, 32<<10 - 60, 32<<10 + 1, 48 << 10, 64<<10 + 3, 130 << 10} {
			var sb strings.Builder
			for i := 0; sb.Len() < size; i++ {
				sb.WriteString(pieces[i%len(pieces)])
			}
			key := fmt.Sprintf("size-%d", size)
			want, err := docs.Update(ctx, key, func(d *Invoice) error { d.Note = sb.String(); return nil })
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			got, ok, err := docs.Get(ctx, key)
			if err != nil || !ok || got.Note != want.Note {
				t.Fatalf("%s read back: ok=%v err=%v equal=%v", key, ok, err, got.Note == want.Note)
			}
			if _, err := docs.Update(ctx, key, func(d *Invoice) error { d.Total++; return nil }); err != nil {
				t.Fatalf("%s update: %v", key, err)
			}
		}
	})

	t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) {
		docs := views.Collection[Invoice](newBackend(t), "invoices")
		const writers = 20
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := docs.Update(ctx, "contended", func(d *Invoice) error {
					d.Lines = append(d.Lines, fmt.Sprintf("w%02d", i))
					d.Total++
					return nil
				})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		doc, _, err := docs.Get(ctx, "contended")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(doc.Lines)
		var want []string
		for i := range writers {
			want = append(want, fmt.Sprintf("w%02d", i))
		}
		if doc.Total != writers || !slices.Equal(doc.Lines, want) {
			t.Fatalf("after %d concurrent updates: total %d, lines %v", writers, doc.Total, doc.Lines)
		}
	})

	t.Run("UndecodableDocumentIsAnError", func(t *testing.T) {
		b := newBackend(t)
		b.Put(ctx, "invoices", "odd", []byte(`{"total":"not a number"}`), "")
		docs := views.Collection[Invoice](b, "invoices")
		if _, _, err := docs.Get(ctx, "odd"); err == nil {
			t.Error("Get decoded a mistyped document")
		}
		if _, err := docs.Update(ctx, "odd", func(*Invoice) error { return nil }); err == nil {
			t.Error("Update ran on a mistyped document")
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		docs := views.Collection[Invoice](newBackend(t), "invoices")
		if _, err := docs.Update(cctx, "k", func(d *Invoice) error { d.Total = 1; return nil }); err == nil {
			t.Error("Update with a cancelled context succeeded")
		}
	})
}

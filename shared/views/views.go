// Package views keeps read models: JSON documents in named collections, read by key and
// updated with optimistic concurrency. Projections build them from events; queries read them.
//
//	invoices := views.Collection[OutstandingInvoices](backend, "outstanding-invoices")
//	doc, err := invoices.Update(ctx, customerID, func(d *OutstandingInvoices) error { ... })
//
// A projection makes itself idempotent by keeping, inside the document, the last version it
// applied per source stream (or the applied event IDs for a bounded set) and skipping events
// at or below it; Update does not write when fn leaves the document unchanged.
//
// Backends: memstore (in memory) and tablestore (Azure Table Storage: one table per bounded
// context, PartitionKey = collection, RowKey = escaped key, the JSON in a property). Both
// pass the same conformance suite (package viewstest).
package views

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
	"unicode/utf8"
)

var (
	// ErrNotFound: no document with that key (Backend.Get only; Docs.Get reports it as false).
	ErrNotFound = errors.New("views: document not found")
	// ErrConflict: the document changed since it was read (Backend.Put), or Update gave up
	// after too many concurrent changes.
	ErrConflict = errors.New("views: document changed concurrently")
	// ErrInvalidKey: an empty, non-UTF-8 or too long key or collection name.
	ErrInvalidKey = errors.New("views: invalid key")
	// ErrTooLarge: the document's JSON exceeds MaxDocumentSize. Nothing is written.
	ErrTooLarge = errors.New("views: document too large")
	// ErrInvalidDocument: the data given to a backend is not JSON.
	ErrInvalidDocument = errors.New("views: document is not valid JSON")
)

const (
	// MaxKeyLength bounds keys and collection names (UTF-8 bytes). Table Storage keys take at
	// most 1 KiB (512 UTF-16 units) and escaping makes a key up to three times as long.
	MaxKeyLength = 170
	// MaxDocumentSize bounds a document's JSON, well under Table Storage's 1 MiB per entity.
	MaxDocumentSize = 480 << 10
)

// Doc is a stored document.
type Doc struct {
	Key     string
	Data    []byte // JSON
	Version string // opaque; changes on every write
}

// Backend stores JSON documents by collection and key.
type Backend interface {
	// Get returns the document or ErrNotFound.
	Get(ctx context.Context, collection, key string) (Doc, error)
	// Put writes data if the document is still at version ("" = it must not exist yet) and
	// returns the new version; ErrConflict otherwise.
	Put(ctx context.Context, collection, key string, data []byte, version string) (string, error)
	// Delete removes the document; deleting a missing one is not an error.
	Delete(ctx context.Context, collection, key string) error
	// List returns every document of collection, in key order.
	List(ctx context.Context, collection string) ([]Doc, error)
}

// CheckKey validates a key or a collection name, for backends.
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidKey, len(key), MaxKeyLength)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidKey)
	}
	return nil
}

// CheckDocument validates data before a backend writes it.
func CheckDocument(data []byte) error {
	if len(data) > MaxDocumentSize {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxDocumentSize)
	}
	if !utf8.Valid(data) || !json.Valid(data) {
		return ErrInvalidDocument
	}
	return nil
}

// Docs is a typed collection of documents.
type Docs[T any] struct {
	backend Backend
	name    string
}

// Collection returns the collection name of b holding documents of type T.
func Collection[T any](b Backend, name string) *Docs[T] {
	return &Docs[T]{backend: b, name: name}
}

// Get returns the document at key; false if there is none.
func (d *Docs[T]) Get(ctx context.Context, key string) (T, bool, error) {
	var doc T
	stored, err := d.backend.Get(ctx, d.name, key)
	if errors.Is(err, ErrNotFound) {
		return doc, false, nil
	}
	if err != nil {
		return doc, false, err
	}
	if err := json.Unmarshal(stored.Data, &doc); err != nil {
		return doc, false, fmt.Errorf("views: decode %s/%s: %w", d.name, key, err)
	}
	return doc, true, nil
}

// maxAttempts bounds Update's retries; each lost race means another writer made progress.
const maxAttempts = 100

// Update creates or changes the document at key with fn, atomically: when another writer
// changed it meanwhile, fn runs again on the fresh document, so fn may be called more than
// once and must only change the document it is given. An error from fn is returned and
// nothing is written. When fn leaves an existing document unchanged, nothing is written.
func (d *Docs[T]) Update(ctx context.Context, key string, fn func(doc *T) error) (T, error) {
	for attempt := 1; ; attempt++ {
		var doc T
		version := ""
		stored, err := d.backend.Get(ctx, d.name, key)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return doc, err
		default:
			if err := json.Unmarshal(stored.Data, &doc); err != nil {
				return doc, fmt.Errorf("views: decode %s/%s: %w", d.name, key, err)
			}
			version = stored.Version
		}
		if err := fn(&doc); err != nil {
			var zero T
			return zero, err
		}
		data, err := json.Marshal(doc)
		if err != nil {
			return doc, fmt.Errorf("views: encode %s/%s: %w", d.name, key, err)
		}
		if version != "" && bytes.Equal(data, stored.Data) {
			return doc, nil
		}
		_, err = d.backend.Put(ctx, d.name, key, data, version)
		if err == nil {
			return doc, nil
		}
		if !errors.Is(err, ErrConflict) || attempt == maxAttempts {
			var zero T
			return zero, err
		}
		// Jittered back-off so that racing writers do not collide again at once.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// Delete removes the document at key; a missing document is not an error.
func (d *Docs[T]) Delete(ctx context.Context, key string) error {
	return d.backend.Delete(ctx, d.name, key)
}

// List returns every document of the collection in key order. Meant for small collections.
func (d *Docs[T]) List(ctx context.Context) ([]T, error) {
	entries, err := d.Entries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(entries))
	for i, e := range entries {
		out[i] = e.Doc
	}
	return out, nil
}

// Entry is a document with the key it is stored under.
type Entry[T any] struct {
	Key string
	Doc T
}

// Entries is List with each document's key, for callers that change or delete what they find
// (sweeps of documents whose key is not inside them).
func (d *Docs[T]) Entries(ctx context.Context) ([]Entry[T], error) {
	stored, err := d.backend.List(ctx, d.name)
	if err != nil {
		return nil, err
	}
	out := make([]Entry[T], 0, len(stored))
	for _, s := range stored {
		e := Entry[T]{Key: s.Key}
		if err := json.Unmarshal(s.Data, &e.Doc); err != nil {
			return nil, fmt.Errorf("views: decode %s/%s: %w", d.name, s.Key, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Bulk is a Backend that also writes and drops whole collections in few round trips (Table
// Storage: entity-group transactions of one partition, which a collection is). Rebuilds use
// it; Docs falls back to one call per document on a backend without it.
type Bulk interface {
	// PutAll writes docs into collection unconditionally (created or replaced).
	PutAll(ctx context.Context, collection string, docs []Doc) error
	// Drop deletes every document of collection and returns how many there were.
	Drop(ctx context.Context, collection string) (int, error)
}

// Name is the collection's name.
func (d *Docs[T]) Name() string { return d.name }

// Drop deletes every document of the collection (a read model about to be rebuilt) and
// returns how many there were.
func (d *Docs[T]) Drop(ctx context.Context) (int, error) {
	if b, ok := d.backend.(Bulk); ok {
		return b.Drop(ctx, d.name)
	}
	stored, err := d.backend.List(ctx, d.name)
	if err != nil {
		return 0, err
	}
	for _, s := range stored {
		if err := d.backend.Delete(ctx, d.name, s.Key); err != nil {
			return 0, err
		}
	}
	return len(stored), nil
}

// PutAll writes entries unconditionally, creating or replacing each document: the last step
// of a rebuild, after Drop. Every document is encoded and checked before anything is written.
func (d *Docs[T]) PutAll(ctx context.Context, entries []Entry[T]) error {
	docs := make([]Doc, len(entries))
	for i, e := range entries {
		if err := CheckKey(e.Key); err != nil {
			return err
		}
		data, err := json.Marshal(e.Doc)
		if err != nil {
			return fmt.Errorf("views: encode %s/%s: %w", d.name, e.Key, err)
		}
		if err := CheckDocument(data); err != nil {
			return fmt.Errorf("%s/%s: %w", d.name, e.Key, err)
		}
		docs[i] = Doc{Key: e.Key, Data: data}
	}
	if b, ok := d.backend.(Bulk); ok {
		return b.PutAll(ctx, d.name, docs)
	}
	for _, doc := range docs {
		if err := d.put(ctx, doc); err != nil {
			return err
		}
	}
	return nil
}

// put writes doc whatever is stored.
func (d *Docs[T]) put(ctx context.Context, doc Doc) error {
	for attempt := 1; ; attempt++ {
		version := ""
		stored, err := d.backend.Get(ctx, d.name, doc.Key)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		default:
			version = stored.Version
		}
		_, err = d.backend.Put(ctx, d.name, doc.Key, doc.Data, version)
		if !errors.Is(err, ErrConflict) || attempt == maxAttempts {
			return err
		}
	}
}

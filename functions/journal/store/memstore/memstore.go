// Package memstore is the Journal's in-memory twin: a store.Backend of sorted maps, for tests
// and for defining the functions without storage. It passes the same conformance suite as the
// Table Storage backend (package storetest), including its partial failures: each call is one
// step, as each request is on Azure, so a crash between two leaves what it would leave there.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"sync"

	"meterline/functions/journal/store"
)

// New returns an empty Journal in memory.
func New(opt *store.Options) *store.Journal { return store.New(NewBackend(), opt) }

// Backend is a store.Backend in memory. Safe for concurrent use.
type Backend struct {
	mu       sync.Mutex
	tables   map[store.Table]map[string]map[string]store.Row // table -> partition -> key -> row
	payloads map[string][]byte
	archives map[string][]byte
}

var _ store.Backend = (*Backend)(nil)

// NewBackend returns an empty backend.
func NewBackend() *Backend {
	return &Backend{tables: map[store.Table]map[string]map[string]store.Row{}, payloads: map[string][]byte{}, archives: map[string][]byte{}}
}

func (b *Backend) partition(t store.Table, p string, create bool) map[string]store.Row {
	parts := b.tables[t]
	if parts == nil {
		if !create {
			return nil
		}
		parts = map[string]map[string]store.Row{}
		b.tables[t] = parts
	}
	rows := parts[p]
	if rows == nil && create {
		rows = map[string]store.Row{}
		parts[p] = rows
	}
	return rows
}

func (b *Backend) Insert(_ context.Context, t store.Table, r store.Row) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	rows := b.partition(t, r.Partition, true)
	if _, ok := rows[r.Key]; ok {
		return store.ErrExists
	}
	rows[r.Key] = r
	return nil
}

func (b *Backend) Put(_ context.Context, t store.Table, r store.Row) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.partition(t, r.Partition, true)[r.Key] = r
	return nil
}

func (b *Backend) Get(_ context.Context, t store.Table, partition, key string) (store.Row, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.partition(t, partition, false)[key]
	return r, ok, nil
}

func (b *Backend) Delete(_ context.Context, t store.Table, partition, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.partition(t, partition, false), key)
	return nil
}

func (b *Backend) DeleteRows(_ context.Context, t store.Table, partition string, keys []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		delete(b.partition(t, partition, false), k)
	}
	return nil
}

func (b *Backend) Range(_ context.Context, t store.Table, partition, after, before string, limit int) ([]store.Row, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []store.Row
	for k, r := range b.partition(t, partition, false) {
		if k > after && k < before {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (b *Backend) All(_ context.Context, t store.Table) ([]store.Row, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []store.Row
	for _, rows := range b.tables[t] {
		for _, r := range rows {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

func (b *Backend) PutPayload(_ context.Context, name string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.payloads[name] = bytes.Clone(data)
	return nil
}

func (b *Backend) GetPayload(_ context.Context, name string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.payloads[name]
	if !ok {
		return nil, errors.New("memstore: no payload " + name)
	}
	return bytes.Clone(data), nil
}

func (b *Backend) DeletePayload(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.payloads, name)
	return nil
}

// PayloadNames lists the offloaded payloads (for tests: a refused event leaves none behind).
func (b *Backend) PayloadNames(context.Context) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.payloads))
	for n := range b.payloads {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (b *Backend) OpenArchive(_ context.Context, name string) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.archives[name]
	if !ok {
		return nil, nil
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(data))), nil
}

func (b *Backend) AppendArchive(_ context.Context, name string, at int64, chunk []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if int64(len(b.archives[name])) != at {
		return store.ErrArchiveMoved
	}
	b.archives[name] = append(b.archives[name], chunk...)
	return nil
}

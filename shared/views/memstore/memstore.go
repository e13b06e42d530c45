// Package memstore is the in-memory views.Backend, for tests and local runs.
package memstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"

	"meterline/shared/views"
)

// Store keeps documents in memory. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	docs    map[string]map[string]entry // collection -> key -> entry
	counter uint64
}

type entry struct {
	data    []byte
	version string
}

// New returns an empty store.
func New() *Store { return &Store{docs: map[string]map[string]entry{}} }

func check(ctx context.Context, collection, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := views.CheckKey(collection); err != nil {
		return err
	}
	return views.CheckKey(key)
}

// Get implements views.Backend.
func (s *Store) Get(ctx context.Context, collection, key string) (views.Doc, error) {
	if err := check(ctx, collection, key); err != nil {
		return views.Doc{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.docs[collection][key]
	if !ok {
		return views.Doc{}, views.ErrNotFound
	}
	return views.Doc{Key: key, Data: slices.Clone(e.data), Version: e.version}, nil
}

// Put implements views.Backend.
func (s *Store) Put(ctx context.Context, collection, key string, data []byte, version string) (string, error) {
	if err := check(ctx, collection, key); err != nil {
		return "", err
	}
	if err := views.CheckDocument(data); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, exists := s.docs[collection][key]
	if (version == "" && exists) || (version != "" && (!exists || e.version != version)) {
		return "", views.ErrConflict
	}
	if s.docs[collection] == nil {
		s.docs[collection] = map[string]entry{}
	}
	s.counter++
	v := strconv.FormatUint(s.counter, 10)
	s.docs[collection][key] = entry{data: slices.Clone(data), version: v}
	return v, nil
}

// Delete implements views.Backend.
func (s *Store) Delete(ctx context.Context, collection, key string) error {
	if err := check(ctx, collection, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.docs[collection], key)
	return nil
}

// List implements views.Backend.
func (s *Store) List(ctx context.Context, collection string) ([]views.Doc, error) {
	if err := check(ctx, collection, "-"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]views.Doc, 0, len(s.docs[collection]))
	for k, e := range s.docs[collection] {
		out = append(out, views.Doc{Key: k, Data: slices.Clone(e.data), Version: e.version})
	}
	slices.SortFunc(out, func(a, b views.Doc) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

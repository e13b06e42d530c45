package app_test

import (
	"context"
	"encoding/json"
	"sync"
)

// memDocs is a map-backed app.Docs for unit tests; it stores JSON like the real backends, so
// documents round-trip through their tags.
type memDocs[T any] struct {
	mu   sync.Mutex
	docs map[string][]byte
}

func newDocs[T any]() *memDocs[T] { return &memDocs[T]{docs: map[string][]byte{}} }

func (m *memDocs[T]) Get(_ context.Context, key string) (T, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v T
	b, ok := m.docs[key]
	if ok {
		_ = json.Unmarshal(b, &v)
	}
	return v, ok, nil
}

func (m *memDocs[T]) Update(_ context.Context, key string, fn func(*T) error) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v T
	if b, ok := m.docs[key]; ok {
		_ = json.Unmarshal(b, &v)
	}
	if err := fn(&v); err != nil {
		var zero T
		return zero, err
	}
	b, _ := json.Marshal(v)
	m.docs[key] = b
	return v, nil
}

func (m *memDocs[T]) snapshot() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.docs {
		out[k] = string(v)
	}
	return out
}

// Package memviews is an in-memory, map-backed twin of the view collections for the Product
// context's tests: documents are stored as JSON like the real backends, so they round-trip
// through their tags.
package memviews

import (
	"context"
	"encoding/json"
	"sync"

	"meterline/functions/product/app"
	"meterline/functions/product/domain"
)

// Docs is one collection.
type Docs[T any] struct {
	mu   sync.Mutex
	docs map[string][]byte
}

// New returns an empty collection.
func New[T any]() *Docs[T] { return &Docs[T]{docs: map[string][]byte{}} }

func (m *Docs[T]) Get(_ context.Context, key string) (T, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v T
	b, ok := m.docs[key]
	if ok {
		if err := json.Unmarshal(b, &v); err != nil {
			return v, false, err
		}
	}
	return v, ok, nil
}

func (m *Docs[T]) Update(_ context.Context, key string, fn func(*T) error) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v T
	if b, ok := m.docs[key]; ok {
		if err := json.Unmarshal(b, &v); err != nil {
			return v, err
		}
	}
	if err := fn(&v); err != nil {
		var zero T
		return zero, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		var zero T
		return zero, err
	}
	m.docs[key] = b
	return v, nil
}

func (m *Docs[T]) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.docs, key)
	return nil
}

// Len is the number of documents.
func (m *Docs[T]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.docs)
}

// Raw is the stored JSON of every document, for comparing two views.
func (m *Docs[T]) Raw() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.docs {
		out[k] = string(v)
	}
	return out
}

// Views is a full set of in-memory Product views.
func Views() app.Views {
	return app.Views{
		Users: New[domain.PortalUser](), Emails: New[domain.EmailOwner](), Accounts: New[domain.Account](),
		Usage: New[domain.Usage](), Sessions: New[app.Session](), Attempts: New[app.SignInAttempts](),
	}
}

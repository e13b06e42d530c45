package app

import (
	"context"
	"sync"
	"time"
)

// DefaultAccessCacheTTL is how long the gate trusts what it read from the access replica.
// Short enough for the seed's promises (a new key accepted, a lock enforced within 1-2 s of
// the event), long enough that a busy key costs about one replica read per TTL instead of
// three reads per request.
const DefaultAccessCacheTTL = 500 * time.Millisecond

// maxCached bounds a cache's entries (misses are cached too, so random keys can't grow it
// without bound): when full, it starts afresh.
const maxCached = 100_000

// Cached returns docs whose Get results (found or not) are reused for ttl. Update goes through
// and drops the cached entry. For read paths that tolerate data ttl old; ttl <= 0 returns docs.
func Cached[T any](docs Docs[T], ttl time.Duration) Docs[T] {
	if ttl <= 0 {
		return docs
	}
	return &cached[T]{docs: docs, ttl: ttl, entries: map[string]cacheEntry[T]{}, now: time.Now}
}

type cached[T any] struct {
	docs    Docs[T]
	ttl     time.Duration
	now     func() time.Time
	mu      sync.RWMutex
	entries map[string]cacheEntry[T]
}

type cacheEntry[T any] struct {
	doc     T
	found   bool
	expires time.Time
}

func (c *cached[T]) Get(ctx context.Context, key string) (T, bool, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.doc, e.found, nil
	}
	doc, found, err := c.docs.Get(ctx, key)
	if err != nil {
		return doc, found, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCached {
		c.entries = map[string]cacheEntry[T]{}
	}
	c.entries[key] = cacheEntry[T]{doc: doc, found: found, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return doc, found, nil
}

func (c *cached[T]) Update(ctx context.Context, key string, fn func(*T) error) (T, error) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
	return c.docs.Update(ctx, key, fn)
}

// CachedAccess wraps every collection of s with Cached.
func CachedAccess(s AccessStore, ttl time.Duration) AccessStore {
	return AccessStore{Keys: Cached(s.Keys, ttl), Credentials: Cached(s.Credentials, ttl), Users: Cached(s.Users, ttl), Customers: Cached(s.Customers, ttl)}
}

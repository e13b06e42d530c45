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
// Concurrent misses of one key share a single read: when a busy key's entry expires, its
// in-flight requests would otherwise all read the replica at once.
func Cached[T any](docs Docs[T], ttl time.Duration) Docs[T] {
	if ttl <= 0 {
		return docs
	}
	return &cached[T]{docs: docs, ttl: ttl, entries: map[string]cacheEntry[T]{}, reads: map[string]*read[T]{}, now: time.Now}
}

type cached[T any] struct {
	docs    Docs[T]
	ttl     time.Duration
	now     func() time.Time
	mu      sync.RWMutex
	entries map[string]cacheEntry[T]
	reads   map[string]*read[T] // under way, by key
}

// read is a replica read that concurrent misses of its key wait for.
type read[T any] struct {
	done    chan struct{}
	waiters int // misses sharing it (under cached.mu; tests look at it)
	doc     T
	found   bool
	err     error
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
	c.mu.Lock()
	if r := c.reads[key]; r != nil {
		r.waiters++
		c.mu.Unlock()
		select {
		case <-r.done:
			if r.err == nil {
				return r.doc, r.found, nil
			}
			// The reader's failure may be its own (its request was cancelled): read ourselves.
		case <-ctx.Done():
			var zero T
			return zero, false, ctx.Err()
		}
		return c.docs.Get(ctx, key)
	}
	r := &read[T]{done: make(chan struct{})}
	c.reads[key] = r
	c.mu.Unlock()

	r.doc, r.found, r.err = c.docs.Get(ctx, key)
	c.mu.Lock()
	if c.reads[key] == r { // an Update since may have dropped it: then its result is not cached
		delete(c.reads, key)
		if r.err == nil {
			if len(c.entries) >= maxCached {
				c.entries = map[string]cacheEntry[T]{}
			}
			c.entries[key] = cacheEntry[T]{doc: r.doc, found: r.found, expires: now.Add(c.ttl)}
		}
	}
	c.mu.Unlock()
	close(r.done)
	return r.doc, r.found, r.err
}

func (c *cached[T]) Update(ctx context.Context, key string, fn func(*T) error) (T, error) {
	c.Forget(key)
	return c.docs.Update(ctx, key, fn)
}

// Forget drops what the cache holds of key (a writer elsewhere changed it), so the next Get
// reads it afresh.
func (c *cached[T]) Forget(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	delete(c.reads, key) // a read under way may predate the change: later misses read afresh
	c.mu.Unlock()
}

// forget drops key from docs if it is a cache.
func forget[T any](docs Docs[T], key string) {
	if c, ok := docs.(*cached[T]); ok {
		c.Forget(key)
	}
}

package app

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type countingDocs struct {
	docs  map[string]int
	reads int
}

func (c *countingDocs) Get(_ context.Context, key string) (int, bool, error) {
	c.reads++
	v, ok := c.docs[key]
	return v, ok, nil
}

func (c *countingDocs) Update(_ context.Context, key string, fn func(*int) error) (int, error) {
	v := c.docs[key]
	err := fn(&v)
	c.docs[key] = v
	return v, err
}

// Reads (hits and misses) are reused for the TTL and no longer; an update drops the entry.
func TestCachedReusesReadsForTheTTL(t *testing.T) {
	ctx := context.Background()
	inner := &countingDocs{docs: map[string]int{"a": 1}}
	clock := time.Unix(0, 0)
	c := Cached[int](inner, time.Second).(*cached[int])
	c.now = func() time.Time { return clock }

	for range 3 {
		if v, ok, _ := c.Get(ctx, "a"); v != 1 || !ok {
			t.Fatalf("get a: %v %v", v, ok)
		}
		if _, ok, _ := c.Get(ctx, "missing"); ok {
			t.Fatal("missing found")
		}
	}
	if inner.reads != 2 {
		t.Fatalf("%d reads, want 2", inner.reads)
	}
	inner.docs["a"] = 2 // changed elsewhere (another instance's projection)
	clock = clock.Add(999 * time.Millisecond)
	if v, _, _ := c.Get(ctx, "a"); v != 1 {
		t.Fatalf("within TTL: %v, want the cached 1", v)
	}
	clock = clock.Add(time.Millisecond)
	if v, _, _ := c.Get(ctx, "a"); v != 2 {
		t.Fatalf("after TTL: %v, want 2", v)
	}
	c.Update(ctx, "a", func(v *int) error { *v = 3; return nil })
	if v, _, _ := c.Get(ctx, "a"); v != 3 {
		t.Fatalf("after update: %v, want 3", v)
	}
	if Cached[int](inner, 0) != Docs[int](inner) {
		t.Fatal("ttl 0 should not cache")
	}
}

// blockingDocs holds every read until release is closed.
type blockingDocs struct {
	entered chan struct{}
	release chan struct{}
	reads   atomic.Int64
}

func (b *blockingDocs) Get(context.Context, string) (int, bool, error) {
	if b.reads.Add(1) == 1 {
		close(b.entered)
	}
	<-b.release
	return 7, true, nil
}

func (b *blockingDocs) Update(context.Context, string, func(*int) error) (int, error) { return 0, nil }

// When a busy key's entry expires, its concurrent requests share one replica read.
func TestCachedSharesConcurrentMisses(t *testing.T) {
	ctx := context.Background()
	inner := &blockingDocs{entered: make(chan struct{}), release: make(chan struct{})}
	c := Cached[int](inner, time.Second).(*cached[int])
	const followers = 8
	var wg sync.WaitGroup
	got := make([]int, followers+1)
	get := func(i int) {
		defer wg.Done()
		v, ok, err := c.Get(ctx, "k")
		if err != nil || !ok {
			t.Errorf("get %d: %v %v", i, ok, err)
		}
		got[i] = v
	}
	wg.Add(1)
	go get(0)
	<-inner.entered
	wg.Add(followers)
	for i := 1; i <= followers; i++ {
		go get(i)
	}
	for { // until every follower waits on the read under way
		c.mu.Lock()
		n := c.reads["k"].waiters
		c.mu.Unlock()
		if n == followers {
			break
		}
		runtime.Gosched()
	}
	close(inner.release)
	wg.Wait()
	if n := inner.reads.Load(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
	for i, v := range got {
		if v != 7 {
			t.Fatalf("get %d: %d, want 7", i, v)
		}
	}
}

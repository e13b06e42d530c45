package app

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
)

// counting counts the events the inner store hands out.
type counting struct {
	eventstore.Store
	read int
}

func (c *counting) Read(ctx context.Context, stream string, from int64) ([]eventstore.Event, error) {
	events, err := c.Store.Read(ctx, stream, from)
	c.read += len(events)
	return events, err
}

func appendN(t *testing.T, s eventstore.Store, stream string, n int) {
	t.Helper()
	for i := range n {
		e := eventstore.Event{ID: eventstore.NewID(), Type: "t", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
		if _, err := s.Append(context.Background(), stream, eventstore.Any, e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStreamCacheReadsOnlyTheTailAndAnswersLikeTheStore(t *testing.T) {
	ctx := context.Background()
	inner := &counting{Store: memstore.New()}
	c := newStreamCache(inner, 100)
	appendN(t, c, "s", 10)
	for _, from := range []int64{1, 1, 4, 11, 0} {
		got, err := c.Read(ctx, "s", from)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := inner.Store.Read(ctx, "s", from)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("from %d: %d events, store has %d", from, len(got), len(want))
		}
	}
	if inner.read != 10 {
		t.Fatalf("the inner store handed out %d events for 5 reads of a 10-event stream, want 10", inner.read)
	}
	appendN(t, c, "s", 3) // another writer's events show up with the tail
	got, _ := c.Read(ctx, "s", 1)
	if len(got) != 13 || got[12].Version != 13 || inner.read != 13 {
		t.Fatalf("after 3 appends: %d events, last version %d, inner read %d", len(got), got[len(got)-1].Version, inner.read)
	}
	got[0].Type = "changed by a caller"
	if again, _ := c.Read(ctx, "s", 1); again[0].Type != "t" {
		t.Fatal("a caller changed the cache")
	}
}

func TestStreamCacheForgetsTheLeastRecentlyReadStreams(t *testing.T) {
	ctx := context.Background()
	inner := &counting{Store: memstore.New()}
	c := newStreamCache(inner, 10)
	appendN(t, c, "a", 6)
	appendN(t, c, "b", 6)
	c.Read(ctx, "a", 1)
	c.Read(ctx, "b", 1) // 12 > 10: "a" goes
	if c.total != 6 || c.cached("a") != nil || len(c.cached("b")) != 6 {
		t.Fatalf("total %d, a cached %d, b cached %d", c.total, len(c.cached("a")), len(c.cached("b")))
	}
	appendN(t, c, "big", 11) // longer than the whole cache: never kept
	c.Read(ctx, "big", 1)
	if c.cached("big") != nil {
		t.Fatal("a stream longer than the cache was kept")
	}
}

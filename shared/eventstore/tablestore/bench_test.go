package tablestore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/shared/eventstore"
)

// The benchmarks compare the store with raw aztables calls writing the same entities in the
// same transaction (events, id rows, outbox rows, header), interleaved in one loop so that both
// see the same Azurite. Each reports store-ms/op, raw-ms/op and ratio (store/raw).
//
//	go test -run '^$' -bench . -benchtime 30x ./shared/eventstore/tablestore/

type benchEnv struct {
	store *Store
	raw   *aztables.Client
}

func newBenchEnv(b *testing.B) benchEnv {
	inst := azuritetest.Start(b)
	s, err := NewFromConnectionString(context.Background(), inst.ConnectionString(), &Options{Table: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return benchEnv{store: s, raw: s.table}
}

var benchPayload = json.RawMessage(`{"customerId":"customer-42","meter":"api-calls","quantity":1250,"unit":"call","period":"2026-11"}`)

func benchEvents(prefix string, n int) []eventstore.Event {
	out := make([]eventstore.Event, n)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range out {
		out[i] = eventstore.Event{
			ID: eventstore.NewID(), Type: "cloudapi.UsageRecorded", SchemaVersion: 1, Stream: prefix,
			Source: "cloudapi", CreatedAt: now, CorrelationID: "flow", CausationID: "cmd", Data: benchPayload,
		}
	}
	return out
}

// rawAppend writes what Store.Append writes, with nothing around it: the caller tracks the
// version, no validation, no conflict handling.
func rawAppend(ctx context.Context, t *aztables.Client, stream string, version int64, events []eventstore.Event) error {
	actions := make([]aztables.TransactionAction, 0, 3*len(events)+1)
	for i := range events {
		events[i].Stream, events[i].Version = stream, version+int64(i)+1
		row, _ := json.Marshal(newEventEntity(events[i], ""))
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: row})
	}
	for _, e := range events {
		row, _ := json.Marshal(newVersionEntity(stream, idPrefix+e.ID, e.Version))
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: row})
	}
	for _, e := range events {
		row, _ := json.Marshal(newVersionEntity(stream, outboxRowKey(e.Version), e.Version))
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: row})
	}
	header, _ := json.Marshal(newVersionEntity(stream, headRow, version+int64(len(events))))
	kind := aztables.TransactionTypeInsertReplace
	if version == 0 {
		kind = aztables.TransactionTypeAdd
	}
	actions = append(actions, aztables.TransactionAction{ActionType: kind, Entity: header})
	_, err := t.SubmitTransaction(ctx, actions, nil)
	return err
}

// compare runs store and raw alternately b.N times and reports both and their ratio.
func compare(b *testing.B, store, raw func(i int)) {
	var storeTime, rawTime time.Duration
	b.ResetTimer()
	timed := func(f func(int), i int) time.Duration {
		t0 := time.Now()
		f(i)
		return time.Since(t0)
	}
	for i := 0; i < b.N; i++ {
		// Alternate who goes first, so neither always follows the other's write.
		if i%2 == 0 {
			storeTime += timed(store, i)
			rawTime += timed(raw, i)
		} else {
			rawTime += timed(raw, i)
			storeTime += timed(store, i)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(storeTime.Microseconds())/1000/n, "store-ms/op")
	b.ReportMetric(float64(rawTime.Microseconds())/1000/n, "raw-ms/op")
	b.ReportMetric(float64(storeTime)/float64(rawTime), "ratio")
}

func benchAppendOneStream(b *testing.B, perCommit int) {
	e := newBenchEnv(b)
	ctx := context.Background()
	stream := fmt.Sprintf("one-%d", perCommit)
	var rawVersion int64
	compare(b,
		func(i int) {
			if _, err := e.store.Append(ctx, "store-"+stream, eventstore.Exact(int64(i*perCommit)), benchEvents(stream, perCommit)...); err != nil {
				b.Fatal(err)
			}
		},
		func(i int) {
			if err := rawAppend(ctx, e.raw, "raw-"+stream, rawVersion, benchEvents(stream, perCommit)); err != nil {
				b.Fatal(err)
			}
			rawVersion += int64(perCommit)
		})
}

func BenchmarkAppend1EventOneStream(b *testing.B)   { benchAppendOneStream(b, 1) }
func BenchmarkAppend10EventsOneStream(b *testing.B) { benchAppendOneStream(b, 10) }

// benchAppendManyStreams: each op is a wave of 100 concurrent appends, one per stream.
func benchAppendManyStreams(b *testing.B, perCommit int) {
	const streams = 100
	e := newBenchEnv(b)
	ctx := context.Background()
	wave := func(f func(s int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, streams)
		for s := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f(s); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	compare(b,
		func(i int) {
			wave(func(s int) error {
				_, err := e.store.Append(ctx, fmt.Sprintf("store-%d-%d", perCommit, s), eventstore.Exact(int64(i*perCommit)), benchEvents("", perCommit)...)
				return err
			})
		},
		func(i int) {
			wave(func(s int) error {
				return rawAppend(ctx, e.raw, fmt.Sprintf("raw-%d-%d", perCommit, s), int64(i*perCommit), benchEvents("", perCommit))
			})
		})
}

func BenchmarkAppend1Event100Streams(b *testing.B)   { benchAppendManyStreams(b, 1) }
func BenchmarkAppend10Events100Streams(b *testing.B) { benchAppendManyStreams(b, 10) }

// BenchmarkLoad1000Events reads a 1,000-event stream: Store.Read (decoded events) beside the
// raw paged query of the same rows (entity bytes, undecoded).
func BenchmarkLoad1000Events(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	var v int64
	for v < 1000 {
		app, err := e.store.Append(ctx, "long", eventstore.Exact(v), benchEvents("long", min(eventstore.MaxEventsPerAppend, int(1000-v)))...)
		if err != nil {
			b.Fatal(err)
		}
		v = app.LastVersion
	}
	filter := "PartitionKey eq 'long' and RowKey ge '" + eventRowKey(1) + "' and RowKey le '" + headRow + "'"
	compare(b,
		func(int) {
			events, err := e.store.Read(ctx, "long", 1)
			if err != nil || len(events) != 1000 {
				b.Fatalf("read %d events: %v", len(events), err)
			}
		},
		func(int) {
			pager := e.raw.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
			n := 0
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				n += len(page.Entities)
			}
			if n != 1001 {
				b.Fatalf("raw read %d rows", n)
			}
		})
}

package tablestore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/journal/domain"
	"meterline/functions/journal/store"
	"meterline/functions/journal/store/tablestore"
	"meterline/shared/eventstore"
)

// BenchmarkIngest compares the Journal's ingest of one envelope (parse the body, check it,
// canonical payload and digest, then the writes: in-flight mark, event row, time and stream
// index rows in parallel, mark deleted) with raw aztables calls writing the same entities in the
// same pattern, prepared beforehand. Both run in waves of concurrent writers, alternately, on
// the same Azurite, and report events/s and the ratio of the two rates (raw/journal: 1.0 means
// no overhead).
//
//	go test -run '^$' -bench Ingest -benchtime 40x ./functions/journal/store/tablestore/
func BenchmarkIngest(b *testing.B) {
	const writers = 32
	ctx := context.Background()
	j, backend := open(b, nil)
	now := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	body := func(id string) []byte {
		return fmt.Appendf(nil, `{"id":%q,"type":"cloudapi.UsageReported","schemaVersion":1,"stream":"usage-%s","version":1,`+
			`"source":"cloudapi","createdAt":"2026-03-10T13:59:00.123456Z","correlationId":"flow-%s","causationId":"cmd",`+
			`"data":{"reportId":%q,"customerId":"c-%s","units":1250,"requests":1250,"periodFrom":"2026-03-10T13:58:00Z",`+
			`"periodTo":"2026-03-10T13:59:00Z"},"specversion":"1.0","time":"2026-03-10T13:59:00.123456Z","datacontenttype":"application/json"}`,
			id, id, id, id, id)
	}
	// Warm the catalog cache and the connections, as a running app has them.
	if _, _, err := j.Record(ctx, mustParse(b, body("warm")), now); err != nil {
		b.Fatal(err)
	}
	raw := rawWriter{events: backend.Table(store.Events), byType: backend.Table(store.ByType),
		byStream: backend.Table(store.ByStream), inFlight: backend.Table(store.InFlight)}

	wave := func(f func(w int) error) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for w := range writers {
			wg.Go(func() { errs[w] = f(w) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var journalTime, rawTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bodies := make([][]byte, writers)
		rows := make([]rawEvent, writers)
		for w := range writers {
			bodies[w] = body(fmt.Sprintf("j-%d-%d", i, w))
			rows[w] = prepare(b, body(fmt.Sprintf("r-%d-%d", i, w)), now)
		}
		journalWave := func() time.Duration {
			return wave(func(w int) error {
				e, err := domain.ParseEnvelope(bodies[w])
				if err == nil {
					_, _, err = j.Record(ctx, e, now)
				}
				return err
			})
		}
		rawWave := func() time.Duration { return wave(func(w int) error { return raw.write(ctx, rows[w]) }) }
		if i%2 == 0 { // alternate who goes first
			journalTime += journalWave()
			rawTime += rawWave()
		} else {
			rawTime += rawWave()
			journalTime += journalWave()
		}
	}
	b.StopTimer()
	events := float64(b.N * writers)
	b.ReportMetric(events/journalTime.Seconds(), "journal-events/s")
	b.ReportMetric(events/rawTime.Seconds(), "raw-events/s")
	b.ReportMetric(journalTime.Seconds()/rawTime.Seconds(), "ratio")
}

func mustParse(b *testing.B, body []byte) eventstore.Event {
	e, err := domain.ParseEnvelope(body)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// rawEvent is the entities of one event, as the Journal lays them out, encoded beforehand.
type rawEvent struct {
	mark, event, byType, byStream []byte
	markPK, markRK                string
}

func prepare(b *testing.B, body []byte, now time.Time) rawEvent {
	e := mustParse(b, body)
	received := store.TimeKey(now)
	sum := sha256.Sum256([]byte(e.ID))
	row := store.Row{
		Partition: store.Escape(e.ID), Key: "event", EventID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion,
		Stream: e.Stream, Version: e.Version, Source: e.Source, CreatedAt: e.CreatedAt.Format(time.RFC3339Nano),
		CorrelationID: e.CorrelationID, CausationID: e.CausationID, Data: string(e.Data), ReceivedAt: received,
		Digest: store.Digest(e),
	}
	mark := store.Row{Partition: hex.EncodeToString(sum[:1])[:1], Key: received + "~" + store.Escape(e.ID), EventID: e.ID}
	byType, byStream := row, row
	byType.Partition, byType.Key = store.Escape(e.Type)+"~"+store.Day(now), mark.Key
	byStream.Partition, byStream.Key = store.Escape(e.Stream), store.StreamPosition{Version: e.Version, ID: e.ID}.Key()
	return rawEvent{mark: tablestore.Entity(mark), event: tablestore.Entity(row), byType: tablestore.Entity(byType),
		byStream: tablestore.Entity(byStream), markPK: mark.Partition, markRK: mark.Key}
}

type rawWriter struct{ events, byType, byStream, inFlight *aztables.Client }

var replace = &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}

// write makes the Journal's requests for one event, with nothing around them.
func (r rawWriter) write(ctx context.Context, e rawEvent) error {
	if _, err := r.inFlight.UpsertEntity(ctx, e.mark, replace); err != nil {
		return err
	}
	if _, err := r.events.AddEntity(ctx, e.event, nil); err != nil {
		return err
	}
	var wg sync.WaitGroup
	var streamErr error
	wg.Go(func() { _, streamErr = r.byStream.UpsertEntity(ctx, e.byStream, replace) })
	_, typeErr := r.byType.UpsertEntity(ctx, e.byType, replace)
	wg.Wait()
	if typeErr != nil || streamErr != nil {
		return fmt.Errorf("%v %v", typeErr, streamErr)
	}
	_, err := r.inFlight.DeleteEntity(ctx, e.markPK, e.markRK, nil)
	return err
}

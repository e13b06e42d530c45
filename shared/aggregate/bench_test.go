package aggregate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"meterline/shared/eventstore"
	"meterline/shared/eventstore/tablestore"
)

// BenchmarkExecuteOn5000EventStreamAzurite: one command on an aggregate whose stream holds
// 5,000 events, on Table Storage (Azurite), replaying the whole stream or starting from a
// snapshot (SnapshotEvery 100: at most 99 events of tail, one snapshot write per 100 commands).
//
//	go test ./shared/aggregate/ -run '^$' -bench ExecuteOn5000 -benchtime 20x
func BenchmarkExecuteOn5000EventStreamAzurite(b *testing.B) {
	ctx := context.Background()
	store, err := tablestore.NewFromConnectionString(ctx, azuritetest.Start(b).ConnectionString(), nil)
	if err != nil {
		b.Fatal(err)
	}
	reg := walletRegistry()
	const length = 5000
	for _, snapshots := range []bool{false, true} {
		stream := fmt.Sprint("wallet-snapshots-", snapshots)
		for v := int64(0); v < length; {
			batch := make([]any, min(eventstore.MaxEventsPerAppend, int(length-v)))
			for i := range batch {
				batch[i] = credited{1}
			}
			events, err := reg.NewEvents(ctx, "test", stream, time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), batch...)
			if err != nil {
				b.Fatal(err)
			}
			app, err := store.Append(ctx, stream, eventstore.Exact(v), events...)
			if err != nil {
				b.Fatal(err)
			}
			v = app.LastVersion
		}
		svc := newWallets(store, nil, 0)
		if snapshots {
			svc.Snapshots = store
			svc.OnSnapshotError = func(_ context.Context, _ string, err error) { b.Fatal(err) }
			if _, err := svc.Execute(ctx, stream, credit(1)); err != nil { // takes the first snapshot
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprint("snapshots=", snapshots), func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.Execute(ctx, stream, credit(1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

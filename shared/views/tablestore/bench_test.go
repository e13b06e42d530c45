package tablestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/shared/views"
	"meterline/shared/views/tablestore"
)

type benchDoc struct {
	Customer string         `json:"customer"`
	Total    int64          `json:"total"`
	Applied  map[string]int `json:"applied"`
}

// BenchmarkUpdate compares views' Update of an existing document (read, change, replace
// If-Match) with the raw aztables calls on the same Azurite: a blind UpsertEntity, and the
// same read + replace-If-Match by hand. It reports each cost per operation and the ratios.
func BenchmarkUpdate(b *testing.B) {
	ctx := context.Background()
	service := serviceClient(b)
	store, err := tablestore.New(ctx, service, "benchviews")
	if err != nil {
		b.Fatal(err)
	}
	docs := views.Collection[benchDoc](store, "balances")
	raw := service.NewClient("benchraw")
	if _, err := raw.CreateTable(ctx, nil); err != nil {
		b.Fatal(err)
	}
	entity := func(n int) []byte {
		data, _ := json.Marshal(benchDoc{Customer: "c-1", Total: int64(n), Applied: map[string]int{"customer-1": n}})
		e, _ := json.Marshal(map[string]any{"PartitionKey": "balances", "RowKey": "c-1", "Data": string(data)})
		return e
	}
	update := func(d *benchDoc) error {
		d.Customer = "c-1"
		d.Total++
		if d.Applied == nil {
			d.Applied = map[string]int{}
		}
		d.Applied["customer-1"]++
		return nil
	}
	// Warm up both tables (connections, table creation, first entity).
	docs.Update(ctx, "c-1", update)
	raw.UpsertEntity(ctx, entity(0), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})

	// Interleaved, so that load from elsewhere on the machine hits all three alike.
	var viewsCost, upsertCost, readReplaceCost time.Duration
	timed := func(total *time.Duration, fn func() error) {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		*total += time.Since(start)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		timed(&viewsCost, func() error { _, err := docs.Update(ctx, "c-1", update); return err })
		timed(&upsertCost, func() error {
			_, err := raw.UpsertEntity(ctx, entity(i), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
			return err
		})
		timed(&readReplaceCost, func() error {
			resp, err := raw.GetEntity(ctx, "balances", "c-1", nil)
			if err != nil {
				return err
			}
			etag := azcore.ETag(resp.ETag)
			_, err = raw.UpdateEntity(ctx, entity(i), &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
			return err
		})
	}
	n := time.Duration(b.N)
	viewsCost, upsertCost, readReplaceCost = viewsCost/n, upsertCost/n, readReplaceCost/n
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(viewsCost.Microseconds()), "views-µs/op")
	b.ReportMetric(float64(upsertCost.Microseconds()), "raw-upsert-µs/op")
	b.ReportMetric(float64(readReplaceCost.Microseconds()), "raw-get+replace-µs/op")
	b.ReportMetric(float64(viewsCost)/float64(upsertCost), "x-upsert")
	b.ReportMetric(float64(viewsCost)/float64(readReplaceCost), "x-get+replace")
	if testing.Verbose() {
		fmt.Printf("views.Update %v, raw upsert %v, raw get+replace %v\n", viewsCost, upsertCost, readReplaceCost)
	}
}

package subscriptions_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"meterline/functions/subscriptions"
	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
	evtables "meterline/shared/eventstore/tablestore"
	viewsmem "meterline/shared/views/memstore"
)

// BenchmarkUsageOnLongStreamAzurite: applying one usage report to a customer whose stream
// already holds a month of minute-by-minute reports costs a read of the whole stream (no
// snapshots yet). Reported as ms per report at several stream lengths.
func BenchmarkUsageOnLongStreamAzurite(b *testing.B) {
	ctx := context.Background()
	az := azuritetest.Start(b)
	store, err := evtables.NewFromConnectionString(ctx, az.ConnectionString(), &evtables.Options{Table: "benchEvents"})
	if err != nil {
		b.Fatal(err)
	}
	_, s := subscriptions.NewWithApplication(subscriptions.Deps{Store: store, Views: viewsmem.New(), Logger: quiet, Setting: func(string) string { return "" }})
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	for _, length := range []int{100, 1000, 5000} {
		id, err := s.Customers.Create(ctx, app.CreateCustomer{Name: "Long", Plan: "enterprise"})
		if err != nil {
			b.Fatal(err)
		}
		stream := contracts.CustomerStream(id)
		at := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
		// Fill the stream directly, in batches, as if reports had been applied.
		for i := 0; i < length; i += 30 {
			var batch []any
			for j := i; j < i+30 && j < length; j++ {
				batch = append(batch, contracts.ConsumptionAdded{CustomerID: id, ReportID: fmt.Sprint("fill-", j), Units: 1, Currency: "EUR", PeriodFrom: at, PeriodTo: at, Month: "2026-11"})
			}
			events, err := reg.NewEvents(ctx, contracts.Source, stream, at, batch...)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := store.Append(ctx, stream, eventstore.Any, events...); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprint("events=", length), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := s.Customers.AddConsumption(ctx, app.AddConsumption{CustomerID: id, ReportID: fmt.Sprint("r", length, "-", i), Units: 1, From: at, To: at}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

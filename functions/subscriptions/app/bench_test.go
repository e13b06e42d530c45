package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
	evtables "meterline/shared/eventstore/tablestore"
)

// BenchmarkUsageReportSteadyStateAzurite: one usage report for a customer whose stream already
// holds a long history, on Table Storage (Azurite), after a first report has brought the
// projections and the Customer's snapshot up to date: what every report costs from then on.
// (functions/subscriptions' BenchmarkUsageOnLongStreamAzurite times that first catch-up too.)
//
//	go test ./functions/subscriptions/app/ -run '^$' -bench SteadyState -benchtime 50x
func BenchmarkUsageReportSteadyStateAzurite(b *testing.B) {
	ctx := context.Background()
	store, err := evtables.NewFromConnectionString(ctx, azuritetest.Start(b).ConnectionString(), &evtables.Options{Table: "benchEvents"})
	if err != nil {
		b.Fatal(err)
	}
	s := app.New(app.Config{Store: store, Views: memViews(), Logger: quiet})
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	at := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	for _, length := range []int{1000, 5000} {
		id, err := s.Customers.Create(ctx, app.CreateCustomer{Name: "Long", Plan: "enterprise"})
		if err != nil {
			b.Fatal(err)
		}
		stream := contracts.CustomerStream(id)
		for i := 0; i < length; i += eventstore.MaxEventsPerAppend {
			var batch []any
			for j := i; j < i+eventstore.MaxEventsPerAppend && j < length; j++ {
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
		report := func(n string) {
			if err := s.Customers.AddConsumption(ctx, app.AddConsumption{CustomerID: id, ReportID: n, Units: 1, From: at, To: at}); err != nil {
				b.Fatal(err)
			}
		}
		report(fmt.Sprint("warm-", length))
		b.Run(fmt.Sprint("events=", length), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				report(fmt.Sprint("r", length, "-", i))
			}
		})
	}
}

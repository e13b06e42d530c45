package cloudapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/cloudapi"
	"meterline/functions/cloudapi/app"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/azurite/azuritetest"
	"meterline/shared/eventstore"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
	viewtables "meterline/shared/views/tablestore"
)

// BenchmarkRebuild measures meterline's rebuild of the Cloud API's user-lock view: 100,000
// events (50,000 users, each created and locked; REBUILD_EVENTS=N for another size) folded
// and written from scratch, into the in-memory views store and into Azurite, in the same run.
// It reports events/s.
//
//	go test -run '^$' -bench Rebuild -benchtime 1x ./functions/cloudapi/
func BenchmarkRebuild(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("REBUILD_EVENTS")); err == nil && v > 0 {
		n = v
	}
	events := userHistory(b, n/2)
	inst := azuritetest.Start(b)
	svc, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, backend := range []struct {
		name string
		open func(i int) views.Backend
	}{
		{"memory", func(int) views.Backend { return viewmem.New() }},
		{"azurite", func(i int) views.Backend {
			s, err := viewtables.New(context.Background(), svc, fmt.Sprintf("rebuild%d", i))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	} {
		b.Run(backend.name, func(b *testing.B) {
			for i := range b.N {
				projection := app.ReplicateUserLocks(cloudapi.AccessStoreOn(backend.open(i)), nil)
				start := time.Now()
				stats, err := projection.Rebuild(context.Background(), events, nil)
				if err != nil {
					b.Fatal(err)
				}
				if stats.Events != n || stats.Documents != n/2 {
					b.Fatalf("rebuild: %+v, want %d events into %d documents", stats, n, n/2)
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
			}
		})
	}
}

// userHistory is users UserCreated and UserLocked events, as Subscriptions stores them.
func userHistory(b *testing.B, users int) iter.Seq2[eventstore.Event, error] {
	all := make([]eventstore.Event, 0, 2*users)
	for i := range users {
		user, customer := fmt.Sprintf("u%06d", i), fmt.Sprintf("c%05d", i/10)
		for v, payload := range []any{subs.UserCreated{UserID: user, CustomerID: customer}, subs.UserLocked{UserID: user, CustomerID: customer}} {
			data, err := json.Marshal(payload)
			if err != nil {
				b.Fatal(err)
			}
			typ := subs.TypeUserCreated
			if v == 1 {
				typ = subs.TypeUserLocked
			}
			all = append(all, eventstore.Event{ID: fmt.Sprintf("%s@%d", user, v+1), Type: typ, SchemaVersion: 1,
				Stream: subs.UserStream(user), Version: int64(v + 1), Source: "subscriptions", Data: data})
		}
	}
	return func(yield func(eventstore.Event, error) bool) {
		for _, e := range all {
			if !yield(e, nil) {
				return
			}
		}
	}
}

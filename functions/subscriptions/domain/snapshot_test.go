package domain_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"meterline/shared/fault"

	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/aggregate"
	"meterline/shared/aggregate/aggregatetest"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
)

func customers(store *memstore.Store, snapshots bool, every int) *aggregate.Service[*domain.Customer] {
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	svc := &aggregate.Service[*domain.Customer]{
		Store: store, Events: reg, Source: contracts.Source,
		New: func(stream string) *domain.Customer { return domain.NewCustomer(domain.CustomerIDFromStream(stream)) },
	}
	if snapshots {
		svc.Snapshots, svc.SnapshotEvery = store, every
	}
	return svc
}

// randomCommand is one of the Customer's commands with random arguments, repeats of ids and
// bad input included.
func randomCommand(rng *rand.Rand, reports *int) func(c *domain.Customer) ([]any, error) {
	months := []time.Time{nov3, dec2, time.Date(2027, 1, 20, 8, 0, 0, 0, time.UTC)}
	at := months[rng.IntN(len(months))].Add(time.Duration(rng.IntN(1000)) * time.Minute)
	switch n := rng.IntN(20); {
	case n < 12:
		report := *reports
		if rng.IntN(8) == 0 && report > 0 {
			report = rng.IntN(report) // a repeat: recent or long forgotten
		} else {
			*reports++
		}
		units := rng.Int64N(3000)
		return func(c *domain.Customer) ([]any, error) {
			return c.AddConsumption(fmt.Sprint("usage-", report), units, at, at.Add(time.Minute))
		}
	case n < 14:
		id, amount := fmt.Sprint("ch-", rng.IntN(30)), 1+rng.Int64N(3)*1000
		return func(c *domain.Customer) ([]any, error) { return c.Charge(id, amount, "extra", at) }
	case n < 17:
		id, amount := fmt.Sprint("pay-", rng.IntN(40)), 1+rng.Int64N(4)*2500
		return func(c *domain.Customer) ([]any, error) { return c.Pay(id, amount, at) }
	case n < 19:
		period := at.Format("2006-01")
		return func(c *domain.Customer) ([]any, error) { return c.IssueInvoice(period, at, at.Add(dueIn)) }
	default:
		id := "c1-" + months[rng.IntN(len(months))].Format("2006-01")
		return func(c *domain.Customer) ([]any, error) { return c.ExpireInvoice(id) }
	}
}

// The property: after random commands, the Customer loaded from its snapshot and the tail is
// the Customer replayed from the whole stream, field by field.
func TestCustomerFromSnapshotEqualsReplay(t *testing.T) {
	ctx := context.Background()
	run := func(t *testing.T, seed uint64, steps, compareEvery int) {
		rng := rand.New(rand.NewPCG(seed, 11))
		store := memstore.New()
		snapped, plain := customers(store, true, 1+rng.IntN(20)), customers(store, false, 0)
		plans := []string{"payg", "starter", "pro"}
		if _, err := snapped.Execute(ctx, "customer-c1", func(c *domain.Customer) ([]any, error) {
			return c.Create("Acme", plans[rng.IntN(len(plans))], nil)
		}); err != nil {
			t.Fatal(err)
		}
		reports := 0
		for step := 1; step <= steps; step++ {
			_, err := snapped.Execute(ctx, "customer-c1", randomCommand(rng, &reports))
			var de *fault.Error
			if err != nil && !errors.As(err, &de) {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			if step%compareEvery != 0 && step != steps {
				continue
			}
			fromSnapshot, v1, err1 := snapped.Load(ctx, "customer-c1")
			replayed, v2, err2 := plain.Load(ctx, "customer-c1")
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if v1 != v2 || !reflect.DeepEqual(fromSnapshot, replayed) {
				a, _ := fromSnapshot.Snapshot()
				b, _ := replayed.Snapshot()
				t.Fatalf("seed %d step %d: from snapshot at %d\n%+v\nreplayed at %d\n%+v", seed, step, v1, a, v2, b)
			}
		}
		if snap, ok, _ := store.LoadSnapshot(ctx, "customer-c1"); !ok || snap.Version < int64(steps)/2 {
			t.Fatalf("seed %d: snapshot %v at %d: the property was not exercised", seed, ok, snap.Version)
		}
	}
	for seed := uint64(1); seed <= 20; seed++ {
		run(t, seed, 150, 1)
	}
	// Past RecentReports: the oldest report ids are forgotten alike.
	run(t, 99, domain.RecentReports+400, 250)
}

func TestCustomerRemembersTheRecentReports(t *testing.T) {
	past := []any{created} // (no BalanceChanged in the past: the balance stays 0)
	for i := range domain.RecentReports + 1 {
		past = append(past, consumed(fmt.Sprint("r", i), 1, 10, nov3))
	}
	// The oldest is forgotten (the event store recognises its events if it comes again)...
	aggregatetest.Given(t, customer(), past...).
		When(func(c *domain.Customer) ([]any, error) { return c.AddConsumption("r0", 1, nov3, nov3.Add(time.Minute)) }).
		Then(consumed("r0", 1, 10, nov3), balance(-10))
	// ...the RecentReports after it are not.
	for _, id := range []string{"r1", fmt.Sprint("r", domain.RecentReports)} {
		aggregatetest.Given(t, customer(), past...).
			When(func(c *domain.Customer) ([]any, error) { return c.AddConsumption(id, 1, nov3, nov3) }).
			ThenNothing()
	}
}

// What a snapshot holds for a busy customer after two years: it must fit a snapshot, or every
// command would replay the stream.
func TestBusyCustomerSnapshotFits(t *testing.T) {
	c := customer()
	c.Apply(created)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range domain.RecentReports * 2 {
		at := start.Add(time.Duration(i) * time.Minute)
		c.Apply(consumed(fmt.Sprintf("usage-%032x", i), 7, 70, at)) // report ids as the Cloud API makes them
	}
	for m := range 24 {
		month := start.AddDate(0, m, 0)
		c.Apply(charged(fmt.Sprint("charge-", m), 500, month))
		c.Apply(paid(fmt.Sprint("payment-", m), 1000))
		c.Apply(invoice(month.Format("2006-01"), 1000, 10, 500, 500, month.AddDate(0, 1, 0)))
		c.Apply(contracts.InvoicePaid{CustomerID: "c1", InvoiceID: "c1-" + month.Format("2006-01")})
	}
	state, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(state)
	t.Logf("snapshot of a customer with %d reports remembered, 24 invoices, charges and payments: %d bytes", domain.RecentReports, len(data))
	if len(data) > eventstore.MaxSnapshotBytes {
		t.Fatalf("snapshot of %d bytes, a snapshot holds %d", len(data), eventstore.MaxSnapshotBytes)
	}
	restored := domain.NewCustomer("c1")
	if err := restored.Restore(data); err != nil || !reflect.DeepEqual(restored, c) {
		t.Fatalf("restored customer differs (%v)", err)
	}
}

func TestCustomerRestoreRefusesContradictions(t *testing.T) {
	tooMany := make([]string, domain.RecentReports+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("r", i)
	}
	many, _ := json.Marshal(map[string]any{"reports": tooMany})
	for _, data := range []string{
		`{"balance":`,
		`[1,2]`,
		`{"balance":"ten"}`,
		`{"reports":["r1","r1"]}`,
		string(many),
		`{"invoices":[{"ID":"c1-2026-11","Status":"paid"}],"open":["c1-2026-11"]}`,
		`{"open":["c1-2026-12"]}`,
		`{"invoices":[{"ID":"a"},{"ID":"a"}]}`,
	} {
		if err := domain.NewCustomer("c1").Restore([]byte(data)); err == nil {
			t.Errorf("Restore(%s) accepted it", strings.ReplaceAll(data, "\n", ""))
		}
	}
}

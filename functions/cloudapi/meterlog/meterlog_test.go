package meterlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	"meterline/functions/cloudapi/meterlog"
)

// Both implementations pass the same suite, against the interface the app declares.
func TestMemory(t *testing.T) {
	conformance(t, func(t *testing.T) app.MeterLog { return meterlog.NewMemory() })
}

func TestTable(t *testing.T) {
	inst := azuritetest.Start(t)
	svc, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	conformance(t, func(t *testing.T) app.MeterLog {
		n++
		l, err := meterlog.NewTable(context.Background(), svc, fmt.Sprintf("meter%d", n))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func entry(customer, request string, units int64, at time.Time) domain.MeterEntry {
	return domain.MeterEntry{CustomerID: customer, RequestID: request, UserID: "u1", KeyID: "k1", Units: units,
		RecordedAt: at, RequestHash: "h-" + request, Response: []byte(`{"forecast":[1,2]}`)}
}

func conformance(t *testing.T, open func(t *testing.T) app.MeterLog) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

	t.Run("a request id is metered once and its answer kept", func(t *testing.T) {
		l := open(t)
		first, fresh, err := l.Record(ctx, entry("c/1#?", "req 1/ä", 3, t0))
		if err != nil || !fresh {
			t.Fatalf("first record: fresh=%v err=%v", fresh, err)
		}
		again := entry("c/1#?", "req 1/ä", 5, t0.Add(time.Second))
		again.Response = []byte("other")
		got, fresh, err := l.Record(ctx, again)
		if err != nil || fresh {
			t.Fatalf("repeat: fresh=%v err=%v", fresh, err)
		}
		if got.Units != 3 || string(got.Response) != string(first.Response) || got.RequestHash != "h-req 1/ä" || !got.RecordedAt.Equal(t0) {
			t.Fatalf("repeat returned %+v, want the first entry", got)
		}
		// The same request id of another customer is another request.
		if _, fresh, err := l.Record(ctx, entry("c2", "req 1/ä", 7, t0)); err != nil || !fresh {
			t.Fatalf("other customer: fresh=%v err=%v", fresh, err)
		}
		u, err := l.Usage(ctx, "c/1#?")
		if err != nil || u.Unreported != (domain.Totals{Units: 3, Requests: 1}) || u.Reported != (domain.Totals{}) {
			t.Fatalf("usage %+v err %v", u, err)
		}
		customers, err := l.Customers(ctx)
		if err != nil || len(customers) != 2 {
			t.Fatalf("customers %v err %v", customers, err)
		}
	})

	t.Run("assign, report, mark", func(t *testing.T) {
		l := open(t)
		for i := range 5 {
			if _, _, err := l.Record(ctx, entry("c1", fmt.Sprint("r", i), int64(i+1), t0.Add(time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		pending, err := l.Unassigned(ctx, "c1", 3)
		if err != nil || len(pending) != 3 {
			t.Fatalf("unassigned(limit 3): %d err %v", len(pending), err)
		}
		pending, _ = l.Unassigned(ctx, "c1", 0)
		if len(pending) != 5 {
			t.Fatalf("unassigned: %d, want 5", len(pending))
		}
		var ids []string
		for _, p := range pending {
			ids = append(ids, p.RequestID)
		}
		r := domain.NewReport("c1", domain.ReportID("c1", ids), pending[:4])
		if err := l.Assign(ctx, r, pending[:4]); err != nil {
			t.Fatal(err)
		}
		// The same entries can't go to a second report: their tokens changed.
		r2 := domain.NewReport("c1", "other", pending[:1])
		if err := l.Assign(ctx, r2, pending[:1]); !errors.Is(err, domain.ErrAssigned) {
			t.Fatalf("second assignment: %v, want ErrAssigned", err)
		}
		left, _ := l.Unassigned(ctx, "c1", 0)
		if len(left) != 1 {
			t.Fatalf("unassigned after assign: %d, want 1", len(left))
		}
		open, err := l.OpenReports(ctx, "c1")
		if err != nil || len(open) != 1 || open[0].ReportID != r.ReportID || open[0].Units != r.Units || len(open[0].RequestIDs) != 4 ||
			!open[0].PeriodFrom.Equal(r.PeriodFrom) || !open[0].PeriodTo.Equal(r.PeriodTo) {
			t.Fatalf("open reports %+v err %v, want %+v", open, err, r)
		}
		u, _ := l.Usage(ctx, "c1")
		if u.Unreported.Requests != 5 || u.Reported.Requests != 0 {
			t.Fatalf("usage before mark %+v", u)
		}
		for range 2 { // marking twice counts once
			if err := l.MarkReported(ctx, open[0]); err != nil {
				t.Fatal(err)
			}
		}
		u, _ = l.Usage(ctx, "c1")
		want := domain.Usage{CustomerID: "c1", Reported: domain.Totals{Units: r.Units, Requests: 4, Reports: 1},
			Unreported: domain.Totals{Units: 15 - r.Units, Requests: 1}}
		if u != want {
			t.Fatalf("usage after mark %+v, want %+v", u, want)
		}
		if open, _ := l.OpenReports(ctx, "c1"); len(open) != 0 {
			t.Fatalf("open reports after mark: %v", open)
		}
		// The reported request is still known: repeating it meters nothing.
		if _, fresh, _ := l.Record(ctx, entry("c1", "r0", 1, t0)); fresh {
			t.Fatal("a reported request was metered again")
		}
		// A second report totals on top of the first.
		left, _ = l.Unassigned(ctx, "c1", 0)
		r3 := domain.NewReport("c1", "third", left)
		if err := l.Assign(ctx, r3, left); err != nil {
			t.Fatal(err)
		}
		if err := l.MarkReported(ctx, r3); err != nil {
			t.Fatal(err)
		}
		u, _ = l.Usage(ctx, "c1")
		if u.Reported != (domain.Totals{Units: 15, Requests: 5, Reports: 2}) || u.Unreported != (domain.Totals{}) {
			t.Fatalf("usage after second report %+v", u)
		}
	})

	t.Run("concurrent requests and repeats meter each request id once", func(t *testing.T) {
		l := open(t)
		if _, _, err := l.Record(ctx, entry("c1", "early", 4, t0)); err != nil {
			t.Fatal(err)
		}
		const clients = 48
		var wg sync.WaitGroup
		fresh := make([]bool, clients)
		errs := make([]error, clients)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprint("req-", i%16) // each id three times
				if i%12 == 0 {
					id = "early" // a repeat of a request recorded before
				}
				var got domain.MeterEntry
				got, fresh[i], errs[i] = l.Record(ctx, entry("c1", id, 4, t0))
				if errs[i] == nil && got.RequestID != id {
					errs[i] = fmt.Errorf("entry of %s returned for %s", got.RequestID, id)
				}
			}()
		}
		wg.Wait()
		stored := map[string]int{}
		for i := range clients {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if fresh[i] {
				id := fmt.Sprint("req-", i%16)
				if i%12 == 0 {
					t.Fatalf("client %d re-recorded the early request", i)
				}
				stored[id]++
			}
		}
		if len(stored) != 16 {
			t.Fatalf("%d request ids stored, want 16", len(stored))
		}
		for id, n := range stored {
			if n != 1 {
				t.Fatalf("%s stored %d times", id, n)
			}
		}
		u, err := l.Usage(ctx, "c1")
		if err != nil || u.Unreported != (domain.Totals{Units: 4 * int64(1+len(stored)), Requests: int64(1 + len(stored))}) {
			t.Fatalf("usage %+v err %v (%d ids stored fresh)", u, err, len(stored))
		}
	})
}

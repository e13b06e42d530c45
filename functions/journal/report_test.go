package journal_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	cloudapi "meterline/functions/cloudapi/contracts"
	"meterline/functions/journal/domain"
	"meterline/functions/journal/store"
	"meterline/shared/eventstore"
)

func usageEvent(id, customer string, created time.Time, units int64) eventstore.Event {
	data, _ := json.Marshal(cloudapi.UsageReported{ReportID: id, CustomerID: customer, Units: units, Requests: 1, PeriodFrom: created, PeriodTo: created.Add(time.Minute)})
	return eventstore.Event{ID: id, Type: cloudapi.UsageReportedType, SchemaVersion: 1, Stream: cloudapi.UsageStream(customer),
		Source: cloudapi.Source, CreatedAt: created, Data: data}
}

func (w *world) report(customer, month string) (domain.MonthlyReport, time.Time, int) {
	w.t.Helper()
	r := w.do("GET", "/api/journal/reports/customers/"+customer+"/months/"+month, "")
	var out struct {
		domain.MonthlyReport
		AsOf time.Time `json:"asOf"`
	}
	_ = json.Unmarshal(r.body, &out)
	return out.MonthlyReport, out.AsOf, r.status
}

func hm(h, m, s int) time.Time { return time.Date(2026, 3, 10, h, m, s, 0, time.UTC) }

// The monthly report on Azurite, through the timer and HTTP functions, with seed 003's
// out-of-order delivery: an event created at 14:00:00 and received at 14:02:08 (after retries),
// two minutes after the projection already counted one created at 14:01:50, is counted too.
func TestALateEventIsCountedByTheReport(t *testing.T) {
	w := newWorld(t, options{}) // grace: the default two minutes
	post := func(e eventstore.Event, received time.Time) {
		t.Helper()
		if r := w.post(envelope(t, e), received); r.status != 200 {
			t.Fatalf("post %s: %d %s", e.ID, r.status, r.body)
		}
	}
	tick := func(at time.Time) {
		t.Helper()
		if r := w.timer("JournalProjections", at); r.status != 200 {
			t.Fatalf("JournalProjections at %s: %d %s", at, r.status, r.body)
		}
	}
	post(usageEvent("u-early", "c1", hm(13, 59, 0), 4), hm(13, 59, 1))
	post(chargeEvent("completed", "c1", 2, hm(14, 1, 50), 100), hm(14, 1, 51))
	tick(hm(14, 4, 0)) // horizon 14:02:00
	rep, asOf, status := w.report("c1", "2026-03")
	if status != 200 || rep.Charges.Count != 1 || rep.Usage.Units != 4 || !asOf.Equal(hm(14, 2, 0)) {
		t.Fatalf("first report (%d, as of %s): %+v", status, asOf, rep)
	}
	post(chargeEvent("landed", "c1", 1, hm(14, 0, 0), 30), hm(14, 2, 8)) // created before "completed"
	post(chargeEvent("next-month", "c1", 3, time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC), 7), hm(14, 3, 0))
	tick(hm(14, 4, 10))
	tick(hm(14, 6, 0))
	rep, asOf, _ = w.report("c1", "2026-03")
	want := domain.MonthlyReport{CustomerID: "c1", Month: "2026-03", Currency: "EUR",
		Usage:   domain.Usage{Reports: 1, Units: 4, Requests: 1},
		Charges: domain.Billed{Count: 2, Amount: 130}, Revenue: 130, Events: 3}
	if rep != want || !asOf.Equal(hm(14, 4, 0)) {
		t.Fatalf("report as of %s:\n got %+v\nwant %+v", asOf, rep, want)
	}
	if rep, _, status := w.report("c1", "2026-04"); status != 200 || rep.Charges.Amount != 7 {
		t.Fatalf("April: %d %+v", status, rep)
	}
	for path, code := range map[string]string{
		"/api/journal/reports/customers/c1/months/2026-13": "invalid_month",
		"/api/journal/reports/customers/c9/months/2026-03": "report_not_found",
	} {
		if r := w.do("GET", path, ""); r.errorCode() != code {
			t.Errorf("%s: %d %s; want %s", path, r.status, r.body, code)
		}
	}
}

// An ingest that dies between its commit and its index rows is counted once it is repaired
// (here by Repair, with no retry at all), never skipped by a checkpoint that moved meanwhile.
func TestAnIngestThatDiedHalfWayIsCountedOnce(t *testing.T) {
	died := false
	w := newWorld(t, options{crash: func(s store.Step, id string) error {
		if s == store.StepIndex && id == "half-way" && !died {
			died = true
			return errors.New("the process died")
		}
		return nil
	}})
	if r := w.post(envelope(t, chargeEvent("half-way", "c1", 1, hm(14, 0, 0), 11)), hm(14, 0, 0)); r.status != 500 {
		t.Fatalf("the crashed post answered %d %s", r.status, r.body)
	}
	for i := range 3 {
		e := chargeEvent(fmt.Sprintf("after-%d", i), "c1", int64(i+2), hm(14, 0, 30), 1)
		if r := w.post(envelope(t, e), hm(14, 0, 30+i)); r.status != 200 {
			t.Fatal(r.status, string(r.body))
		}
	}
	for _, at := range []time.Time{hm(14, 1, 0), hm(14, 2, 30), hm(14, 5, 0), hm(14, 5, 10)} {
		if r := w.timer("JournalProjections", at); r.status != 200 {
			t.Fatalf("JournalProjections: %d %s", r.status, r.body)
		}
	}
	if rep, _, _ := w.report("c1", "2026-03"); rep.Charges.Count != 4 || rep.Charges.Amount != 14 {
		t.Fatalf("report %+v; want the repaired event and the three after it", rep)
	}
	// Its producer retries at last: already stored, counted once.
	if r := w.post(envelope(t, chargeEvent("half-way", "c1", 1, hm(14, 0, 0), 11)), hm(15, 0, 0)); r.status != 409 {
		t.Fatalf("the retry: %d %s", r.status, r.body)
	}
	w.timer("JournalProjections", hm(15, 10, 0))
	if rep, _, _ := w.report("c1", "2026-03"); rep.Charges.Count != 4 {
		t.Fatalf("counted twice: %+v", rep)
	}
}

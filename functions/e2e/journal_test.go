package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"meterline/functions/cloudapi"
	cloudcontracts "meterline/functions/cloudapi/contracts"
	"meterline/functions/subscriptions"
	subcontracts "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

// journalRecord is an event as the Journal answers it (the fields the tests read).
type journalRecord struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Stream      string          `json:"stream"`
	Version     int64           `json:"version"`
	Data        json.RawMessage `json:"data"`
	TraceParent string          `json:"traceparent"`
	ReceivedAt  time.Time       `json:"receivedAt"`
}

// journalStream reads one stream from the Journal's query API, every page.
func journalStream(t testing.TB, stream string) []journalRecord {
	t.Helper()
	var all []journalRecord
	next := ""
	for range 100 {
		u := sys.url(journalApp) + "/api/journal/streams/" + url.PathEscape(stream) + "?limit=50"
		if next != "" {
			u += "&continuation=" + url.QueryEscape(next)
		}
		page := decode[struct {
			Events       []journalRecord `json:"events"`
			Continuation string          `json:"continuation"`
		}](t, mustCall(t, "GET", u, nil, http.StatusOK))
		all = append(all, page.Events...)
		if next = page.Continuation; next == "" {
			return all
		}
	}
	t.Fatalf("stream %s: more than 100 pages", stream)
	return nil
}

// waitJournaled polls the Journal until it holds every one of events, and returns what it holds
// of their streams.
func waitJournaled(t testing.TB, events []eventstore.Event, timeout time.Duration) map[string][]journalRecord {
	t.Helper()
	streams := map[string][]journalRecord{}
	missing := func() []string {
		var out []string
		for _, e := range events {
			if !slices.ContainsFunc(streams[e.Stream], func(r journalRecord) bool { return r.ID == e.ID }) {
				out = append(out, e.Type+" "+e.ID)
			}
		}
		return out
	}
	if _, ok := eventually(timeout, 50*time.Millisecond, func() bool {
		for _, e := range events {
			streams[e.Stream] = journalStream(t, e.Stream)
		}
		return len(missing()) == 0
	}); !ok {
		t.Fatalf("after %v the Journal still misses %v", timeout, missing())
	}
	return streams
}

// sameJSON compares two JSON documents by value (the Journal keeps payloads in canonical form).
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// checkOnce says which of events the Journal does not hold exactly once, as stored by their
// context, with the trace of the request that made them.
func checkOnce(t testing.TB, events []eventstore.Event, streams map[string][]journalRecord) {
	t.Helper()
	for _, e := range events {
		var copies []journalRecord
		for _, r := range streams[e.Stream] {
			if r.ID == e.ID {
				copies = append(copies, r)
			}
		}
		switch {
		case len(copies) != 1:
			t.Errorf("%s %s is in the Journal %d times", e.Type, e.ID, len(copies))
		case copies[0].Type != e.Type || copies[0].Version != e.Version || !sameJSON(copies[0].Data, e.Data):
			t.Errorf("%s %s: the Journal holds %+v, the context stored %s v%d %s", e.Type, e.ID, copies[0], e.Type, e.Version, e.Data)
		case copies[0].TraceParent == "":
			t.Errorf("%s %s: no traceparent; the request's trace did not follow the event", e.Type, e.ID)
		}
	}
}

// TestJournalKeepsEveryEventOnce: seed 003's source of truth. Everything Subscriptions and the
// Cloud API publish in a customer's life (Product publishes nothing) reaches the Journal over
// Service Bus once, with its payload and trace,
// and stays once when it is published again (duplicate detection) and again under fresh message
// ids, in reverse order (redelivery and reordering past the detection window).
func TestJournalKeepsEveryEventOnce(t *testing.T) {
	dumpLogsOnFailure(t)
	customer := createCustomer(t, "Journaled Ltd")
	u := createUser(t, customer, "correct horse battery staple")
	charge(t, customer, 250)
	pay(t, customer, 100)
	waitForStatus(t, u.APIKey, http.StatusOK, 30*time.Second)
	mustForecast(t, u.APIKey, 2) // the Cloud API reports the usage, Subscriptions bills it
	// 3 units: the 2 points, and the one of the successful try that waitForStatus made.
	if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool { return getCustomer(t, customer).Consumption.Units == 3 }); !ok {
		t.Fatalf("the usage never reached the customer: %+v", getCustomer(t, customer))
	}
	mustCall(t, "POST", sys.url(subscriptionsApp)+"/api/subscriptions/customers/"+customer+"/users/"+u.UserID+"/lock", nil, http.StatusNoContent)

	subEvents := readEvents(t, subscriptions.EventsTable, subscriptions.PayloadContainer,
		subcontracts.CustomerStream(customer), subcontracts.UserStream(u.UserID))
	usageEvents := readEvents(t, cloudapi.EventsTable, cloudapi.EventsContainer, cloudcontracts.UsageStream(customer))
	all := append(slices.Clone(subEvents), usageEvents...)
	checkOnce(t, all, waitJournaled(t, all, 30*time.Second))

	bus := busClient(t)
	fresh := func(eventstore.Event) string { return eventstore.NewID() }
	for topic, events := range map[string][]eventstore.Event{subcontracts.Topic: subEvents, cloudcontracts.Source: usageEvents} {
		reversed := slices.Clone(events)
		slices.Reverse(reversed)
		ids := publish(t, bus, topic, reversed, nil)
		ids = append(ids, publish(t, bus, topic, reversed, fresh)...)
		waitDelivered(t, bus, topic, ids)
	}
	checkOnce(t, all, waitJournaled(t, all, 30*time.Second))
}

// TestJournalCatchesUpAfterAnOutage: seed 000's "each system keeps working when another is down
// and catches up": with the Journal stopped, Subscriptions goes on; back up, the Journal records
// what it missed, once.
func TestJournalCatchesUpAfterAnOutage(t *testing.T) {
	dumpLogsOnFailure(t)
	journal := sys.apps[journalApp]
	t.Cleanup(func() {
		if !journal.running() {
			if err := journal.start(); err != nil {
				t.Errorf("restart %s: %v", journalApp, err)
			}
		}
	})
	if err := journal.stop(); err != nil {
		t.Fatalf("stop %s: %v", journalApp, err)
	}
	customer := createCustomer(t, "While The Journal Slept")
	charge(t, customer, 75)
	events := readEvents(t, subscriptions.EventsTable, subscriptions.PayloadContainer, subcontracts.CustomerStream(customer))

	if err := journal.start(); err != nil {
		t.Fatalf("restart %s: %v", journalApp, err)
	}
	checkOnce(t, events, waitJournaled(t, events, 60*time.Second))
}

// TestJournalIngestAndALateEvent: the ingest endpoint of seed 003 answers 200 stored, 409 the
// same again, 422 the id reused with other content, 400 an invalid envelope; and an event that
// arrives two minutes after it happened, once the report has moved past that time, is still
// counted, because projections read by received time up to a stable horizon.
func TestJournalIngestAndALateEvent(t *testing.T) {
	dumpLogsOnFailure(t)
	customer := uniq("late-customer")
	now := time.Now().UTC()
	lateAt := now.Add(-2 * time.Minute)
	month := lateAt.Format("2006-01") // both charges are billed in the late one's month
	envelope := func(id string, version, amount int64, createdAt time.Time) map[string]any {
		return map[string]any{
			"id": id, "type": subcontracts.TypeChargeAdded, "schemaVersion": 1, "source": "subscriptions",
			"stream": subcontracts.CustomerStream(customer), "version": version, "createdAt": createdAt,
			"data": subcontracts.ChargeAdded{CustomerID: customer, ChargeID: id, Amount: amount, Currency: "EUR",
				ChargedAt: createdAt, Month: month},
		}
	}
	events := sys.url(journalApp) + "/api/journal/events"
	onTime := envelope(uniq("on-time"), 2, 300, now)
	mustCall(t, "POST", events, onTime, http.StatusOK)
	mustCall(t, "POST", events, onTime, http.StatusConflict)
	changed := envelope(onTime["id"].(string), 2, 301, now)
	mustCall(t, "POST", events, changed, http.StatusUnprocessableEntity)
	mustCall(t, "POST", events, map[string]any{"id": uniq("no-type"), "source": "x", "createdAt": now}, http.StatusBadRequest)

	report := sys.url(journalApp) + "/api/journal/reports/customers/" + customer + "/months/" + month
	type monthly struct {
		Charges struct{ Count, Amount int64 }
		Events  int
		AsOf    time.Time `json:"asOf"`
	}
	read := func() (monthly, bool) {
		status, b, err := call(client, "GET", report, nil, nil)
		if err != nil || status != http.StatusOK {
			return monthly{}, false
		}
		return decode[monthly](t, b), true
	}
	var r monthly
	if _, ok := eventually(60*time.Second, 200*time.Millisecond, func() bool {
		var ok bool
		r, ok = read()
		return ok && r.Charges.Amount == 300
	}); !ok {
		t.Fatalf("the on-time charge never reached the report: %+v", r)
	}

	// Happened two minutes ago, before the report's horizon; arrives now.
	late := envelope(uniq("late"), 1, 40, lateAt)
	if !lateAt.Before(r.AsOf) {
		t.Fatalf("the late event (%v) is not before the report's horizon (%v): it would prove nothing", lateAt, r.AsOf)
	}
	mustCall(t, "POST", events, late, http.StatusOK)
	if _, ok := eventually(60*time.Second, 200*time.Millisecond, func() bool {
		var ok bool
		r, ok = read()
		return ok && r.Charges.Amount == 340
	}); !ok {
		t.Fatalf("the late charge was skipped: %+v, want 2 charges for 340", r)
	}
	if r.Charges.Count != 2 || r.Events != 2 {
		t.Errorf("report %+v, want 2 charges in 2 events", r)
	}
	t.Logf("the late event is counted; report as of %v", r.AsOf)
}

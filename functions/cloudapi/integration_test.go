package cloudapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/contracts"
	"meterline/functions/cloudapi/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

// failingMark makes MarkReported fail while armed: a crash between the append and the mark.
type failingMark struct {
	app.MeterLog
	armed bool
}

func (f *failingMark) MarkReported(ctx context.Context, r domain.Report) error {
	if f.armed {
		return errors.New("simulated crash before the mark")
	}
	return f.MeterLog.MarkReported(ctx, r)
}

// The whole context on Azurite-backed stores, through funcapp's handler: replication, access
// rules, metering with idempotency, refusals that store nothing, usage reporting with a crash
// between append and mark, publication through the outbox.
func TestCloudAPIOnAzurite(t *testing.T) {
	ctx := context.Background()
	inst := azuritetest.Start(t)
	pub := &publisher{}
	deps := azureDeps(t, inst, pub)
	deps.AccessCacheTTL = -1 // this test checks each replicated change at once
	w := newWorld(t, deps)

	w.givenCustomer("c1", "u1", "k1", "ml_alpha")
	w.deliver("user-u1", subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k2", KeyHash: hashOf("ml_beta")})
	w.deliver("user-u1", subs.TypeApiKeyRevoked, subs.ApiKeyRevoked{UserID: "u1", CustomerID: "c1", KeyID: "k2"})
	// A redelivered, late "issued" does not revive the revoked key.
	w.seq["user-u1"] = 2
	w.deliver("user-u1", subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k2", KeyHash: hashOf("ml_beta")})
	w.seq["user-u1"] = 4

	first := w.call("POST", "/api/cloud/forecast", "ml_alpha", "idem-1", `{"series":[10,20,30,40],"horizon":2}`)
	if first.status != 200 {
		t.Fatalf("forecast %d %s", first.status, first.body)
	}
	var answer app.ForecastAnswer
	_ = json.Unmarshal(first.body, &answer)
	if len(answer.Forecast) != 2 || answer.Forecast[0] != 50 || answer.Forecast[1] != 60 {
		t.Fatalf("forecast %v, want [50 60]", answer.Forecast)
	}
	if again := w.call("POST", "/api/cloud/forecast", "ml_alpha", "idem-1", `{"series":[10,20,30,40],"horizon":2}`); again.status != 200 || string(again.body) != string(first.body) {
		t.Fatalf("repeat %d %s", again.status, again.body)
	}
	want := domain.Usage{CustomerID: "c1", Unreported: domain.Totals{Units: 2, Requests: 1}}
	if u := w.usage("c1"); u != want {
		t.Fatalf("usage %+v, want %+v", u, want)
	}

	// Refusals store nothing.
	for _, c := range []struct {
		key, body string
		status    int
	}{
		{"ml_beta", `{"series":[1,2],"horizon":1}`, 401},
		{"ml_unknown", `{"series":[1,2],"horizon":1}`, 401},
		{"ml_alpha", `{"series":[1,2],"horizon":0}`, 400},
	} {
		if r := w.call("POST", "/api/cloud/forecast", c.key, "", c.body); r.status != c.status {
			t.Fatalf("%s: %d %s, want %d", c.key, r.status, r.body, c.status)
		}
	}
	w.deliver("customer-c1", subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c1", Reason: "overdraft"})
	if r := w.call("POST", "/api/cloud/forecast", "ml_alpha", "", `{"series":[1,2],"horizon":1}`); r.status != 403 {
		t.Fatalf("locked customer: %d %s", r.status, r.body)
	}
	if u := w.usage("c1"); u != want {
		t.Fatalf("usage after refusals %+v, want %+v", u, want)
	}
	w.deliver("customer-c1", subs.TypeCustomerUnlocked, subs.CustomerUnlocked{CustomerID: "c1"})
	if r := w.call("POST", "/api/cloud/forecast", "ml_alpha", "idem-2", `{"series":[1,2],"horizon":5}`); r.status != 200 {
		t.Fatalf("after unlock: %d %s", r.status, r.body)
	}

	// Crash between append and mark, then a normal tick: one report, published once.
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	crashing := &failingMark{MeterLog: deps.Meter, armed: true}
	reporter := app.UsageReporter{Meter: crashing, Store: deps.Events, Events: reg, Dispatch: deps.Outbox.AfterAppend, Now: time.Now}
	if err := reporter.Run(ctx); err == nil {
		t.Fatal("the crashing run succeeded")
	}
	w.tick()
	w.tick()
	stored, err := deps.Events.Read(ctx, "usage-c1", 1)
	if err != nil || len(stored) != 1 {
		t.Fatalf("usage stream: %d events, err %v", len(stored), err)
	}
	var rep contracts.UsageReported
	_ = json.Unmarshal(stored[0].Data, &rep)
	if rep.Units != 7 || rep.Requests != 2 || rep.CustomerID != "c1" {
		t.Fatalf("report %+v", rep)
	}
	if got := pub.published(); len(got) != 1 || got[0].ID != stored[0].ID {
		t.Fatalf("published %d events", len(got))
	}
	r := w.call("GET", "/api/cloud/usage", "ml_alpha", "", "")
	var usage domain.Usage
	_ = json.Unmarshal(r.body, &usage)
	if r.status != 200 || usage != (domain.Usage{CustomerID: "c1", Reported: domain.Totals{Units: 7, Requests: 2, Reports: 1}}) {
		t.Fatalf("GET usage %d %s", r.status, r.body)
	}
	// The idempotency record outlives the report: a late repeat meters nothing.
	if again := w.call("POST", "/api/cloud/forecast", "ml_alpha", "idem-1", `{"series":[10,20,30,40],"horizon":2}`); again.status != 200 || string(again.body) != string(first.body) {
		t.Fatalf("late repeat %d %s", again.status, again.body)
	}
	if u := w.usage("c1"); u.Unreported != (domain.Totals{}) {
		t.Fatalf("late repeat metered %+v", u.Unreported)
	}
}

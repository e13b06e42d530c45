package cloudapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"meterline/functions/cloudapi"
	"meterline/functions/cloudapi/contracts"
	"meterline/functions/cloudapi/domain"
	"meterline/functions/cloudapi/meterlog"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/outbox"
)

// The timer reports metered usage as cloudapi.UsageReported on the topic, once; a report whose
// publication failed is published by a later tick's sweep.
func TestUsageReportingTickPublishesReports(t *testing.T) {
	store := memstore.New()
	pub := &publisher{failing: true}
	clock := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	store.Now = now
	w := newWorld(t, cloudapi.Deps{Access: memoryAccess(), Meter: meterlog.NewMemory(), Events: store,
		Outbox: &outbox.Dispatcher{Outbox: store, Publisher: pub, Now: now}, Now: now, AccessCacheTTL: -1})
	w.givenCustomer("c1", "u1", "k1", "ml_k")
	for range 3 {
		if r := w.call("POST", "/api/cloud/forecast", "ml_k", "", `{"series":[1,2,3],"horizon":4}`); r.status != 200 {
			t.Fatalf("forecast %d %s", r.status, r.body)
		}
	}
	w.tick() // reported, but the topic is unreachable
	if len(pub.published()) != 0 {
		t.Fatal("published through a failing publisher")
	}
	if u := w.usage("c1"); u.Reported != (domain.Totals{Units: 12, Requests: 3, Reports: 1}) || u.Unreported != (domain.Totals{}) {
		t.Fatalf("usage after tick %+v", u)
	}
	pub.mu.Lock()
	pub.failing = false
	pub.mu.Unlock()
	clock = clock.Add(time.Minute)
	w.tick() // the sweep publishes the left-over report; nothing new to report
	w.tick()
	got := pub.published()
	if len(got) != 1 || got[0].Type != contracts.UsageReportedType || got[0].Stream != "usage-c1" || got[0].Version != 1 {
		t.Fatalf("published %+v", got)
	}
	var rep contracts.UsageReported
	_ = json.Unmarshal(got[0].Data, &rep)
	if rep.Units != 12 || rep.Requests != 3 || rep.CustomerID != "c1" || rep.ReportID == "" ||
		got[0].ID != eventstore.EventID(rep.ReportID, "usage-c1", 0) {
		t.Fatalf("report %+v (event id %s)", rep, got[0].ID)
	}
	if pending, _ := store.Pending(context.Background(), 0); len(pending) != 0 {
		t.Fatalf("outbox still holds %d events", len(pending))
	}
}

package journal_test

import (
	"context"
	"strings"
	"testing"

	"meterline/functions/journal"
	"meterline/infra/funchost"
	"meterline/shared/funcapp"
)

// The Journal's functions as the host sees them: one shape for every block, host keys on HTTP,
// every type of both topics, timers on settings.
func TestFunctions(t *testing.T) {
	got := map[string]funcapp.Function{}
	for _, f := range journal.New(journal.InMemoryDeps()).Functions() {
		got[f.Name] = f
	}
	for name, route := range map[string]string{
		"RecordEvent": "POST journal/events", "ListEvents": "GET journal/events",
		"ReadStream": "GET journal/streams/{stream}", "MonthlyReport": "GET journal/reports/customers/{customerId}/months/{month}",
	} {
		f := got[name]
		if f.Kind != funcapp.KindHTTP || strings.Join(f.HTTP.Methods, ",")+" "+f.HTTP.Route != route || f.HTTP.AuthLevel != "function" {
			t.Errorf("%s: %+v; want %s with a function key", name, f.HTTP, route)
		}
	}
	for name, want := range map[string]funcapp.ServiceBusTrigger{
		"RecordSubscriptionsEvents": {Topic: "subscriptions", Subscription: "journal-record-subscriptions-events", Filter: "1=1"},
		"RecordCloudApiEvents":      {Topic: "cloudapi", Subscription: "journal-record-cloud-api-events", Filter: "1=1"},
	} {
		f := got[name]
		if f.Kind != funcapp.KindServiceBus || f.ServiceBus.Topic != want.Topic || f.ServiceBus.Subscription != want.Subscription || f.ServiceBus.Filter != want.Filter {
			t.Errorf("%s: %+v; want %+v", name, f.ServiceBus, want)
		}
	}
	for name, schedule := range map[string]string{"JournalProjections": "%JournalProjectionSchedule%", "JournalArchive": "%JournalArchiveSchedule%"} {
		if f := got[name]; f.Kind != funcapp.KindTimer || f.Timer.Schedule != schedule {
			t.Errorf("%s: %+v", name, f.Timer)
		}
	}
	if f := got["JournalOpenAPI"]; f.HTTP == nil || f.HTTP.Route != "journal/openapi.json" || f.HTTP.AuthLevel != "anonymous" {
		t.Errorf("JournalOpenAPI: %+v; want the public document at journal/openapi.json", f.HTTP)
	}
	if len(got) != 9 {
		t.Errorf("%d functions, want 9", len(got))
	}
}

func TestDefaultSchedulesAreValid(t *testing.T) {
	for _, name := range []string{journal.SettingProjectionSchedule, journal.SettingArchiveSchedule} {
		if _, err := funchost.ParseSchedule(journal.DefaultSettings[name]); err != nil {
			t.Errorf("%s=%q: %v", name, journal.DefaultSettings[name], err)
		}
	}
}

func TestInvalidSettingsFailAtStartUp(t *testing.T) {
	for _, settings := range []map[string]string{
		{"JournalGracePeriod": "soon"},
		{"JournalGracePeriod": "-1m"},
		{"JournalArchiveAfter": "1m"}, // not longer than the grace period
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%v was accepted", settings)
				}
			}()
			deps := journal.InMemoryDeps()
			deps.Setting = func(n string) string { return settings[n] }
			journal.New(deps)
		}()
	}
}

func TestConnect(t *testing.T) {
	if _, err := journal.Connect(context.Background(), func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "AzureWebJobsStorage") {
		t.Fatalf("Connect without settings: %v", err)
	}
	settings := map[string]string{"AzureWebJobsStorage": connectionString}
	deps, err := journal.Connect(context.Background(), func(n string) string { return settings[n] })
	if err != nil {
		t.Fatal(err)
	}
	deps.Logger = quiet
	h := journal.New(deps).Handler()
	w := &world{t: t, h: h}
	if r := w.do("POST", "/api/journal/events", `{"id":"c-1","type":"t.T","source":"s","time":"2026-03-04T05:06:07Z"}`); r.status != 200 {
		t.Fatalf("post on the connected app: %d %s", r.status, r.body)
	}
}

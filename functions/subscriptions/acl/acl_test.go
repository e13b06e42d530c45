package acl_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"meterline/functions/subscriptions/acl"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

func TestUsageReportedBecomesUsage(t *testing.T) {
	data := `{"reportId":"r1","customerId":"c1","units":7,"requests":2,"periodFrom":"2026-11-03T10:00:00Z","periodTo":"2026-11-03T10:01:00Z","futureField":1}`
	u, err := acl.UsageFrom(eventstore.Event{ID: "e1", Type: "cloudapi.UsageReported", Data: json.RawMessage(data)})
	if err != nil {
		t.Fatal(err)
	}
	want := acl.Usage{ReportID: "r1", CustomerID: "c1", Units: 7,
		From: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 3, 10, 1, 0, 0, time.UTC)}
	if !u.From.Equal(want.From) || !u.To.Equal(want.To) || u.ReportID != want.ReportID || u.CustomerID != want.CustomerID || u.Units != want.Units {
		t.Fatalf("got %+v, want %+v", u, want)
	}
}

// The receptor only asks for UsageTypes (the filter); a report it cannot bill is malformed, which
// the kit dead-letters.
func TestBrokenReportsAreMalformed(t *testing.T) {
	if len(acl.UsageTypes) != 1 || acl.UsageTypes[0] != "cloudapi.UsageReported" {
		t.Fatalf("UsageTypes %v", acl.UsageTypes)
	}
	for _, data := range []string{`{"customerId":"c1","units":1}`, `{"reportId":"r1","units":1}`, `{"reportId":5}`, `[1,2]`} {
		if _, err := acl.UsageFrom(eventstore.Event{ID: "e1", Type: "cloudapi.UsageReported", Data: json.RawMessage(data)}); !errors.Is(err, blocks.ErrMalformed) {
			t.Errorf("%s: %v", data, err)
		}
	}
}

package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"meterline/functions/journal/domain"
	"meterline/shared/fault"
)

const ours = `{"id":"e1","type":"subscriptions.ChargeAdded","schemaVersion":1,"stream":"customer-c1","version":3,
 "source":"subscriptions","createdAt":"2026-03-04T05:06:07.891011123+01:00","correlationId":"flow","causationId":"cmd",
 "data":{ "customerId" : "c1", "amount": 500 },"specversion":"1.0","time":"2026-03-04T04:06:07.891011123Z","datacontenttype":"application/json"}`

const cloudEvent = `{"specversion":"1.0","id":"ce-1","type":"com.example.thing.happened","source":"/things/7",
 "time":"2026-03-04T05:06:07Z","datacontenttype":"application/json","correlationid":"flow","data":{"x":1}}`

func TestParseEnvelopeAcceptsOursAndCloudEvents(t *testing.T) {
	e, err := domain.ParseEnvelope([]byte(ours))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "e1" || e.Stream != "customer-c1" || e.Version != 3 || e.Source != "subscriptions" ||
		e.CorrelationID != "flow" || e.CausationID != "cmd" || string(e.Data) != `{"customerId":"c1","amount":500}` {
		t.Fatalf("ours: %+v (data %s)", e, e.Data)
	}
	if want := time.Date(2026, 3, 4, 4, 6, 7, 891011123, time.UTC); !e.CreatedAt.Equal(want) || e.CreatedAt.Location() != time.UTC {
		t.Fatalf("createdAt %v, want %v in UTC, to the nanosecond", e.CreatedAt, want)
	}
	ce, err := domain.ParseEnvelope([]byte(cloudEvent))
	if err != nil {
		t.Fatal(err)
	}
	if ce.ID != "ce-1" || ce.Source != "/things/7" || ce.CorrelationID != "flow" || ce.CreatedAt.IsZero() || ce.Stream != "" {
		t.Fatalf("CloudEvent: %+v", ce)
	}
	noData, err := domain.ParseEnvelope([]byte(`{"id":"n","type":"t","source":"s","time":"2026-03-04T05:06:07Z","data":null}`))
	if err != nil || noData.Data != nil {
		t.Fatalf("data null: %+v %v", noData, err)
	}
}

func TestParseEnvelopeSaysWhatIsWrong(t *testing.T) {
	for body, want := range map[string]string{
		``:          "empty",
		`not json`:  "not an envelope",
		`[1,2]`:     "not an envelope",
		`{"id":"x"`: "not an envelope",
		`{"type":"t","source":"s","time":"2026-03-04T05:06:07Z"}`:                                            "id and type are required",
		`{"id":"x","source":"s","time":"2026-03-04T05:06:07Z"}`:                                              "id and type are required",
		`{"id":"x","type":"t","time":"2026-03-04T05:06:07Z"}`:                                                "source is required",
		`{"id":"x","type":"t","source":"s"}`:                                                                 "time is required",
		`{"id":"x","type":"t","source":"s","time":"yesterday"}`:                                              "not an envelope",
		`{"id":"x","type":"t","source":"s","time":"2026-03-04T05:06:07Z","specversion":"0.3"}`:               "specversion",
		`{"id":"x","type":"t","source":"s","time":"2026-03-04T05:06:07Z","version":-1}`:                      "negative",
		`{"id":"x","type":"t","source":"s","time":"2026-03-04T05:06:07Z","data_base64":"AAE="}`:              "data_base64",
		`{"id":"x","type":"t","source":"s","time":"2026-03-04T05:06:07Z"} trailing`:                          "not an envelope",
		"{\"id\":\"x\",\"type\":\"t\",\"source\":\"s\",\"time\":\"2026-03-04T05:06:07Z\",\"data\":\"\xff\"}": "UTF-8",
	} {
		_, err := domain.ParseEnvelope([]byte(body))
		f, ok := fault.As(err)
		if !ok || !errors.Is(err, fault.Invalid) || f.Code != "invalid_envelope" || !strings.Contains(f.Message, want) {
			t.Errorf("%q: %v; want invalid_envelope saying %q", body, err, want)
		}
	}
}

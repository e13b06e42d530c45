package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"meterline/shared/eventstore"
)

type customerCreated struct {
	CustomerID string `json:"customerId"`
	Name       string `json:"name"`
}

// customerCreatedV2 is the same event read by a newer reader that knows one more field.
type customerCreatedV2 struct {
	CustomerID string `json:"customerId"`
	Name       string `json:"name"`
	Country    string `json:"country"`
}

func TestRegistryRoundTrip(t *testing.T) {
	r := eventstore.NewRegistry()
	eventstore.Register[customerCreated](r, "subscriptions.CustomerCreated", 1)
	for _, v := range []any{customerCreated{"c1", "Ada"}, &customerCreated{"c1", "Ada"}} {
		typ, sv, data, err := r.Encode(v)
		if err != nil || typ != "subscriptions.CustomerCreated" || sv != 1 {
			t.Fatalf("Encode(%T) = %q, %d, %v", v, typ, sv, err)
		}
		got, err := r.Decode(eventstore.Event{Type: typ, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if got != (customerCreated{"c1", "Ada"}) {
			t.Fatalf("Decode = %#v", got)
		}
	}
}

func TestRegistryUnknownTypesFailLoudly(t *testing.T) {
	r := eventstore.NewRegistry()
	eventstore.Register[customerCreated](r, "subscriptions.CustomerCreated", 1)
	if _, _, _, err := r.Encode(customerCreatedV2{}); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("Encode(unregistered) = %v", err)
	}
	if _, _, _, err := r.Encode(nil); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("Encode(nil) = %v", err)
	}
	if _, err := r.Decode(eventstore.Event{Type: "subscriptions.Nope", Data: json.RawMessage(`{}`)}); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("Decode(unknown) = %v", err)
	}
	if _, err := r.Decode(eventstore.Event{Type: "subscriptions.CustomerCreated", Data: json.RawMessage(`[1]`)}); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("Decode(bad shape) = %v", err)
	}
}

func TestRegistryToleratesOlderAndNewerPayloads(t *testing.T) {
	older := eventstore.NewRegistry()
	eventstore.Register[customerCreated](older, "subscriptions.CustomerCreated", 1)
	newer := eventstore.NewRegistry()
	eventstore.Register[customerCreatedV2](newer, "subscriptions.CustomerCreated", 2)

	typ, _, data, err := newer.Encode(customerCreatedV2{"c1", "Ada", "FR"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := older.Decode(eventstore.Event{Type: typ, SchemaVersion: 2, Data: data})
	if err != nil || got != (customerCreated{"c1", "Ada"}) {
		t.Fatalf("old reader of new payload: %#v, %v", got, err)
	}
	typ, _, data, _ = older.Encode(customerCreated{"c1", "Ada"})
	got, err = newer.Decode(eventstore.Event{Type: typ, SchemaVersion: 1, Data: data})
	if err != nil || got != (customerCreatedV2{CustomerID: "c1", Name: "Ada"}) {
		t.Fatalf("new reader of old payload: %#v, %v", got, err)
	}
}

func TestRegisterPanicsOnDuplicates(t *testing.T) {
	for name, f := range map[string]func(r *eventstore.Registry){
		"same name":  func(r *eventstore.Registry) { eventstore.Register[customerCreatedV2](r, "x.A", 1) },
		"same type":  func(r *eventstore.Registry) { eventstore.Register[customerCreated](r, "x.B", 1) },
		"not struct": func(r *eventstore.Registry) { eventstore.Register[string](r, "x.C", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			r := eventstore.NewRegistry()
			eventstore.Register[customerCreated](r, "x.A", 1)
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f(r)
		})
	}
}

func TestNewEventsCarriesContextMetadata(t *testing.T) {
	r := eventstore.NewRegistry()
	eventstore.Register[customerCreated](r, "subscriptions.CustomerCreated", 1)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))

	ctx := eventstore.WithCommandID(context.Background(), "cmd-1")
	ctx = eventstore.WithCorrelation(ctx, "flow-1")
	ctx = eventstore.WithCausation(ctx, "msg-1")
	a, err := r.NewEvents(ctx, "subscriptions", "customer-1", now, customerCreated{"c1", "A"}, customerCreated{"c1", "B"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.NewEvents(ctx, "subscriptions", "customer-1", now, customerCreated{"c1", "A"}, customerCreated{"c1", "B"})
	if a[0].ID != b[0].ID || a[1].ID != b[1].ID || a[0].ID == a[1].ID {
		t.Fatalf("ids not deterministic per (command, stream, index): %s %s / %s %s", a[0].ID, a[1].ID, b[0].ID, b[1].ID)
	}
	if a[0].ID != eventstore.EventID("cmd-1", "customer-1", 0) {
		t.Fatal("id is not EventID(command, stream, 0)")
	}
	if other, _ := r.NewEvents(ctx, "subscriptions", "customer-2", now, customerCreated{}); other[0].ID == a[0].ID {
		t.Fatal("same id on another stream")
	}
	e := a[0]
	if e.CorrelationID != "flow-1" || e.CausationID != "msg-1" || e.Source != "subscriptions" || e.Stream != "customer-1" ||
		!e.CreatedAt.Equal(now) || e.CreatedAt.Location() != time.UTC || e.SchemaVersion != 1 {
		t.Fatalf("metadata: %+v", e)
	}

	// Without metadata: random ids, a new flow correlated by the first event.
	c, _ := r.NewEvents(context.Background(), "subscriptions", "customer-1", now, customerCreated{}, customerCreated{})
	if c[0].ID == c[1].ID || c[0].CorrelationID != c[0].ID || c[1].CorrelationID != c[0].ID {
		t.Fatalf("defaults: %+v", c)
	}
	if _, err := r.NewEvents(ctx, "s", "x", now, 42); !errors.Is(err, eventstore.ErrUnknownEventType) {
		t.Fatalf("unregistered payload: %v", err)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := eventstore.Event{
		ID: "e1", Type: "subscriptions.CustomerCreated", SchemaVersion: 2, Stream: "customer-1", Version: 7,
		Source: "subscriptions", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		CorrelationID: "flow", CausationID: "cause", Data: json.RawMessage(`{"customerId":"c1"}`),
	}
	b, err := eventstore.MarshalEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	_ = json.Unmarshal(b, &fields)
	for _, k := range []string{"id", "type", "schemaVersion", "stream", "version", "source", "createdAt", "correlationId", "causationId", "data"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("envelope lacks %q: %s", k, b)
		}
	}
	got, err := eventstore.UnmarshalEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Type != e.Type || got.SchemaVersion != 2 || got.Stream != e.Stream || got.Version != 7 ||
		got.Source != e.Source || !got.CreatedAt.Equal(e.CreatedAt) || got.CorrelationID != "flow" || got.CausationID != "cause" ||
		string(got.Data) != string(e.Data) {
		t.Fatalf("round trip: %+v", got)
	}
	// Readers ignore fields added later.
	got, err = eventstore.UnmarshalEnvelope([]byte(`{"id":"e2","type":"t","future":{"x":1},"data":{}}`))
	if err != nil || got.ID != "e2" {
		t.Fatalf("unknown field: %+v, %v", got, err)
	}
	for _, bad := range []string{``, `[]`, `{"type":"t"}`, `{"id":"x"}`, `{"id":`} {
		if _, err := eventstore.UnmarshalEnvelope([]byte(bad)); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("UnmarshalEnvelope(%q) = %v", bad, err)
		}
	}
}

func TestValidateStream(t *testing.T) {
	long := make([]byte, eventstore.MaxStreamLength+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a/b", `a\b`, "a#b", "a?b", "a\tb", "a\x00b", "a\u0085b", string(long), "\xff"} {
		if err := eventstore.ValidateStream(bad); !errors.Is(err, eventstore.ErrInvalidStream) {
			t.Errorf("ValidateStream(%q) = %v", bad, err)
		}
	}
	for _, good := range []string{"customer-42", "invoice:2026-01", "é", string(long[1:])} {
		if err := eventstore.ValidateStream(good); err != nil {
			t.Errorf("ValidateStream(%q) = %v", good, err)
		}
	}
}

// The envelope is a CloudEvent (JSON format) by adding attributes, not renaming: a stored older
// envelope still reads, and so does a CloudEvent with only the CloudEvents names.
func TestEnvelopeIsACloudEventAndOlderOnesStillRead(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	b, err := eventstore.MarshalEnvelope(eventstore.Event{ID: "e1", Type: "subscriptions.CustomerLocked", SchemaVersion: 1, Stream: "customer-1",
		Version: 4, Source: "subscriptions", CreatedAt: at, CorrelationID: "flow", CausationID: "cmd", Data: json.RawMessage(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	var ce map[string]any
	if err := json.Unmarshal(b, &ce); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"specversion": "1.0", "id": "e1", "source": "subscriptions", "type": "subscriptions.CustomerLocked",
		"time": "2026-01-02T03:04:05.000006Z", "datacontenttype": "application/json", "correlationid": "flow", "causationid": "cmd",
		"createdAt": "2026-01-02T03:04:05.000006Z", "correlationId": "flow"} {
		if ce[k] != v {
			t.Errorf("envelope %s = %v, want %v", k, ce[k], v)
		}
	}
	older := `{"id":"e0","type":"t","schemaVersion":1,"stream":"s","version":1,"source":"x","createdAt":"2025-01-02T03:04:05Z","correlationId":"c","data":{}}`
	if e, err := eventstore.UnmarshalEnvelope([]byte(older)); err != nil || e.CorrelationID != "c" || e.CreatedAt.Year() != 2025 {
		t.Errorf("an older envelope: %+v %v", e, err)
	}
	pure := `{"specversion":"1.0","id":"x1","source":"/elsewhere","type":"other.Happened","time":"2025-05-06T07:08:09Z","correlationid":"c2","data":{"k":2}}`
	if e, err := eventstore.UnmarshalEnvelope([]byte(pure)); err != nil || e.CorrelationID != "c2" || e.CreatedAt.Month() != 5 || e.Source != "/elsewhere" {
		t.Errorf("a CloudEvent: %+v %v", e, err)
	}
	if _, err := eventstore.UnmarshalEnvelope([]byte(`{"specversion":"0.3","id":"x","type":"t"}`)); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("specversion 0.3: %v", err)
	}
}

package blocks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"meterline/shared/blocks"
	"meterline/shared/blocks/projectiontest"
	"meterline/shared/eventstore"
	"meterline/shared/fault"
	"meterline/shared/funcapp"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
)

// A tiny domain for the tests: counters that events add to, keyed by the event's "counter".
type added struct {
	Counter string `json:"counter"`
	N       int    `json:"n"`
}

type counter struct {
	views.Tracked
	Total int `json:"total"`
	Last  int `json:"last"` // the n of the newest version: order-free by comparing versions
	LastV int64
}

func translate(e eventstore.Event) (added, error) {
	var a added
	if err := json.Unmarshal(e.Data, &a); err != nil || a.Counter == "" {
		return a, fmt.Errorf("%w: %s needs a counter", blocks.ErrMalformed, e.ID)
	}
	return a, nil
}

func event(stream string, version int64, typ, counter string, n int) eventstore.Event {
	data, _ := json.Marshal(added{Counter: counter, N: n})
	return eventstore.Event{ID: fmt.Sprintf("%s-%d", stream, version), Type: typ, Stream: stream, Version: version, Data: data}
}

func counters(b views.Backend, store blocks.StreamReader) blocks.Projection[added, counter] {
	return blocks.Projection[added, counter]{
		Name:   "CountThings",
		Source: blocks.Source[added]{Topic: "things", Types: []string{"things.Added"}, Translate: translate},
		Docs:   views.Collection[counter](b, "counters"),
		Key:    func(e blocks.Event[added]) string { return e.Fact.Counter },
		When: func(c *counter, e blocks.Event[added]) {
			c.Total += e.Fact.N
			if e.Version > c.LastV {
				c.Last, c.LastV = e.Fact.N, e.Version
			}
		},
		Store: store,
	}
}

func TestProjectionIsIdempotentAndOrderFree(t *testing.T) {
	noStore := func(b views.Backend, _ blocks.StreamReader) blocks.Projection[added, counter] {
		return counters(b, nil)
	}
	projectiontest.Given(t, noStore,
		event("s1", 1, "things.Added", "a", 1),
		event("s1", 2, "things.Added", "a", 10),
		event("s2", 1, "things.Added", "a", 100),
		event("s1", 3, "things.Other", "a", 1000), // not wanted: ignored
		event("s1", 4, "things.Added", "b", 5),
	).
		Then("a", counter{Total: 111, Last: 10, LastV: 2}).
		Then("b", counter{Total: 5, Last: 5, LastV: 4}).
		ThenAbsent("c")
}

// A projection that is not order-free fails the helper: the helper is not a test that cannot fail.
func TestProjectiontestCatchesAnOrderDependentProjection(t *testing.T) {
	orderDependent := func(b views.Backend, _ blocks.StreamReader) blocks.Projection[added, counter] {
		p := counters(b, nil)
		p.When = func(c *counter, e blocks.Event[added]) { c.Last = e.Fact.N } // last delivered wins
		return p
	}
	ft := &fakeT{TB: t}
	func() {
		defer func() { recover() }() // fakeT.Fatalf stops the scenario as t.Fatalf would
		projectiontest.Given(ft, orderDependent, event("s1", 1, "things.Added", "a", 1), event("s1", 2, "things.Added", "a", 2)).
			Then("a", counter{Last: 2})
	}()
	if !ft.failed {
		t.Fatal("projectiontest accepted a projection whose result depends on the delivery order")
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	panic(fmt.Sprintf(format, args...))
}

// With a Store, the context's own streams are applied in version order: an event past a gap
// first catches the document up from the store.
func TestProjectionWithStoreAppliesAStreamInOrder(t *testing.T) {
	type seq struct {
		views.Tracked
		Seen []int `json:"seen"`
	}
	build := func(b views.Backend, store blocks.StreamReader) blocks.Projection[added, seq] {
		return blocks.Projection[added, seq]{
			Name:   "Sequence",
			Source: blocks.Source[added]{Types: []string{"things.Added"}, Translate: translate},
			Docs:   views.Collection[seq](b, "seq"),
			Key:    func(e blocks.Event[added]) string { return e.Fact.Counter },
			When:   func(s *seq, e blocks.Event[added]) { s.Seen = append(s.Seen, e.Fact.N) },
			Store:  store,
		}
	}
	projectiontest.Given(t, build,
		event("s1", 1, "things.Added", "a", 1),
		event("s1", 2, "things.Other", "a", 2),
		event("s1", 3, "things.Added", "b", 3), // another document of the same stream
		event("s1", 4, "things.Added", "a", 4),
	).Then("a", seq{Seen: []int{1, 4}}).Then("b", seq{Seen: []int{3}})
}

func TestTombstoneIsNeverRevived(t *testing.T) {
	build := func(b views.Backend, _ blocks.StreamReader) blocks.Projection[added, counter] {
		p := counters(b, nil)
		p.Source.Types = []string{"things.Added", "things.Closed"}
		when := p.When
		p.When = func(c *counter, e blocks.Event[added]) {
			if e.Type == "things.Closed" {
				c.Delete()
				return
			}
			when(c, e)
		}
		return p
	}
	projectiontest.Given(t, build,
		event("s1", 1, "things.Added", "a", 1),
		event("s1", 2, "things.Closed", "a", 0),
		event("s1", 3, "things.Added", "a", 5),
	).ThenAbsent("a")
}

func TestAfterRunsOnRedeliveryToo(t *testing.T) {
	b := viewmem.New()
	p := counters(b, nil)
	mirrored := 0
	p.After = func(_ context.Context, key string, c counter) error { mirrored++; return nil }
	e := event("s1", 1, "things.Added", "a", 1)
	for range 2 {
		if err := p.Handle(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if mirrored != 2 {
		t.Fatalf("After ran %d times for a delivery and its redelivery, want 2 (a redelivery repairs a crash between writes)", mirrored)
	}
	if c, _, _ := p.Get(context.Background(), "a"); c.Total != 1 {
		t.Fatalf("total %d after a redelivery, want 1", c.Total)
	}
}

// The Service Bus function of a block: its subscription and filter, and the poison
// classification of every failure, through the runtime as the host calls it.
func TestReceptorFunction(t *testing.T) {
	var got []string
	r := blocks.Receptor[added]{
		Name:   "OnThingAdded",
		Source: blocks.Source[added]{Topic: "things", Types: []string{"things.Added", "things.Renamed"}, Translate: translate},
		When: func(ctx context.Context, e blocks.Event[added]) error {
			got = append(got, eventstore.CommandID(ctx)+" caused by "+eventstore.Causation(ctx))
			switch e.Fact.Counter {
			case "missing":
				return &fault.Error{Kind: fault.NotFound, Code: "counter_not_found", Message: "no such counter"}
			case "flaky":
				return errors.New("storage unavailable")
			}
			return nil
		},
	}
	app := funcapp.New("demo")
	blocks.Register(app, r)
	f := app.Functions()[0]
	if f.ServiceBus.Subscription != "demo-on-thing-added" || f.ServiceBus.Filter != "type IN ('things.Added', 'things.Renamed')" {
		t.Fatalf("trigger %+v", f.ServiceBus)
	}
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()
	deliver := func(body string) (int, map[string]any) {
		inv, _ := json.Marshal(map[string]any{
			"Data":     map[string]any{"message": base64.StdEncoding.EncodeToString([]byte(body))},
			"Metadata": map[string]any{"MessageId": `"m1"`, "DeliveryCount": "1"},
		})
		resp, err := http.Post(srv.URL+"/OnThingAdded", "application/json", strings.NewReader(string(inv)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		outputs, _ := out["Outputs"].(map[string]any)
		return resp.StatusCode, outputs
	}
	envelope := func(typ, c string) string {
		b, err := eventstore.MarshalEnvelope(event("s1", 1, typ, c, 1))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	reason := func(outputs map[string]any) string {
		text, _ := outputs["deadLetter"].(string) // a JSON text, as the host wants it
		var dl funcapp.DeadLetter
		json.Unmarshal([]byte(text), &dl)
		return dl.Reason
	}
	for _, c := range []struct {
		name, body, reason string
		status             int
	}{
		{"handled", envelope("things.Added", "a"), "", 200},
		{"not wanted", envelope("things.Other", "a"), "", 200},
		{"no envelope", "not json", "invalid-envelope", 200},
		{"malformed", envelope("things.Added", ""), "malformed-event", 200},
		{"refused by a rule", envelope("things.Added", "missing"), "unusable-event", 200},
		{"storage down", envelope("things.Added", "flaky"), "", 500},
	} {
		status, outputs := deliver(c.body)
		if status != c.status || reason(outputs) != c.reason {
			t.Errorf("%s: status %d, dead-letter reason %q; want %d, %q", c.name, status, reason(outputs), c.status, c.reason)
		}
	}
	if len(got) == 0 || got[0] != "OnThingAdded:s1-1 caused by s1-1" {
		t.Fatalf("command context %q; want a command id derived from the receptor and the event", got)
	}
}

func TestFilterAndSubscriptionName(t *testing.T) {
	if f := blocks.Filter([]string{"a.B", "c.D", "a.B"}); f != "type IN ('a.B', 'c.D')" {
		t.Errorf("Filter: %s", f)
	}
	if f := blocks.Filter(blocks.EveryType); f != "1=1" {
		t.Errorf("Filter(EveryType): %s", f)
	}
	if n := blocks.SubscriptionName("cloudapi", "ReplicateAccess"); n != "cloudapi-replicate-access" {
		t.Errorf("SubscriptionName: %s", n)
	}
	defer func() {
		if recover() == nil {
			t.Error("an event type with a quote was accepted into a SQL filter")
		}
	}()
	blocks.Receptor[added]{Name: "X", Source: blocks.Source[added]{Topic: "t", Types: []string{"x' OR 1=1 --"}, Translate: translate},
		When: func(context.Context, blocks.Event[added]) error { return nil }}.Register(funcapp.New("demo"))
}

func TestIdempotencyKeyIsBoundToOperationAndRequest(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	idem := blocks.Idempotency{Keys: views.Collection[blocks.KeyUse](viewmem.New(), "keys"), Now: func() time.Time { return now }}
	command := func(key, op string, request ...string) (string, error) {
		r := httptest.NewRequest("POST", "/x", nil)
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
		ctx, err := idem.Command(r, op, request...)
		if err != nil {
			return "", err
		}
		return eventstore.CommandID(ctx), nil
	}
	lock, err := command("k1", "lock-user", "c1", "u1")
	if err != nil || lock == "" {
		t.Fatalf("first use: %q %v", lock, err)
	}
	if again, err := command("k1", "lock-user", "c1", "u1"); err != nil || again != lock {
		t.Fatalf("same key, same request: %q %v; want the first command id %q", again, err, lock)
	}
	for _, c := range []struct {
		op      string
		request []string
	}{{"unlock-user", []string{"c1", "u1"}}, {"lock-user", []string{"c1", "u2"}}} {
		_, err := command("k1", c.op, c.request...)
		if f, ok := fault.As(err); !ok || f.Kind != fault.Unprocessable || f.Code != "idempotency_key_reused" {
			t.Fatalf("same key for %s %v: %v; want 422 idempotency_key_reused", c.op, c.request, err)
		}
	}
	if id, err := command("", "lock-user", "c1", "u1"); err != nil || id != "" {
		t.Fatalf("no key: %q %v; want no command id", id, err)
	}
	if _, err := command("has space", "lock-user"); !errors.Is(err, fault.Invalid) {
		t.Fatalf("a key with a space: %v", err)
	}
	now = now.Add(blocks.DefaultKeyLifetime + time.Second)
	if _, err := command("k1", "unlock-user", "c1", "u1"); err != nil {
		t.Fatalf("a key past its lifetime is free again: %v", err)
	}
}

func TestWriteErrorMapsEveryFaultKind(t *testing.T) {
	for kind, want := range map[*fault.Kind]int{
		fault.Invalid: 400, fault.Unauthorized: 401, fault.Forbidden: 403, fault.NotFound: 404,
		fault.Conflict: 409, fault.TooLarge: 413, fault.Unprocessable: 422,
	} {
		w := httptest.NewRecorder()
		blocks.WriteError(w, httptest.NewRequest("GET", "/", nil), &fault.Error{Kind: kind, Code: "some_code", Message: "m"})
		var body funcapp.Problem
		json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != want || body.Error != "some_code" {
			t.Errorf("%v: %d %+v; want %d", kind, w.Code, body, want)
		}
	}
	w := httptest.NewRecorder()
	blocks.WriteError(w, httptest.NewRequest("GET", "/", nil), errors.New("disk on fire"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "disk") {
		t.Errorf("an internal error: %d %s; want 500 without details", w.Code, w.Body)
	}
}

// Errors are RFC 9457 problem details, the stable code kept as the "error" member.
func TestErrorsAreProblemDetails(t *testing.T) {
	w := httptest.NewRecorder()
	blocks.WriteError(w, httptest.NewRequest("GET", "/api/things/t1", nil), &fault.Error{Kind: fault.NotFound, Code: "thing_not_found", Message: "no such thing"})
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "urn:meterline:problem:thing_not_found", "title": "Not Found", "status": 404.0, "detail": "no such thing",
		"instance": "/api/things/t1", "error": "thing_not_found", "message": "no such thing"}
	if w.Header().Get("Content-Type") != "application/problem+json" || fmt.Sprint(p) != fmt.Sprint(want) {
		t.Fatalf("%s %v\nwant %v", w.Header().Get("Content-Type"), p, want)
	}
}

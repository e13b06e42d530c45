package cloudapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/functions/cloudapi"
	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	"meterline/functions/cloudapi/meterlog"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/funcapp"
	viewmem "meterline/shared/views/memstore"

	"meterline/shared/openapi/openapitest"
)

func memoryAccess() app.AccessStore { return cloudapi.AccessStoreOn(viewmem.New()) }

// world is the Cloud API app served over real loopback HTTP through funcapp's Handler.
type world struct {
	t      testing.TB
	srv    *httptest.Server
	app    *funcapp.App
	meter  app.MeterLog
	events eventstore.Store
	seq    map[string]int64
}

func newWorld(t testing.TB, deps cloudapi.Deps) *world {
	a := cloudapi.New(deps)
	a.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(openapitest.Check(t, a, cloudapi.Name, a.Handler()))
	t.Cleanup(srv.Close)
	return &world{t: t, srv: srv, app: a, meter: deps.Meter, events: deps.Events, seq: map[string]int64{}}
}

func newMemoryWorld(t testing.TB) *world {
	return newWorld(t, cloudapi.Deps{Access: memoryAccess(), Meter: meterlog.NewMemory(), Events: memstore.New(), AccessCacheTTL: -1})
}

func hashOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// routes are the Service Bus functions whose subscription's filter selects typ, as the broker
// routes a message: the filters are the generated "type IN ('a', 'b')".
func (w *world) routes(typ string) []string {
	var fns []string
	for _, f := range w.app.Functions() {
		if f.Kind == funcapp.KindServiceBus && strings.Contains(f.ServiceBus.Filter, "'"+typ+"'") {
			fns = append(fns, f.Name)
		}
	}
	return fns
}

// route is the one function that receives events of typ. It may run on any goroutine: it
// reports failures with Errorf.
func (w *world) route(typ string) string {
	fns := w.routes(typ)
	if len(fns) != 1 {
		w.t.Errorf("%s goes to functions %v, want exactly one", typ, fns)
		return "none"
	}
	return fns[0]
}

// envelope is the next event of stream as Subscriptions publishes it.
func (w *world) envelope(stream, typ string, payload any) []byte {
	w.t.Helper()
	w.seq[stream]++
	data, _ := json.Marshal(payload)
	env, err := eventstore.MarshalEnvelope(eventstore.Event{ID: fmt.Sprintf("%s-%d", stream, w.seq[stream]), Type: typ, SchemaVersion: 1,
		Stream: stream, Version: w.seq[stream], Source: "subscriptions", Data: data})
	if err != nil {
		w.t.Fatal(err)
	}
	return env
}

// deliver sends a Subscriptions event to the function its type is routed to, as the Functions
// host does (binary body, string metadata), and returns the host-protocol answer.
func (w *world) deliver(stream, typ string, payload any) map[string]any {
	w.t.Helper()
	return w.deliverTo(w.route(typ), w.envelope(stream, typ, payload))
}

// deliverTo may run on any goroutine: it reports failures with Errorf.
func (w *world) deliverTo(function string, body []byte) map[string]any {
	inv, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"message": base64.StdEncoding.EncodeToString(body)},
		"Metadata": map[string]any{"MessageId": `"m1"`, "DeliveryCount": "1"},
	})
	resp, err := http.Post(w.srv.URL+"/"+function, "application/json", bytes.NewReader(inv))
	if err != nil {
		w.t.Errorf("%s: %v", function, err)
		return nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		w.t.Errorf("%s answered %d: %v", function, resp.StatusCode, out)
	}
	return out
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

func (w *world) call(method, path, key, idem, body string) reply {
	w.t.Helper()
	req, _ := http.NewRequest(method, w.srv.URL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func (w *world) usage(customer string) domain.Usage {
	w.t.Helper()
	u, err := w.meter.Usage(context.Background(), customer)
	if err != nil {
		w.t.Fatal(err)
	}
	return u
}

// givenCustomer replicates a customer with one user holding key.
func (w *world) givenCustomer(customer, user, keyID, key string) {
	w.deliver("customer-"+customer, subs.TypeCustomerCreated, subs.CustomerCreated{CustomerID: customer, Name: "Acme", Plan: "basic"})
	w.deliver("user-"+user, subs.TypeUserCreated, subs.UserCreated{UserID: user, CustomerID: customer, Email: user + "@acme.test"})
	w.deliver("user-"+user, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: user, CustomerID: customer, KeyID: keyID, KeyHash: hashOf(key)})
}

const line = `{"series":[1,2,3,4,5],"horizon":3}`

func TestForecastMetersOncePerIdempotencyKey(t *testing.T) {
	w := newMemoryWorld(t)
	w.givenCustomer("c1", "u1", "k1", "ml_secret1")

	first := w.call("POST", "/api/cloud/forecast", "ml_secret1", "req-1", line)
	if first.status != 200 {
		t.Fatalf("forecast: %d %s", first.status, first.body)
	}
	var got app.ForecastAnswer
	_ = json.Unmarshal(first.body, &got)
	if len(got.Forecast) != 3 || got.Forecast[0] != 6 || got.Forecast[2] != 8 {
		t.Fatalf("forecast %v, want the line's continuation 6, 7, 8", got.Forecast)
	}
	again := w.call("POST", "/api/cloud/forecast", "ml_secret1", "req-1", ` { "horizon": 3, "series": [1, 2, 3, 4, 5.0] } `)
	if again.status != 200 || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s (replayed %q)", again.status, again.body, again.header.Get("Idempotent-Replayed"))
	}
	if u := w.usage("c1"); u.Unreported != (domain.Totals{Units: 3, Requests: 1}) {
		t.Fatalf("usage after a repeated key: %+v", u.Unreported)
	}
	// The same key for another request is refused and meters nothing.
	if r := w.call("POST", "/api/cloud/forecast", "ml_secret1", "req-1", `{"series":[1,2],"horizon":9}`); r.status != 422 || r.json(t)["error"] != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", r.status, r.body)
	}
	// Without a key every call is its own request.
	w.call("POST", "/api/cloud/forecast", "ml_secret1", "", line)
	w.call("POST", "/api/cloud/forecast", "ml_secret1", "", line)
	if u := w.usage("c1"); u.Unreported != (domain.Totals{Units: 9, Requests: 3}) {
		t.Fatalf("usage: %+v", u.Unreported)
	}
	r := w.call("GET", "/api/cloud/usage", "ml_secret1", "", "")
	if r.status != 200 {
		t.Fatalf("usage: %d %s", r.status, r.body)
	}
	var usage domain.Usage
	_ = json.Unmarshal(r.body, &usage)
	if usage != (domain.Usage{CustomerID: "c1", Unreported: domain.Totals{Units: 9, Requests: 3}}) {
		t.Fatalf("GET usage %+v", usage)
	}
}

// Refused calls answer with the right status and JSON error, and meter nothing.
func TestForecastRefusalsLeaveStorageUnchanged(t *testing.T) {
	w := newMemoryWorld(t)
	w.givenCustomer("c1", "u1", "k1", "ml_ok")
	w.givenCustomer("c2", "u2", "k2", "ml_revoked")
	w.deliver("user-u2", subs.TypeApiKeyRevoked, subs.ApiKeyRevoked{UserID: "u2", CustomerID: "c2", KeyID: "k2"})
	w.givenCustomer("c3", "u3", "k3", "ml_userlocked")
	w.deliver("user-u3", subs.TypeUserLocked, subs.UserLocked{UserID: "u3", CustomerID: "c3"})
	w.givenCustomer("c4", "u4", "k4", "ml_customerlocked")
	w.deliver("customer-c4", subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c4", Reason: "overdraft"})

	cases := []struct {
		name, key, idem, body string
		status                int
		code, mention         string
	}{
		{"no key", "", "", line, 401, "unauthorized", "Bearer"},
		{"unknown key", "ml_nope", "", line, 401, "unauthorized", "unknown"},
		{"revoked key", "ml_revoked", "", line, 401, "unauthorized", "revoked"},
		{"locked user", "ml_userlocked", "", line, 403, "locked", "user"},
		{"locked customer", "ml_customerlocked", "", line, 403, "locked", "customer"},
		{"no series", "ml_ok", "", `{"horizon":3}`, 400, "invalid_request", "series"},
		{"short series", "ml_ok", "", `{"series":[1],"horizon":3}`, 400, "invalid_request", "series"},
		{"bad point", "ml_ok", "", `{"series":[1,"x"],"horizon":3}`, 400, "invalid_request", "series"},
		{"no horizon", "ml_ok", "", `{"series":[1,2]}`, 400, "invalid_request", "horizon"},
		{"big horizon", "ml_ok", "", `{"series":[1,2],"horizon":1001}`, 400, "invalid_request", "horizon"},
		{"not json", "ml_ok", "", `{"series":`, 400, "invalid_request", "body"},
		{"huge body", "ml_ok", "", `{"series":[` + strings.Repeat("1,", 600_000) + `1],"horizon":1}`, 413, "invalid_request", "body"},
		{"bad idempotency key", "ml_ok", strings.Repeat("k", 300), line, 400, "invalid_request", "Idempotency-Key"},
	}
	for _, c := range cases {
		r := w.call("POST", "/api/cloud/forecast", c.key, c.idem, c.body)
		body := r.json(t)
		msg, _ := body["message"].(string)
		if r.status != c.status || body["error"] != c.code || !strings.Contains(msg, c.mention) {
			t.Errorf("%s: %d %s, want %d %s mentioning %q", c.name, r.status, r.body, c.status, c.code, c.mention)
		}
		if challenge := r.header.Get("WWW-Authenticate"); (r.status == 401) != strings.HasPrefix(challenge, `Bearer realm="cloudapi"`) {
			t.Errorf("%s: %d with WWW-Authenticate %q", c.name, r.status, challenge)
		}
	}
	for _, c := range []string{"c1", "c2", "c3", "c4"} {
		if u := w.usage(c); u != (domain.Usage{CustomerID: c}) {
			t.Errorf("%s metered %+v", c, u)
		}
	}
	if ids, _ := w.meter.Customers(context.Background()); len(ids) != 0 {
		t.Errorf("meter log touched for %v", ids)
	}
	// Unlocking lets the customer back in.
	w.deliver("customer-c4", subs.TypeCustomerUnlocked, subs.CustomerUnlocked{CustomerID: "c4"})
	if r := w.call("POST", "/api/cloud/forecast", "ml_customerlocked", "", line); r.status != 200 {
		t.Fatalf("after unlock: %d %s", r.status, r.body)
	}
	if r := w.call("GET", "/api/cloud/usage", "ml_nope", "", ""); r.status != 401 {
		t.Fatalf("usage with unknown key: %d", r.status)
	}
}

func TestReplicationPoisonsMalformedAndIgnoresUnhandled(t *testing.T) {
	w := newMemoryWorld(t)
	for _, fn := range replicators {
		out := w.deliverTo(fn, []byte(`{"not":"an envelope"}`))
		outputs, _ := out["Outputs"].(map[string]any)
		dl, _ := outputs["deadLetter"].(string)
		if !strings.Contains(dl, `"reason":"invalid-envelope"`) {
			t.Fatalf("%s, malformed envelope: outputs %v, want a dead letter with the reason", fn, outputs)
		}
	}
	out := w.deliver("user-u", subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u", CustomerID: "c", KeyID: "k", KeyHash: "not-a-hash"})
	if outputs, _ := out["Outputs"].(map[string]any); !strings.Contains(fmt.Sprint(outputs["deadLetter"]), "malformed-event") {
		t.Fatalf("bad key hash: outputs %v, want a dead letter", outputs)
	}
	out = w.deliver("user-x", subs.TypeUserCreated, subs.UserCreated{UserID: strings.Repeat("u", 300), CustomerID: "c"})
	if outputs, _ := out["Outputs"].(map[string]any); !strings.Contains(fmt.Sprint(outputs["deadLetter"]), "unstorable-event") {
		t.Fatalf("over-long id: outputs %v, want a dead letter", outputs)
	}
	// No subscription takes a type the Cloud API does not handle; one that arrives anyway is
	// completed untouched.
	if fns := w.routes(subs.TypeBalanceChanged); len(fns) != 0 {
		t.Fatalf("%s goes to %v", subs.TypeBalanceChanged, fns)
	}
	body := w.envelope("customer-c", subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c", Balance: -5})
	for _, fn := range replicators {
		if outputs, _ := w.deliverTo(fn, body)["Outputs"].(map[string]any); len(outputs) != 0 {
			t.Fatalf("%s, unhandled type: outputs %v, want none (completed)", fn, outputs)
		}
	}
}

// replicators are the access projections' functions.
var replicators = []string{"ReplicateKeys", "ReplicateUserLocks", "ReplicateCustomerLocks"}

func TestFunctionsAndFilter(t *testing.T) {
	a := cloudapi.New(cloudapi.Deps{Access: memoryAccess(), Meter: meterlog.NewMemory(), Events: memstore.New()})
	got := map[string]string{}
	for _, f := range a.Functions() {
		switch f.Kind {
		case funcapp.KindHTTP:
			got[f.Name] = fmt.Sprint(f.Kind, " ", f.HTTP.Methods, " ", f.HTTP.Route, " ", f.HTTP.AuthLevel)
		case funcapp.KindServiceBus:
			got[f.Name] = fmt.Sprint(f.Kind, " ", f.ServiceBus.Topic, " ", f.ServiceBus.Subscription, " ", f.ServiceBus.Filter)
		case funcapp.KindTimer:
			got[f.Name] = fmt.Sprint(f.Kind, " ", f.Timer.Schedule)
		}
	}
	want := map[string]string{
		"Forecast":     "httpTrigger [POST] cloud/forecast anonymous",
		"Usage":        "httpTrigger [GET] cloud/usage anonymous",
		"CloudOpenAPI": "httpTrigger [GET] cloud/openapi.json anonymous",
		"ReplicateKeys": "serviceBusTrigger subscriptions cloudapi-replicate-keys " +
			"type IN ('subscriptions.ApiKeyIssued', 'subscriptions.ApiKeyRevoked')",
		"ReplicateUserLocks": "serviceBusTrigger subscriptions cloudapi-replicate-user-locks " +
			"type IN ('subscriptions.UserCreated', 'subscriptions.UserLocked', 'subscriptions.UserUnlocked')",
		"ReplicateCustomerLocks": "serviceBusTrigger subscriptions cloudapi-replicate-customer-locks " +
			"type IN ('subscriptions.CustomerCreated', 'subscriptions.CustomerLocked', 'subscriptions.CustomerUnlocked')",
		"UsageReporting":      "timerTrigger %UsageReportSchedule%",
		"CloudApiOutboxSweep": "timerTrigger %OutboxSweepSchedule%",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("functions\n%v\nwant\n%v", got, want)
	}
	for name, f := range got {
		if strings.Contains(f, "Balance") {
			t.Fatalf("%s: %s", name, f)
		}
	}
}

// Without an outbox the timers still run: the sweep has nothing to do, the reports stay in
// the store's outbox.
func TestTimersWithoutOutbox(t *testing.T) {
	w := newMemoryWorld(t)
	w.givenCustomer("c1", "u1", "k1", "ml_k")
	if r := w.call("POST", "/api/cloud/forecast", "ml_k", "", line); r.status != 200 {
		t.Fatalf("forecast %d %s", r.status, r.body)
	}
	w.tick()
	if u := w.usage("c1"); u.Reported != (domain.Totals{Units: 3, Requests: 1, Reports: 1}) {
		t.Fatalf("usage after tick %+v", u)
	}
}

// publisher records what the outbox publishes; failing makes it refuse.
type publisher struct {
	mu      sync.Mutex
	events  []eventstore.Event
	failing bool
}

func (p *publisher) Publish(_ context.Context, events ...eventstore.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing {
		return fmt.Errorf("topic unreachable")
	}
	p.events = append(p.events, events...)
	return nil
}

func (p *publisher) published() []eventstore.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]eventstore.Event(nil), p.events...)
}

// tick is a minute of the timers: the outbox sweep, then the usage reporting.
func (w *world) tick() {
	w.t.Helper()
	for _, timer := range []string{"CloudApiOutboxSweep", "UsageReporting"} {
		inv := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`
		resp, err := http.Post(w.srv.URL+"/"+timer, "application/json", strings.NewReader(inv))
		if err != nil {
			w.t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			w.t.Fatalf("%s answered %d: %s", timer, resp.StatusCode, b)
		}
	}
}

// Issue 11: a key tried before its replication used to be refused for the whole cache TTL after
// it arrived (the 554 ms p99 of key replication). The projections now refresh the gate's cache
// for what they write: with an hour-long TTL, the key is accepted on the very next request, and
// a lock takes effect on the next one too.
func TestReplicationRefreshesTheGatesCache(t *testing.T) {
	w := newWorld(t, cloudapi.Deps{Access: memoryAccess(), Meter: meterlog.NewMemory(), Events: memstore.New(), AccessCacheTTL: time.Hour})
	const key = "ml_fresh-key-0123456789"
	if r := w.call("POST", "/api/cloud/forecast", key, "", line); r.status != 401 {
		t.Fatalf("before replication: %d", r.status)
	}
	w.givenCustomer("c1", "u1", "k1", key)
	if r := w.call("POST", "/api/cloud/forecast", key, "", line); r.status != 200 {
		t.Fatalf("right after replication: %d %s (the refusal was still cached)", r.status, r.body)
	}
	w.deliver("customer-c1", subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c1", Reason: "overdraft"})
	if r := w.call("POST", "/api/cloud/forecast", key, "", line); r.status != 403 {
		t.Fatalf("right after the customer's lock: %d %s (the access was still cached)", r.status, r.body)
	}
}

package funcapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
)

// syncBuffer is a log sink shared by concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, rec)
	}
	return out
}

// fixture is a test app with one function of each kind; what the handlers saw is kept.
type fixture struct {
	app    *funcapp.App
	srv    *httptest.Server
	logs   *syncBuffer
	mu     sync.Mutex
	msgs   []*funcapp.Message
	ticks  []funcapp.TimerInfo
	ctxIDs [][2]string // invocation id, correlation id seen by handlers
	esMeta [][3]string // eventstore correlation, causation, command id seen by handlers
}

func (f *fixture) seen(ctx context.Context) {
	f.ctxIDs = append(f.ctxIDs, [2]string{funcapp.InvocationID(ctx), funcapp.CorrelationID(ctx)})
	f.esMeta = append(f.esMeta, [3]string{eventstore.Correlation(ctx), eventstore.Causation(ctx), eventstore.CommandID(ctx)})
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{logs: &syncBuffer{}}
	app := funcapp.New("testctx")
	app.Logger = slog.New(slog.NewJSONHandler(f.logs, nil))
	app.ServiceBus("ApplyUsage", funcapp.ServiceBusTrigger{Topic: "cloudapi", Subscription: "testctx"}, func(ctx context.Context, m *funcapp.Message) error {
		f.mu.Lock()
		f.msgs = append(f.msgs, m)
		f.seen(ctx)
		f.mu.Unlock()
		funcapp.Logger(ctx).Info("applying usage", "subject", m.Subject)
		switch m.Subject {
		case "fail":
			return errors.New("storage unavailable")
		case "poison":
			return funcapp.Poison("unknown-event-type", errors.New("no such type"))
		case "panic":
			panic("boom")
		}
		return nil
	})
	app.Timer("Tick", funcapp.TimerTrigger{Schedule: "0 */5 * * * *"}, func(ctx context.Context, ti funcapp.TimerInfo) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.ticks = append(f.ticks, ti)
		f.seen(ctx)
		if ti.IsPastDue && ti.Last.IsZero() {
			return errors.New("past due without status")
		}
		return nil
	})
	app.HTTP("AddPart", funcapp.HTTPTrigger{Methods: []string{"post", "PUT"}, Route: "things/{thingId}/parts", AuthLevel: "anonymous"}, http.HandlerFunc(echo))
	app.HTTP("GetThing", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "things/{thingId:alpha}"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("thingId") == "panic" {
			panic("kaboom")
		}
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"thingId": r.PathValue("thingId")})
	}))
	app.HTTP("SpecialThing", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "things/special"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"special": "yes"})
	}))
	app.HTTP("Files", funcapp.HTTPTrigger{Route: "files/{*path}"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"path": r.PathValue("path"), "method": r.Method})
	}))
	f.app = app
	f.srv = httptest.NewServer(app.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// echo answers what it was asked, for both HTTP modes.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("ETag", `"etag-2"`)
	funcapp.WriteJSON(w, http.StatusCreated, map[string]any{
		"thingId":     r.PathValue("thingId"),
		"method":      r.Method,
		"query":       r.URL.Query(),
		"ifMatch":     r.Header.Get("If-Match"),
		"body":        body,
		"invocation":  funcapp.InvocationID(r.Context()),
		"correlation": funcapp.CorrelationID(r.Context()),
		"command":     eventstore.CommandID(r.Context()),
	})
}

// invoke posts an invocation body to POST /{function} as the host does.
func (f *fixture) invoke(t *testing.T, function string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/"+function, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(funcapp.HeaderInvocationID, "inv-"+function)
	req.Header.Set("X-Azure-Functions-HostVersion", "4.1036.1.23224")
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1036.1.23224")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type hostResult struct {
	Outputs     map[string]json.RawMessage
	Logs        []string
	ReturnValue json.RawMessage
}

func decodeResult(t *testing.T, body []byte) hostResult {
	t.Helper()
	var r hostResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("response is not an invocation result: %v: %s", err, body)
	}
	if r.Outputs == nil || r.Logs == nil {
		t.Fatalf("response lacks Outputs or Logs: %s", body)
	}
	return r
}

func TestReadinessProbe(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
}

func TestServiceBusPayloadsAsTheHostSendsThem(t *testing.T) {
	body := []byte(`{"customerId":"c-1","units":5}`)
	enq := time.Date(2023, 10, 12, 20, 13, 49, 0, time.UTC)
	tests := []struct {
		file string
		want funcapp.Message
	}{
		{"servicebus-binary.json", funcapp.Message{
			Body: body, MessageID: "4e77c3a0-8f5b-4d1a-9c3e-6b2f0d1e7a99", CorrelationID: "corr-123",
			Subject: "cloudapi.UsageRecorded", ContentType: "application/json", DeliveryCount: 1,
			EnqueuedTime: enq, ExpiresAt: time.Date(2023, 10, 26, 20, 13, 49, 0, time.UTC),
			ApplicationProperties: map[string]any{"type": "cloudapi.UsageRecorded", "schemaVersion": json.Number("1"), "correlationId": "corr-123"},
			SequenceNumber:        42, LockToken: "8b3c6d7e-1f2a-4b5c-8d9e-0a1b2c3d4e5f",
		}},
		{"servicebus-old-names.json", funcapp.Message{
			Body: body, MessageID: "4e77c3a0-8f5b-4d1a-9c3e-6b2f0d1e7a99", CorrelationID: "corr-123",
			Subject: "cloudapi.UsageRecorded", DeliveryCount: 3,
			EnqueuedTime: enq.Add(123456700), ExpiresAt: time.Date(2023, 10, 26, 20, 13, 49, 123456700, time.UTC),
			ApplicationProperties: map[string]any{"type": "cloudapi.UsageRecorded", "big": json.Number("9007199254740993")},
			SequenceNumber:        9223372036854775000,
		}},
		{"servicebus-both-names.json", funcapp.Message{
			Body: body, MessageID: "evt-1", CorrelationID: "flow-9", Subject: "subscriptions.CustomerLocked",
			ContentType: "application/json", DeliveryCount: 7, EnqueuedTime: enq,
			ExpiresAt:             time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
			ApplicationProperties: map[string]any{"type": "subscriptions.CustomerLocked", "sentAt": "2023-10-12T20:13:48.5Z", "flag": true},
			SequenceNumber:        12, LockToken: "0b7c1e7e-2c1f-4c3e-9a3b-5d6e7f809a1b",
		}},
		{"servicebus-string-body.json", funcapp.Message{Body: body, MessageID: "m-2", DeliveryCount: 2, EnqueuedTime: enq}},
		{"servicebus-merged-body.json", funcapp.Message{Body: body, MessageID: "m-3", DeliveryCount: 1,
			ApplicationProperties: map[string]any{"type": "cloudapi.UsageRecorded"}}},
		{"servicebus-empty-body.json", funcapp.Message{Body: []byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := newFixture(t)
			status, out := f.invoke(t, "ApplyUsage", readFile(t, filepath.Join("testdata", "invocations", tt.file)))
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, out)
			}
			r := decodeResult(t, out)
			if len(r.Outputs) != 0 {
				t.Errorf("Outputs = %v, want none", r.Outputs)
			}
			if len(f.msgs) != 1 {
				t.Fatalf("handler called %d times", len(f.msgs))
			}
			if got := *f.msgs[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("message\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestServiceBusFailureAnswersNon2xx(t *testing.T) {
	for subject, code := range map[string]string{"fail": "handler_failed", "panic": "panic"} {
		t.Run(subject, func(t *testing.T) {
			f := newFixture(t)
			status, out := f.invoke(t, "ApplyUsage", sbInvocation(subject, "m-"+subject))
			if status != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500: %s", status, out)
			}
			var e funcapp.Problem
			if err := json.Unmarshal(out, &e); err != nil || e.Error != code {
				t.Fatalf("error body %s (%v), want code %q", out, err, code)
			}
			if want := [3]string{"corr-" + subject, "m-" + subject, "m-" + subject}; f.esMeta[0] != want {
				t.Errorf("event store metadata in ctx = %q, want %q (correlation, causation, command id)", f.esMeta[0], want)
			}
			var logged bool
			for _, rec := range f.logs.records(t) {
				if rec["level"] == "ERROR" && rec["invocation_id"] == "inv-ApplyUsage" && rec["correlation_id"] == "corr-"+subject && rec["message_id"] == "m-"+subject {
					logged = true
					if subject == "panic" && !strings.Contains(fmt.Sprint(rec["stack"]), "funcapp_test") {
						t.Errorf("panic log has no stack: %v", rec)
					}
				}
			}
			if !logged {
				t.Errorf("no ERROR log with invocation and correlation ids: %v", f.logs.records(t))
			}
		})
	}
}

func sbInvocation(subject, messageID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"message": []byte("payload")},
		"Metadata": map[string]any{
			"DeliveryCount": "4", "MessageId": `"` + messageID + `"`, "Subject": `"` + subject + `"`,
			"CorrelationId": `"corr-` + subject + `"`, "EnqueuedTimeUtc": `"2023-10-12T20:13:49"`,
			"ApplicationProperties": map[string]any{"type": "x"},
		},
	})
	return b
}

func TestPoisonMessageGoesToTheDeadLetterOutput(t *testing.T) {
	f := newFixture(t)
	status, out := f.invoke(t, "ApplyUsage", sbInvocation("poison", "m-p"))
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200 (not retried): %s", status, out)
	}
	r := decodeResult(t, out)
	raw, ok := r.Outputs["deadLetter"]
	if !ok {
		t.Fatalf("no deadLetter output: %s", out)
	}
	// The output is a JSON text (a string), which the host sends as the message body.
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		t.Fatalf("deadLetter output is not a string: %s", raw)
	}
	var dl funcapp.DeadLetter
	if err := json.Unmarshal([]byte(text), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Reason != "unknown-event-type" || dl.Error != "no such type" || dl.App != "testctx" || dl.Function != "ApplyUsage" ||
		dl.MessageID != "m-p" || dl.DeliveryCount != 4 || string(dl.Body) != "payload" || dl.InvocationID != "inv-ApplyUsage" {
		t.Errorf("dead letter = %+v", dl)
	}
	if len(r.Logs) == 0 || !strings.Contains(r.Logs[0], "applying usage") {
		t.Errorf("Logs = %q, want the handler's log line", r.Logs)
	}
}

func TestTimerPayloadsAsTheHostSendsThem(t *testing.T) {
	tests := []struct {
		file   string
		want   funcapp.TimerInfo
		status int
	}{
		{"timer-status.json", funcapp.TimerInfo{
			Last: time.Date(2023, 10, 12, 20, 10, 0, 0, time.UTC), Next: time.Date(2023, 10, 12, 20, 15, 0, 0, time.UTC),
			LastUpdated: time.Date(2023, 10, 12, 20, 10, 0, 16251900, time.UTC),
		}, 200},
		// The handler refuses a past-due run without status: a failed run answers 500.
		{"timer-null-status.json", funcapp.TimerInfo{IsPastDue: true}, 500},
		{"timer-quoted.json", funcapp.TimerInfo{IsPastDue: true,
			Last: time.Date(2023, 10, 12, 20, 10, 0, 0, time.UTC), Next: time.Date(2023, 10, 12, 20, 15, 0, 0, time.UTC),
			LastUpdated: time.Date(2023, 10, 12, 20, 10, 0, 0, time.UTC),
		}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := newFixture(t)
			status, out := f.invoke(t, "Tick", readFile(t, filepath.Join("testdata", "invocations", tt.file)))
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, out)
			}
			if len(f.ticks) != 1 || f.ticks[0] != tt.want {
				t.Fatalf("timer info = %+v, want %+v", f.ticks, tt.want)
			}
			if f.ctxIDs[0][0] != "inv-Tick" || f.ctxIDs[0][1] != "inv-Tick" {
				t.Errorf("ids in ctx = %v, want the invocation id for both", f.ctxIDs[0])
			}
		})
	}
}

func TestHTTPTriggerWithoutForwarding(t *testing.T) {
	type echoed struct {
		ThingID, Method, IfMatch, Invocation, Correlation string
		Query                                             map[string][]string
		Body                                              []byte
	}
	tests := []struct {
		file string
		want echoed
	}{
		{"http-json.json", echoed{ThingID: "t-1", Method: "POST", IfMatch: `"etag-1"`, Invocation: "inv-AddPart", Correlation: "corr-http",
			Query: map[string][]string{"verbose": {"1"}}, Body: []byte(`{"name":"gear"}`)}},
		{"http-json-binary.json", echoed{ThingID: "t-2", Method: "PUT", Invocation: "inv-AddPart", Correlation: "inv-AddPart",
			Query: map[string][]string{"a": {"1"}, "b": {"x y"}}, Body: []byte{0, 1, 2, 255}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := newFixture(t)
			status, out := f.invoke(t, "AddPart", readFile(t, filepath.Join("testdata", "invocations", tt.file)))
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, out)
			}
			r := decodeResult(t, out)
			var res struct {
				StatusCode, Status string
				Body               string
				Headers            map[string]string
			}
			if err := json.Unmarshal(r.Outputs["res"], &res); err != nil {
				t.Fatalf("res output: %v: %s", err, out)
			}
			if res.StatusCode != "201" || res.Status != "201" || res.Headers["Etag"] != `"etag-2"` || res.Headers["Content-Type"] == "" {
				t.Errorf("res = %+v", res)
			}
			var got echoed
			if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("handler saw\n %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestForwardedHTTPRequests(t *testing.T) {
	f := newFixture(t)
	do := func(method, path, body string, header map[string]string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &m)
		return resp, m
	}

	resp, m := do("POST", "/api/things/t-9/parts?x=1", `{"n":1}`, map[string]string{
		funcapp.HeaderInvocationID: "inv-fwd", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"Idempotency-Key": "order-77",
	})
	if resp.StatusCode != 201 || m["thingId"] != "t-9" || m["invocation"] != "inv-fwd" || m["correlation"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("forwarded POST: %d %v", resp.StatusCode, m)
	}
	// The runtime never makes an Idempotency-Key a command id: one key could then stand for two
	// commands (issue 12). Command endpoints bind it themselves (blocks.Idempotency).
	if m["command"] != "" {
		t.Errorf("forwarded POST ran under command id %v", m["command"])
	}
	if got := resp.Header.Get(funcapp.HeaderCorrelationID); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("X-Correlation-ID = %q", got)
	}
	if resp, _ := do("DELETE", "/api/things/t-9/parts", "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE on a POST/PUT route = %d, want 405", resp.StatusCode)
	}
	if resp, _ := do("GET", "/api/nowhere", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown route = %d, want 404", resp.StatusCode)
	}
	if resp, m := do("PATCH", "/api/files/a/b/c.txt", "", nil); resp.StatusCode != 200 || m["path"] != "a/b/c.txt" || m["method"] != "PATCH" {
		t.Errorf("catch-all route: %d %v", resp.StatusCode, m)
	}
	// The route prefix is honoured: without it the function is not found.
	if resp, _ := do("GET", "/things/abc", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("route without prefix = %d, want 404", resp.StatusCode)
	}
	resp, m = do("GET", "/api/things/panic", "", map[string]string{"X-Correlation-ID": "corr-p"})
	if resp.StatusCode != 500 || m["error"] != "panic" {
		t.Errorf("panicking handler: %d %v", resp.StatusCode, m)
	}
	var logged bool
	for _, rec := range f.logs.records(t) {
		if rec["msg"] == "handler panicked" && rec["correlation_id"] == "corr-p" && rec["function"] == "GetThing" {
			logged = true
		}
	}
	if !logged {
		t.Error("the panic was not logged with its correlation id")
	}
}

// TestForwardedRoutesMatchLikeTheHost: the host matches routes as ASP.NET does and forwards
// the original path, so literal segments ignore case, a trailing slash is ignored, an encoded
// slash stays inside its parameter, and a literal segment beats a parameter.
func TestForwardedRoutesMatchLikeTheHost(t *testing.T) {
	f := newFixture(t)
	get := func(path string) (int, map[string]any, http.Header) {
		t.Helper()
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("GET %s: body is not JSON: %v", path, err)
		}
		return resp.StatusCode, m, resp.Header
	}
	cases := []struct {
		path string
		want map[string]any
	}{
		{"/API/Things/AbC", map[string]any{"thingId": "AbC"}},
		{"/api/things/abc/", map[string]any{"thingId": "abc"}},
		{"/api/things/a%2Fb", map[string]any{"thingId": "a/b"}},
		{"/api/things/special", map[string]any{"special": "yes"}},
		{"/api/Things/SPECIAL", map[string]any{"special": "yes"}},
		{"/api/files", map[string]any{"path": "", "method": "GET"}},
		{"/api/FILES/x/%C3%A9.txt", map[string]any{"path": "x/é.txt", "method": "GET"}},
	}
	for _, c := range cases {
		status, m, _ := get(c.path)
		if status != 200 || !reflect.DeepEqual(m, c.want) {
			t.Errorf("GET %s = %d %v, want %v", c.path, status, m, c.want)
		}
	}
	status, m, _ := get("/api/things/a/b/c")
	if status != http.StatusNotFound || m["error"] != "not_found" {
		t.Errorf("unknown path = %d %v, want a JSON 404", status, m)
	}
	resp, err := http.Post(f.srv.URL+"/api/things/x", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("POST on a GET route = %d Allow %q, want 405 Allow GET", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestMalformedPayloadsAnswer400(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "malformed", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no malformed fixtures: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		functions := []string{"ApplyUsage", "Tick", "AddPart"}
		switch {
		case strings.HasPrefix(name, "sb-"):
			functions = []string{"ApplyUsage"}
		case strings.HasPrefix(name, "timer-"):
			functions = []string{"Tick"}
		case strings.HasPrefix(name, "http-"):
			functions = []string{"AddPart"}
		}
		for _, fn := range functions {
			t.Run(name+"/"+fn, func(t *testing.T) {
				f := newFixture(t)
				status, out := f.invoke(t, fn, readFile(t, file))
				var e funcapp.Problem
				if status != http.StatusBadRequest || json.Unmarshal(out, &e) != nil || e.Error != "invalid_payload" || e.Message == "" {
					t.Fatalf("status %d body %s, want 400 invalid_payload with a reason", status, out)
				}
				if len(f.msgs)+len(f.ticks)+len(f.ctxIDs) != 0 {
					t.Error("the handler ran on a malformed payload")
				}
			})
		}
	}
}

func TestFunctionJSONIsWhatTheHostExpects(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	if err := f.app.WriteFunctionJSON(dir); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"ApplyUsage", "Tick", "AddPart", "GetThing", "SpecialThing", "Files"} {
		var got, want any
		if err := json.Unmarshal(readFile(t, filepath.Join(dir, fn, "function.json")), &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(readFile(t, filepath.Join("testdata", "functionjson", fn+".json")), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			t.Errorf("%s/function.json = %s", fn, g)
		}
	}
}

func TestRegistrationMistakesPanic(t *testing.T) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mb := func(context.Context, *funcapp.Message) error { return nil }
	cases := map[string]func(a *funcapp.App){
		"duplicate name": func(a *funcapp.App) {
			a.HTTP("Same", funcapp.HTTPTrigger{}, h)
			a.Timer("same", funcapp.TimerTrigger{Schedule: "0 * * * * *"}, func(context.Context, funcapp.TimerInfo) error { return nil })
		},
		"bad name":        func(a *funcapp.App) { a.HTTP("9lives", funcapp.HTTPTrigger{}, h) },
		"optional param":  func(a *funcapp.App) { a.HTTP("F", funcapp.HTTPTrigger{Route: "a/{id?}"}, h) },
		"partial segment": func(a *funcapp.App) { a.HTTP("F", funcapp.HTTPTrigger{Route: "a/x{id}"}, h) },
		"bad auth level":  func(a *funcapp.App) { a.HTTP("F", funcapp.HTTPTrigger{AuthLevel: "public"}, h) },
		"queue and topic": func(a *funcapp.App) {
			a.ServiceBus("F", funcapp.ServiceBusTrigger{Queue: "q", Topic: "t", Subscription: "s"}, mb)
		},
		"no subscription": func(a *funcapp.App) { a.ServiceBus("F", funcapp.ServiceBusTrigger{Topic: "t"}, mb) },
		"empty schedule": func(a *funcapp.App) {
			a.Timer("F", funcapp.TimerTrigger{}, func(context.Context, funcapp.TimerInfo) error { return nil })
		},
		"nil handler": func(a *funcapp.App) { a.ServiceBus("F", funcapp.ServiceBusTrigger{Queue: "q"}, nil) },
		"same route twice": func(a *funcapp.App) {
			a.HTTP("A", funcapp.HTTPTrigger{Route: "x"}, h)
			a.HTTP("B", funcapp.HTTPTrigger{Route: "x"}, h)
			a.Handler()
		},
		"catch-all not end": func(a *funcapp.App) { a.HTTP("F", funcapp.HTTPTrigger{Route: "{*a}/b"}, h) },
	}
	for name, register := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			register(funcapp.New("x"))
		})
	}
}

func TestIncludeKeepsEachContextsDeadLetterQueue(t *testing.T) {
	mb := func(context.Context, *funcapp.Message) error { return nil }
	a, b := funcapp.New("alpha"), funcapp.New("beta")
	a.ServiceBus("A", funcapp.ServiceBusTrigger{Queue: "qa"}, mb)
	b.ServiceBus("B", funcapp.ServiceBusTrigger{Queue: "qb", Connection: "Other"}, mb)
	all := funcapp.New("all")
	all.Include(a)
	all.Include(b)
	fns := all.Functions()
	if len(fns) != 2 {
		t.Fatalf("%d functions", len(fns))
	}
	for _, fn := range fns {
		out := fn.Definition().Bindings[1]
		want := map[string]string{"A": "alpha-deadletters", "B": "beta-deadletters"}[fn.Name]
		if out.Name != "deadLetter" || out.QueueName != want || out.Connection != fn.ServiceBus.Connection {
			t.Errorf("%s dead-letter binding = %+v", fn.Name, out)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("including the same context twice did not panic")
		}
	}()
	all.Include(a)
}

func TestServeListensOnTheHostsPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", fmt.Sprint(port))
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.app.Serve(ctx) }()
	var resp *http.Response
	for i := 0; i < 100; i++ { // the host polls the same way until the server answers
		if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readiness = %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

func TestServeWithoutPortFails(t *testing.T) {
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "")
	if err := funcapp.New("x").Serve(context.Background()); err == nil {
		t.Fatal("Serve without FUNCTIONS_CUSTOMHANDLER_PORT succeeded")
	}
}

func TestOneRouteSplitByMethod(t *testing.T) {
	app := funcapp.New("x")
	for _, m := range []string{"GET", "POST"} {
		app.HTTP("Item"+m, funcapp.HTTPTrigger{Methods: []string{m}, Route: "items/{id}"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			funcapp.WriteJSON(w, http.StatusOK, map[string]string{"fn": "Item" + m, "id": r.PathValue("id")})
		}))
	}
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()
	for _, m := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(m, srv.URL+"/api/items/7", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if got["fn"] != "Item"+m || got["id"] != "7" {
			t.Errorf("%s /api/items/7 served by %v", m, got)
		}
	}
}

package journal_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/journal"
	"meterline/functions/journal/app"
	"meterline/functions/journal/store"
	"meterline/functions/journal/store/tablestore"
	"meterline/shared/azurite/azuritetest"
	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
	viewtables "meterline/shared/views/tablestore"

	"meterline/shared/openapi/openapitest"
)

// connectionString is the private Azurite the tests of this package share, each on tables and
// containers of its own.
var connectionString string

func TestMain(m *testing.M) { azuritetest.Main(m, &connectionString) }

var quiet = slog.New(slog.DiscardHandler)

// clock is the tests' clock: it moves only when told, so no test compares a fixed date with
// the real time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// world is the Journal app on Azurite, driven through the handler the Functions host calls.
type world struct {
	t       *testing.T
	clock   *clock
	h       http.Handler
	app     *funcapp.App
	j       *app.Journal
	journal *store.Journal
	backend *tablestore.Backend
}

var fresh atomic.Int32

type options struct {
	settings map[string]string
	crash    func(store.Step, string) error
	archive  func(app.Archive) app.Archive // wraps the real archive
}

func newWorld(t *testing.T, o options) *world {
	t.Helper()
	ctx := context.Background()
	n := fresh.Add(1)
	j, b, err := tablestore.NewFromConnectionString(ctx, connectionString, &tablestore.Options{
		Prefix: fmt.Sprintf("w%d", n), Payloads: fmt.Sprintf("payloads-%d", n), Archive: fmt.Sprintf("archive-%d", n),
		Journal: &store.Options{Crash: o.crash},
	})
	if err != nil {
		t.Fatal(err)
	}
	service, err := aztables.NewServiceClientFromConnectionString(connectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	views, err := viewtables.New(ctx, service, fmt.Sprintf("w%dViews", n))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)}
	var archive app.Archive = j
	if o.archive != nil {
		archive = o.archive(j)
	}
	deps := journal.Deps{Records: j, Archive: archive, Views: views, Now: c.Now, Logger: quiet,
		Setting: func(name string) string { return o.settings[name] }}
	fa, ja := journal.NewWithApplication(deps)
	return &world{t: t, clock: c, h: openapitest.Check(t, fa, journal.Name, fa.Handler()), app: fa, j: ja, journal: j, backend: b}
}

type response struct {
	status int
	body   []byte
}

func (r response) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

func (r response) errorCode() string { s, _ := r.json()["error"].(string); return s }

func (w *world) do(method, path, body string) response {
	w.t.Helper()
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return response{rec.Code, rec.Body.Bytes()}
}

// post sends an envelope to POST /api/journal/events with the clock at when.
func (w *world) post(body string, when time.Time) response {
	w.t.Helper()
	w.clock.Set(when)
	return w.do("POST", "/api/journal/events", body)
}

// timer invokes a timer function as the host does, with the clock at when.
func (w *world) timer(name string, when time.Time) response {
	w.t.Helper()
	w.clock.Set(when)
	return w.do("POST", "/"+name, `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`)
}

// deliver invokes a Service Bus function with a message body, as the host does; it returns the
// handler's status and the dead-letter reason, if any.
func (w *world) deliver(function string, body []byte, messageID string, deliveryCount int) (int, string) {
	w.t.Helper()
	inv, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"message": base64.StdEncoding.EncodeToString(body)},
		"Metadata": map[string]any{"MessageId": fmt.Sprintf("%q", messageID), "DeliveryCount": fmt.Sprint(deliveryCount)},
	})
	res := w.do("POST", "/"+function, string(inv))
	var out struct {
		Outputs map[string]any
	}
	_ = json.Unmarshal(res.body, &out)
	text, _ := out.Outputs["deadLetter"].(string)
	var dl funcapp.DeadLetter
	_ = json.Unmarshal([]byte(text), &dl)
	return res.status, dl.Reason
}

// events reads a GET answer's events and continuation.
func events(t *testing.T, r response) ([]store.Record, string) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("GET answered %d: %s", r.status, r.body)
	}
	var page struct {
		Events       []json.RawMessage `json:"events"`
		Continuation string            `json:"continuation"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	out := make([]store.Record, len(page.Events))
	for i, raw := range page.Events {
		rec, err := store.UnmarshalRecord(raw)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = rec
	}
	return out, page.Continuation
}

// readAll pages through a GET until its continuation runs out.
func (w *world) readAll(path string) ([]store.Record, [][]byte) {
	w.t.Helper()
	var all []store.Record
	var pages [][]byte
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	next := ""
	for i := 0; ; i++ {
		p := path
		if next != "" {
			p += sep + "continuation=" + next
		}
		r := w.do("GET", p, "")
		recs, cont := events(w.t, r)
		all = append(all, recs...)
		pages = append(pages, r.body)
		if cont == "" || i > 1000 {
			return all, pages
		}
		next = cont
	}
}

// snapshot is every row and payload of the Journal's storage.
type snapshot map[string][]string

func (w *world) snapshot() snapshot {
	w.t.Helper()
	s := snapshot{}
	for _, tb := range store.Tables {
		rows, err := w.backend.All(context.Background(), tb)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, r := range rows {
			b, _ := json.Marshal(r)
			s[string(tb)] = append(s[string(tb)], string(b))
		}
	}
	names, err := w.backend.PayloadNames(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	s["payloads"] = names
	return s
}

func (s snapshot) equal(o snapshot) bool {
	if len(s) != len(o) {
		return false
	}
	for k, v := range s {
		if !slices.Equal(v, o[k]) {
			return false
		}
	}
	return true
}

// envelope is the JSON envelope of e, as a publisher sends it.
func envelope(t *testing.T, e eventstore.Event) string {
	t.Helper()
	b, err := eventstore.MarshalEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

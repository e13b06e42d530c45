package journal_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"meterline/functions/journal/domain"
	"meterline/functions/journal/store"
	subscriptions "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

var t0 = time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)

func chargeEvent(id, customer string, version int64, created time.Time, amount int64) eventstore.Event {
	data, _ := json.Marshal(subscriptions.ChargeAdded{CustomerID: customer, ChargeID: id, Amount: amount, Currency: "EUR",
		Description: "setup <fee> & more", ChargedAt: created, Month: created.Format("2006-01")})
	return eventstore.Event{ID: id, Type: subscriptions.TypeChargeAdded, SchemaVersion: 1, Stream: subscriptions.CustomerStream(customer),
		Version: version, Source: subscriptions.Source, CreatedAt: created, CorrelationID: "flow-" + id, CausationID: "cmd-" + id, Data: data}
}

// otherEncoding is e as another producer would write the same envelope: other key order and
// spacing, "<" unescaped, the CloudEvents names only where they overlap.
func otherEncoding(t *testing.T, e eventstore.Event) string {
	t.Helper()
	data := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `,"`, `, "`).Replace(string(e.Data))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "   ")
	_ = enc.Encode(map[string]any{ // a map: its keys come out sorted, unlike the kit's struct
		"specversion": "1.0", "id": e.ID, "type": e.Type, "source": e.Source,
		"time":          e.CreatedAt.In(time.FixedZone("CET", 3600)).Format(time.RFC3339Nano),
		"correlationid": e.CorrelationID, "causationid": e.CausationID,
		"stream": e.Stream, "version": e.Version, "schemaVersion": e.SchemaVersion, "data": json.RawMessage(data),
	})
	out := b.String()
	if !strings.Contains(out, "<fee>") {
		t.Fatalf("not another encoding: %s", out)
	}
	return out
}

// POST /api/journal/events answers 200, 409, 400 and 422 as seed 003's delivery expects, and a
// refused envelope changes nothing in storage.
func TestIngestAnswersAndRefusalsChangeNothing(t *testing.T) {
	w := newWorld(t, options{})
	e := chargeEvent("charge-1", "c1", 3, t0.Add(-time.Minute), 500)
	body := envelope(t, e)
	if !strings.Contains(body, `\u003cfee\u003e`) {
		t.Fatalf("the kit's envelope no longer escapes HTML; this test wants two encodings: %s", body)
	}
	r := w.post(body, t0)
	if r.status != 200 || r.json()["status"] != "stored" || r.json()["receivedAt"] != t0.Format(time.RFC3339Nano) {
		t.Fatalf("first post: %d %s", r.status, r.body)
	}
	before := w.snapshot()
	for _, again := range []string{body, otherEncoding(t, e)} {
		if r := w.post(again, t0.Add(time.Minute)); r.status != 409 || r.errorCode() != "already_stored" {
			t.Fatalf("the same event again: %d %s\n%s", r.status, r.body, again)
		}
	}
	if !w.snapshot().equal(before) {
		t.Fatal("an event stored again changed storage")
	}

	reused := e
	reused.Data = json.RawMessage(`{"customerId":"c1","amount":999}`)
	if r := w.post(envelope(t, reused), t0.Add(time.Minute)); r.status != 422 || r.errorCode() != "event_id_reused" {
		t.Fatalf("an id reused with other content: %d %s", r.status, r.body)
	}
	valid := func(edit func(map[string]any)) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(envelope(t, chargeEvent("charge-2", "c1", 4, t0, 1))), &m)
		edit(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	for body, reason := range map[string]string{
		valid(func(m map[string]any) { delete(m, "id") }):                                  "id and type are required",
		valid(func(m map[string]any) { delete(m, "type") }):                                "id and type are required",
		valid(func(m map[string]any) { delete(m, "source") }):                              "source is required",
		valid(func(m map[string]any) { delete(m, "createdAt"); delete(m, "time") }):        "time is required",
		valid(func(m map[string]any) { m["data_base64"] = "AAE=" }):                        "data_base64",
		valid(func(m map[string]any) { m["id"] = strings.Repeat("#", store.MaxKeyUnits) }): "id is longer than a table key allows",
		`{"id":"charge-2","type":`:                                                         "not an envelope",
		``:                                                                                 "empty",
	} {
		r := w.post(body, t0.Add(2*time.Minute))
		if r.status != 400 || r.errorCode() != "invalid_envelope" || !strings.Contains(r.json()["message"].(string), reason) {
			t.Errorf("%.60s: %d %s; want 400 invalid_envelope saying %q", body, r.status, r.body, reason)
		}
	}
	huge := chargeEvent("huge", "c1", 5, t0, 1)
	huge.Data = json.RawMessage(`"` + strings.Repeat("x", store.MaxPayloadBytes+70<<10) + `"`)
	if r := w.post(envelope(t, huge), t0); r.status != 413 {
		t.Fatalf("a body over the limit: %d %.200s", r.status, r.body)
	}
	if !w.snapshot().equal(before) {
		t.Fatal("a refused envelope changed storage")
	}

	w.clock.Set(t0.Add(time.Hour)) // "to" defaults to now, and is exclusive
	got, _ := w.readAll("/api/journal/events?type=" + subscriptions.TypeChargeAdded + "&from=2026-03-10T00:00:00Z")
	if len(got) != 1 || !got[0].SameAs(store.Record{Event: canonical(t, e), ReceivedAt: t0}) {
		t.Fatalf("read back %+v", got)
	}
}

// canonical is e as the Journal keeps it.
func canonical(t *testing.T, e eventstore.Event) eventstore.Event {
	t.Helper()
	parsed, err := domain.ParseEnvelope([]byte(envelope(t, e)))
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

func TestReadingBackByTypeAndByStreamInPages(t *testing.T) {
	w := newWorld(t, options{})
	var all []store.Record
	add := func(e eventstore.Event, when time.Time) {
		t.Helper()
		if r := w.post(envelope(t, e), when); r.status != 200 {
			t.Fatalf("post %s: %d %s", e.ID, r.status, r.body)
		}
		all = append(all, store.Record{Event: canonical(t, e), ReceivedAt: when})
	}
	// Versions arrive out of order; two days; two types; a payload over a table property.
	for i, v := range []int64{3, 1, 5, 2, 4} {
		add(chargeEvent(fmt.Sprintf("ch-%d", v), "c1", v, t0, int64(v)), t0.Add(time.Duration(i)*time.Hour))
	}
	big := chargeEvent("ch-big", "c2", 1, t0, 1)
	big.Data = json.RawMessage(fmt.Sprintf(`{"customerId":"c2","notes":%q}`, strings.Repeat("é<>", 30<<10)))
	add(big, t0.Add(20*time.Hour)) // the next day
	paid := eventstore.Event{ID: "pay-1", Type: subscriptions.TypePaymentReceived, Stream: "customer-c1", Version: 6,
		Source: "subscriptions", CreatedAt: t0, Data: json.RawMessage(`{"customerId":"c1","amount":5}`)}
	add(paid, t0.Add(21*time.Hour))

	w.clock.Set(t0.Add(48 * time.Hour)) // "to" defaults to now
	charges := func(rs []store.Record) []store.Record {
		return slices.DeleteFunc(slices.Clone(rs), func(r store.Record) bool { return r.Type != subscriptions.TypeChargeAdded })
	}
	sameAll := func(what string, got, want []store.Record) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
		}
		for i := range got {
			if !got[i].SameAs(want[i]) {
				t.Fatalf("%s: event %d is %s, want %s", what, i, got[i].ID, want[i].ID)
			}
		}
	}
	got, pages := w.readAll("/api/journal/events?type=" + subscriptions.TypeChargeAdded + "&from=2026-03-10T00:00:00Z&to=2026-03-12T00:00:00Z&limit=2")
	sameAll("by type, in pages of 2", got, charges(all))
	if len(pages) != 3 {
		t.Fatalf("%d pages for 6 events by 2", len(pages))
	}
	got, _ = w.readAll("/api/journal/events?type=" + subscriptions.TypeChargeAdded + "&type=" + subscriptions.TypePaymentReceived + "&from=2026-03-10T00:00:00Z&limit=3")
	sameAll("two types", got, all)
	got, _ = w.readAll("/api/journal/events?from=2026-03-10T00:00:00Z&limit=4")
	sameAll("every type", got, all)
	got, _ = w.readAll("/api/journal/events?from=2026-03-10T15:00:00Z&to=2026-03-10T18:00:00Z") // [from, to)
	sameAll("a time range", got, all[1:4])

	byVersion := slices.DeleteFunc(slices.Clone(all), func(r store.Record) bool { return r.Stream != "customer-c1" })
	slices.SortFunc(byVersion, func(a, b store.Record) int { return int(a.Version - b.Version) })
	got, _ = w.readAll("/api/journal/streams/customer-c1?limit=4")
	sameAll("a stream, in version order", got, byVersion)
	slash := eventstore.Event{ID: "pay/23#1", Type: "payment-completed", Stream: "payment/23", Version: 1, Source: "core",
		CreatedAt: t0, Data: json.RawMessage(`{"amount":"3.0000/EUR"}`)} // seed 003's aggregate ids hold slashes
	if r := w.post(envelope(t, slash), t0.Add(22*time.Hour)); r.status != 200 {
		t.Fatalf("post %s: %d %s", slash.ID, r.status, r.body)
	}
	got, _ = w.readAll("/api/journal/streams/payment%2F23")
	sameAll("a stream whose name holds a slash", got, []store.Record{{Event: canonical(t, slash), ReceivedAt: t0.Add(22 * time.Hour)}})
	if got, _ := w.readAll("/api/journal/streams/customer-nobody"); len(got) != 0 {
		t.Fatalf("an unknown stream: %d events", len(got))
	}

	first := w.do("GET", "/api/journal/events?from=2026-03-10T00:00:00Z&limit=1", "")
	_, token := events(t, first)
	for path, field := range map[string]string{
		"/api/journal/streams/customer-c1?continuation=" + token:                "continuation", // another query's token
		"/api/journal/events?from=2026-03-10T00:00:00Z&continuation=garbage":    "continuation",
		"/api/journal/events?type=x":                                            "from",
		"/api/journal/events?from=yesterday":                                    "from",
		"/api/journal/events?from=2026-03-10T00:00:00Z&to=2026-03-09T00:00:00Z": "to",
		"/api/journal/events?from=2026-03-10T00:00:00Z&limit=0":                 "limit",
		"/api/journal/events?from=2026-03-10T00:00:00Z&limit=1001":              "limit",
	} {
		r := w.do("GET", path, "")
		if r.status != 400 || r.errorCode() != "invalid_"+field {
			t.Errorf("%s: %d %s; want 400 invalid_%s", path, r.status, r.body, field)
		}
	}
}

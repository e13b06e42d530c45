package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"meterline/functions/internal/apps"
	"meterline/functions/internal/topology"
	emulator "meterline/infra/servicebus-emulator"
	"meterline/shared/azurite/azuritetest"
	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
	"meterline/shared/views"
	viewtables "meterline/shared/views/tablestore"
)

// world is the four contexts in one app, in-process, on Azurite and the Service Bus emulator
// (the shipped topology), with a pump that plays the Functions host: it hands each message of
// every subscription to the app's handler as the host would, and sends what the handler
// dead-letters to the context's dead-letter queue.
type world struct {
	t        *testing.T
	ctx      context.Context
	settings string // the local.settings.json the tool reads
	setting  func(string) string
	app      *funcapp.App
	srv      *httptest.Server
	bus      *azservicebus.Client
	tables   *aztables.ServiceClient
	tp       topology.Topology
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	storage := azuritetest.Start(t)
	sb := emulator.ForTest(t, nil)
	values := map[string]string{
		"AzureWebJobsStorage":    storage.ConnectionString(),
		"ServiceBusConnection":   sb.ConnectionString(),
		"CloudApiAccessCacheTTL": "0s",
	}
	path := filepath.Join(t.TempDir(), "local.settings.json")
	b, _ := json.Marshal(map[string]any{"IsEncrypted": false, "Values": values})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	setting := func(name string) string { return values[name] }
	a, err := apps.Build(ctx, apps.All, setting)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	bus, err := azservicebus.NewClientFromConnectionString(sb.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close(context.Background()) })
	tables, err := aztables.NewServiceClientFromConnectionString(storage.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := apps.Topology()
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, settings: path, setting: setting, app: a, srv: srv, bus: bus, tables: tables, tp: tp}
}

// cli runs the tool in-process with the world's settings and no environment.
func (w *world) cli(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(w.ctx, append(args, "--settings", w.settings), &out, &errOut, func(string) string { return "" })
	return out.String() + errOut.String(), err
}

func (w *world) mustCLI(args ...string) string {
	w.t.Helper()
	out, err := w.cli(args...)
	if err != nil {
		w.t.Fatalf("meterline %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// call sends an HTTP request to the app.
func (w *world) call(method, path, bearer, body string) (int, []byte) {
	w.t.Helper()
	req, _ := http.NewRequestWithContext(w.ctx, method, w.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// post is call that must succeed, its answer decoded.
func (w *world) post(path, body string) map[string]any {
	w.t.Helper()
	status, b := w.call("POST", path, "", body)
	if status >= 300 {
		w.t.Fatalf("POST %s: %d %s", path, status, b)
	}
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return out
}

// invoke runs a function as the host does: POST /{name} with the invocation payload.
func (w *world) invoke(name string, payload any) (int, map[string]any) {
	w.t.Helper()
	b, _ := json.Marshal(payload)
	resp, err := http.Post(w.srv.URL+"/"+name, "application/json", bytes.NewReader(b))
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// tick runs a timer function once.
func (w *world) tick(name string) {
	w.t.Helper()
	if status, out := w.invoke(name, map[string]any{"Data": map[string]any{"timer": map[string]any{"IsPastDue": false}}, "Metadata": map[string]any{}}); status != 200 {
		w.t.Fatalf("timer %s: %d %v", name, status, out)
	}
}

// subscriptionFunctions are the app's Service Bus functions.
func (w *world) subscriptionFunctions() []funcapp.Function {
	var out []funcapp.Function
	for _, f := range w.app.Functions() {
		if f.Kind == funcapp.KindServiceBus && f.ServiceBus.Topic != "" {
			out = append(out, f)
		}
	}
	return out
}

// waiting is how many messages wait in a subscription (peeked: nothing is taken).
func (w *world) waiting(topic, subscription string) int {
	w.t.Helper()
	r, err := w.bus.NewReceiverForSubscription(topic, subscription, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	defer r.Close(w.ctx)
	from := int64(0)
	msgs, err := r.PeekMessages(w.ctx, 1000, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &from})
	if err != nil {
		w.t.Fatal(err)
	}
	return len(msgs)
}

// drain delivers every waiting message of every subscription until none is left (handling a
// message may publish more). Emptiness is peeked, so nothing waits on a timeout.
func (w *world) drain() {
	w.t.Helper()
	for pass := 0; ; pass++ {
		if pass == 50 {
			w.t.Fatal("the subscriptions never drained")
		}
		delivered := 0
		for _, f := range w.subscriptionFunctions() {
			delivered += w.pump(f)
		}
		if delivered == 0 {
			return
		}
	}
}

// pump delivers the messages waiting in f's subscription; it returns how many.
func (w *world) pump(f funcapp.Function) int {
	w.t.Helper()
	sb := f.ServiceBus
	r, err := w.bus.NewReceiverForSubscription(sb.Topic, sb.Subscription, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	defer r.Close(w.ctx)
	n := 0
	for w.waiting(sb.Topic, sb.Subscription) > 0 {
		msgs, err := r.ReceiveMessages(w.ctx, 1, nil) // one is there: this returns at once
		if err != nil {
			w.t.Fatal(err)
		}
		for _, m := range msgs {
			w.deliver(f, r, m)
			n++
		}
	}
	return n
}

// deliver is the host's handling of one message: invoke, then complete, dead-letter to the
// context's queue (the output binding), or abandon.
func (w *world) deliver(f funcapp.Function, r *azservicebus.Receiver, m *azservicebus.ReceivedMessage) {
	w.t.Helper()
	props := map[string]any{}
	for k, v := range m.ApplicationProperties {
		if tm, ok := v.(time.Time); ok {
			v = tm.UTC().Format(time.RFC3339Nano)
		}
		props[k] = v
	}
	status, out := w.invoke(f.Name, map[string]any{
		"Data": map[string]any{"message": base64.StdEncoding.EncodeToString(m.Body)},
		"Metadata": map[string]any{"MessageId": quoted(m.MessageID), "CorrelationId": quoted(deref(m.CorrelationID)),
			"Subject": quoted(deref(m.Subject)), "ContentType": quoted(deref(m.ContentType)), "DeliveryCount": fmt.Sprint(m.DeliveryCount),
			"SequenceNumber": fmt.Sprint(deref(m.SequenceNumber)), "ApplicationProperties": props},
	})
	if status != 200 {
		if m.DeliveryCount >= 3 {
			w.t.Fatalf("%s keeps failing on %s: %d %v", f.Name, m.MessageID, status, out)
		}
		if err := r.AbandonMessage(w.ctx, m, nil); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	if outputs, _ := out["Outputs"].(map[string]any); outputs != nil {
		if text, ok := outputs["deadLetter"].(string); ok {
			sender, err := w.bus.NewSender(funcapp.DeadLetterQueue(f.App), nil)
			if err != nil {
				w.t.Fatal(err)
			}
			ct := "text/plain"
			if err := sender.SendMessage(w.ctx, &azservicebus.Message{Body: []byte(text), ContentType: &ct}, nil); err != nil {
				w.t.Fatal(err)
			}
			sender.Close(w.ctx)
		}
	}
	if err := r.CompleteMessage(w.ctx, m, nil); err != nil {
		w.t.Fatal(err)
	}
}

// docs are the stored JSON of every document of collections in a context's views table.
func (w *world) docs(table string, collections ...string) map[string]string {
	w.t.Helper()
	s, err := viewtables.New(w.ctx, w.tables, table)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range collections {
		list, err := s.List(w.ctx, c)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, d := range list {
			out[c+"/"+d.Key] = string(d.Data)
		}
	}
	return out
}

// viewsOf is a views backend on a context's table.
func (w *world) viewsOf(table string) views.Backend {
	s, err := viewtables.New(w.ctx, w.tables, table)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// quoted is a metadata string as the host sends it: JSON.
func quoted(s string) string { b, _ := json.Marshal(s); return string(b) }

// viewTables are the contexts' views tables.
var viewTables = map[string]string{"subscriptions": "subscriptionsViews", "cloudapi": "cloudapiviews", "product": "productviews"}

// allDocs is every view's documents, by view.
func (w *world) allDocs() map[string]map[string]string {
	w.t.Helper()
	vs, err := definedViews()
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, v := range vs {
		out[v.App+"."+v.Name] = w.docs(viewTables[v.App], v.Collections...)
	}
	return out
}

// sameDocs fails unless got is want, view by view and document by document.
func sameDocs(t *testing.T, what string, got, want map[string]map[string]string) {
	t.Helper()
	for view, docs := range want {
		for k, d := range docs {
			if got[view][k] != d {
				t.Errorf("%s: %s %s:\n got  %s\n want %s", what, view, k, got[view][k], d)
			}
		}
		for k := range got[view] {
			if _, ok := docs[k]; !ok {
				t.Errorf("%s: %s %s: not there before: %s", what, view, k, got[view][k])
			}
		}
	}
}

// peekAll is every message waiting in a subscription (nothing is taken).
func (w *world) peekAll(topic, subscription string) []*azservicebus.ReceivedMessage {
	w.t.Helper()
	r, err := w.bus.NewReceiverForSubscription(topic, subscription, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	defer r.Close(w.ctx)
	from := int64(0)
	msgs, err := r.PeekMessages(w.ctx, 1000, &azservicebus.PeekMessagesOptions{FromSequenceNumber: &from})
	if err != nil {
		w.t.Fatal(err)
	}
	return msgs
}

// waitingEverywhere is how many messages wait in each subscription with any.
func (w *world) waitingEverywhere() map[string]int {
	w.t.Helper()
	out := map[string]int{}
	for _, tp := range w.tp.Topics {
		for _, s := range tp.Subscriptions {
			if n := w.waiting(tp.Name, s.Name); n > 0 {
				out[s.Name] = n
			}
		}
	}
	return out
}

// storeEvents are the events of a context's event store, whole.
func (w *world) storeEvents(app string) []eventstore.Event {
	w.t.Helper()
	s, err := apps.Events(w.ctx, app, w.setting)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []eventstore.Event
	if err := s.Scan(w.ctx, func(e eventstore.Event) error { out = append(out, e); return nil }); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// subscription is the topology's subscription name, with its topic.
func (w *world) subscription(name string) (string, topology.Subscription) {
	w.t.Helper()
	for _, tp := range w.tp.Topics {
		for _, s := range tp.Subscriptions {
			if s.Name == name {
				return tp.Name, s
			}
		}
	}
	w.t.Fatalf("no subscription %s", name)
	return "", topology.Subscription{}
}

// send publishes a raw message to a topic, as any publisher could.
func (w *world) send(topic string, m *azservicebus.Message) {
	w.t.Helper()
	s, err := w.bus.NewSender(topic, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	defer s.Close(w.ctx)
	if err := s.SendMessage(w.ctx, m, nil); err != nil {
		w.t.Fatal(err)
	}
}

var (
	countLine    = regexp.MustCompile(`(\w+)\.(\w+): (\d+) events read, (\d+) applied, (\d+) skipped; (\d+) documents written`)
	replayedLine = regexp.MustCompile(`replayed (\d+) events to `)
	letterLine   = regexp.MustCompile(`(?m)^(\S+)/(\d+)\s`)
)

// seed makes customers, users, metered calls and usage reports, and delivers every event.
func (w *world) seed() {
	w.t.Helper()
	for i := range 2 {
		c := w.post("/api/subscriptions/customers", fmt.Sprintf(`{"name":"World %d Ltd","plan":"payg"}`, i))
		customer, _ := c["customerId"].(string)
		for j := range 2 {
			u := w.post("/api/subscriptions/customers/"+customer+"/users", fmt.Sprintf(`{"email":"u%d-%d@example.test"}`, i, j))
			w.drain() // the Cloud API knows the key
			key, _ := u["apiKey"].(string)
			if status, b := w.call("POST", "/api/cloud/forecast", key, `{"series":[3,5,4,6,7,6,8,9],"horizon":2}`); status != 200 {
				w.t.Fatalf("forecast: %d %s", status, b)
			}
		}
	}
	w.tick("UsageReporting")
	w.drain()
}

// TestMain lets the tests run the real command, exit code and all: the test binary is the
// command when METERLINE_TEST_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("METERLINE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// command runs the command as a process with no environment but the settings file; it returns
// its output and exit code.
func (w *world) command(args ...string) (string, int) {
	w.t.Helper()
	return w.commandWith(w.settings, args...)
}

// commandWith is command with another settings file.
func (w *world) commandWith(settings string, args ...string) (string, int) {
	w.t.Helper()
	cmd := exec.CommandContext(w.ctx, os.Args[0], append(args, "--settings", settings)...)
	cmd.Env = []string{"METERLINE_TEST_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + w.t.TempDir()}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	w.t.Fatal(err)
	return "", 0
}

func TestMeterline(t *testing.T) {
	w := newWorld(t)
	since := time.Now().UTC().Add(-time.Second).Truncate(time.Second)
	w.seed()
	seeded := w.allDocs()
	for view, docs := range seeded {
		if len(docs) == 0 && view != "product.ReplicateUsage" {
			t.Fatalf("the seed left %s empty", view)
		}
	}
	if len(seeded["product.ReplicateUsage"]) == 0 {
		t.Fatal("the seed reported no usage")
	}
	events := map[string]int{"subscriptions": len(w.storeEvents("subscriptions")), "cloudapi": len(w.storeEvents("cloudapi"))}

	t.Run("rebuild", func(t *testing.T) {
		vs, _ := definedViews()
		for _, from := range []string{"streams", "journal"} {
			for _, v := range vs {
				for _, c := range v.Collections {
					if _, err := w.viewsOf(viewTables[v.App]).(views.Bulk).Drop(w.ctx, c); err != nil {
						t.Fatal(err)
					}
				}
			}
			for view, docs := range w.allDocs() {
				if len(docs) != 0 {
					t.Fatalf("%s still has %d documents after the drop", view, len(docs))
				}
			}
			out := w.mustCLI("rebuild", "--from", from, "subscriptions", "cloudapi", "product")
			sameDocs(t, "rebuilt from "+from, w.allDocs(), seeded)
			lines := countLine.FindAllStringSubmatch(out, -1)
			if len(lines) != len(vs) {
				t.Fatalf("rebuild --from %s: %d count lines for %d views:\n%s", from, len(lines), len(vs), out)
			}
			for i, l := range lines {
				v := vs[i]
				writer := v.App
				if v.Topic == "cloudapi" {
					writer = "cloudapi"
				} else if v.Topic != "" {
					writer = "subscriptions"
				}
				want := events[writer] // a context's streams are read whole
				if from == "journal" && !v.InStreams && v.Topic != "" {
					want = 0 // the Journal is asked for the types the view folds
					for _, e := range w.storeEvents(writer) {
						if slices.Contains(v.Types, e.Type) {
							want++
						}
					}
				}
				read, _ := strconv.Atoi(l[3])
				written, _ := strconv.Atoi(l[6])
				if l[1]+"."+l[2] != v.App+"."+v.Name || read != want ||
					written != len(w.docs(viewTables[v.App], v.Collections[0])) {
					t.Errorf("rebuild --from %s: %q: want %s.%s, %d events read (%s's), %d documents written", from, l[0],
						v.App, v.Name, want, writer, len(w.docs(viewTables[v.App], v.Collections[0])))
				}
			}
			if !strings.Contains(out, "100%") {
				t.Errorf("rebuild drew no finished progress bar:\n%s", out)
			}
			t.Logf("rebuild --from %s:\n%s", from, out)
		}
	})

	t.Run("replay", func(t *testing.T) {
		// What a context takes: the ids of the stored events of the types its subscriptions want.
		wants := func(subs func(topology.Subscription) bool) map[string]bool {
			ids := map[string]bool{}
			for _, tp := range w.tp.Topics {
				for _, s := range tp.Subscriptions {
					if !subs(s) {
						continue
					}
					for _, e := range w.storeEvents(tp.Publisher) {
						if slices.Contains(s.Types, e.Type) || slices.Equal(s.Types, []string{"*"}) {
							ids[e.ID] = true
						}
					}
				}
			}
			return ids
		}
		check := func(to string, want map[string]bool, out string) {
			t.Helper()
			m := replayedLine.FindStringSubmatch(out)
			if m == nil || m[1] != strconv.Itoa(len(want)) {
				t.Fatalf("replay --to %s: want %d events replayed:\n%s", to, len(want), out)
			}
			got := map[string]bool{}
			for _, tp := range w.tp.Topics {
				for _, s := range tp.Subscriptions {
					msgs := w.peekAll(tp.Name, s.Name)
					if s.App != to && s.Name != to {
						if len(msgs) > 0 {
							t.Errorf("replay --to %s reached %s: %d messages", to, s.Name, len(msgs))
						}
						continue
					}
					for _, m := range msgs {
						e, err := eventstore.UnmarshalEnvelope(m.Body)
						if err != nil || m.ApplicationProperties["meterline_replay_to"] != to || !want[e.ID] {
							t.Errorf("replay --to %s: %s got %s (%v), replay_to %v", to, s.Name, e.ID, err, m.ApplicationProperties["meterline_replay_to"])
						}
						got[e.ID] = true
					}
				}
			}
			if len(got) != len(want) {
				t.Errorf("replay --to %s: %d events arrived, want %d", to, len(got), len(want))
			}
			before := w.allDocs()
			w.drain()
			sameDocs(t, "after replay --to "+to, w.allDocs(), before)
			sameDocs(t, "after replay --to "+to+" (seeded)", w.allDocs(), seeded)
		}

		out := w.mustCLI("replay", "--to", "cloudapi", "--since", since.Format(time.RFC3339), "--dry-run")
		if len(w.waitingEverywhere()) != 0 || !strings.Contains(out, "would replay") {
			t.Fatalf("replay --dry-run sent something: %v\n%s", w.waitingEverywhere(), out)
		}
		start := time.Now()
		out = w.mustCLI("replay", "--to", "cloudapi", "--since", since.Format(time.RFC3339))
		t.Logf("replay --to cloudapi in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
		check("cloudapi", wants(func(s topology.Subscription) bool { return s.App == "cloudapi" }), out)

		// The day's usage reports again into Subscriptions: its receptor dedupes by event id, so
		// no balance moves (the views) and nothing is appended (the store).
		appended := len(w.storeEvents("subscriptions"))
		out = w.mustCLI("replay", "--to", "subscriptions", "--since", since.Format(time.RFC3339))
		toSubscriptions := wants(func(s topology.Subscription) bool { return s.App == "subscriptions" })
		if len(toSubscriptions) == 0 {
			t.Fatal("no usage report to replay into Subscriptions: the world did not meter anything")
		}
		check("subscriptions", toSubscriptions, out)
		if n := len(w.storeEvents("subscriptions")); n != appended {
			t.Errorf("replay --to subscriptions appended %d events", n-appended)
		}

		_, sub := w.subscription("product-replicate-users")
		typ := sub.Types[0]
		out = w.mustCLI("replay", "--to", sub.Name, "--types", typ, "--since", since.Format(time.RFC3339))
		all := wants(func(s topology.Subscription) bool { return s.Name == sub.Name })
		want := map[string]bool{}
		for _, e := range w.storeEvents("subscriptions") {
			if all[e.ID] && e.Type == typ {
				want[e.ID] = true
			}
		}
		check(sub.Name, want, out)
	})

	t.Run("app dead letters", func(t *testing.T) {
		topic, sub := w.subscription("product-replicate-users")
		body := []byte(`{"not":"an event envelope"}`)
		props := map[string]any{"type": sub.Types[0], "meterline_replay_to": sub.Name, "origin": "world-test", "attempt": int64(7)}
		id, corr, subject, ct := "poison-1", "corr-1", "subject-1", "application/json"
		w.send(topic, &azservicebus.Message{Body: body, ApplicationProperties: props, MessageID: &id, CorrelationID: &corr, Subject: &subject, ContentType: &ct})
		w.drain() // the function refuses it: the app's dead-letter queue has its wrapper
		queue := funcapp.DeadLetterQueue("product")

		out := w.mustCLI("deadletters", "list")
		refs := letterLine.FindAllStringSubmatch(out, -1)
		if len(refs) != 1 || refs[0][1] != queue || !strings.Contains(out, "invalid-envelope") || !strings.Contains(out, "1 dead letters in") {
			t.Fatalf("deadletters list: want one letter in %s:\n%s", queue, out)
		}
		ref := refs[0][1] + "/" + refs[0][2]
		out = w.mustCLI("deadletters", "show", ref)
		for _, want := range []string{"invalid-envelope", "product.ReplicateUsers", "message id:     poison-1", "correlation id: corr-1",
			"subject:        subject-1", "origin = world-test", "attempt = 7", `"not": "an event envelope"`} {
			if !strings.Contains(out, want) {
				t.Errorf("deadletters show %s: no %q:\n%s", ref, want, out)
			}
		}
		out = w.mustCLI("deadletters", "resubmit", ref)
		resubmitted := w.peekAll(topic, sub.Name)
		if len(resubmitted) != 1 {
			t.Fatalf("after resubmit %s: %d messages in %s, want 1 (%s)", ref, len(resubmitted), sub.Name, out)
		}
		checkOriginal(t, resubmitted[0], body, props, corr, subject, ct)
		if n := len(w.waitingEverywhere()); n != 1 {
			t.Errorf("resubmit reached other subscriptions: %v", w.waitingEverywhere())
		}
		if out := w.mustCLI("deadletters", "list", queue); !strings.Contains(out, "0 dead letters in 1 queues") {
			t.Errorf("the resubmitted letter is still dead-lettered:\n%s", out)
		}

		w.drain() // refused again
		out = w.mustCLI("deadletters", "list", queue)
		if !strings.Contains(out, "1 dead letters in 1 queues") {
			t.Fatalf("the resubmitted message was not dead-lettered again:\n%s", out)
		}
		if out, code := w.command("deadletters", "purge", queue); code != 2 || !strings.Contains(out, "add --yes") {
			t.Errorf("purge without --yes: exit %d, want 2 and a hint:\n%s", code, out)
		}
		if out := w.mustCLI("deadletters", "list", queue); !strings.Contains(out, "1 dead letters in 1 queues") {
			t.Errorf("purge without --yes deleted:\n%s", out)
		}
		if out := w.mustCLI("deadletters", "purge", queue, "--yes"); !strings.Contains(out, "purged 1 dead letters of "+queue) {
			t.Errorf("purge --yes:\n%s", out)
		}
		if out := w.mustCLI("deadletters", "list"); !strings.Contains(out, "0 dead letters in") {
			t.Errorf("after purge:\n%s", out)
		}
	})

	t.Run("subscription dead letters", func(t *testing.T) {
		topic, sub := w.subscription("cloudapi-replicate-keys")
		// The broker dead-letters what is abandoned MaxDeliveryCount times.
		strand := func(n int) {
			body := []byte(fmt.Sprintf(`{"stranded":%d}`, n))
			props := map[string]any{"type": sub.Types[0], "meterline_replay_to": sub.Name, "n": int64(n)}
			id := fmt.Sprintf("stranded-%d", n)
			w.send(topic, &azservicebus.Message{Body: body, ApplicationProperties: props, MessageID: &id})
			r, err := w.bus.NewReceiverForSubscription(topic, sub.Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(w.ctx)
			for w.waiting(topic, sub.Name) > 0 {
				msgs, err := r.ReceiveMessages(w.ctx, 1, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					if err := r.AbandonMessage(w.ctx, m, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		strand(1)
		strand(2)
		out := w.mustCLI("deadletters", "list", sub.Name)
		refs := letterLine.FindAllStringSubmatch(out, -1)
		if len(refs) != 2 || !strings.Contains(out, "MaxDeliveryCountExceeded") {
			t.Fatalf("deadletters list %s: want the 2 stranded messages:\n%s", sub.Name, out)
		}
		first := refs[0][1] + "/" + refs[0][2]
		out = w.mustCLI("deadletters", "show", first)
		for _, want := range []string{"MaxDeliveryCountExceeded", "cloudapi.ReplicateKeys", "message id:     stranded-1", "n = 1", `"stranded": 1`} {
			if !strings.Contains(out, want) {
				t.Errorf("deadletters show %s: no %q:\n%s", first, want, out)
			}
		}
		w.mustCLI("deadletters", "resubmit", first)
		back := w.peekAll(topic, sub.Name)
		if len(back) != 1 {
			t.Fatalf("after resubmit: %d messages in %s, want 1", len(back), sub.Name)
		}
		checkOriginal(t, back[0], []byte(`{"stranded":1}`), map[string]any{"type": sub.Types[0], "meterline_replay_to": sub.Name, "n": int64(1)}, "", "", "")
		if out := w.mustCLI("deadletters", "list", sub.Name); !strings.Contains(out, "1 dead letters in 1 queues") || strings.Contains(out, first+" ") {
			t.Errorf("after resubmit %s:\n%s", first, out)
		}
		// Take the resubmitted message off (it is no event: the function would refuse it).
		r, err := w.bus.NewReceiverForSubscription(topic, sub.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := r.ReceiveMessages(w.ctx, 1, nil)
		if err != nil || len(msgs) != 1 || r.CompleteMessage(w.ctx, msgs[0], nil) != nil {
			t.Fatalf("taking the resubmitted message: %v", err)
		}
		r.Close(w.ctx)
		second := refs[1][1] + "/" + refs[1][2]
		if out := w.mustCLI("deadletters", "purge", second, "--yes"); !strings.Contains(out, "purged 1 dead letters of "+sub.Name) {
			t.Errorf("purge %s:\n%s", second, out)
		}
		if out := w.mustCLI("deadletters", "list"); !strings.Contains(out, "0 dead letters in") {
			t.Errorf("after purge:\n%s", out)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		before := w.allDocs()
		// Bad input is refused before anything connects: with no settings at all, the same answer.
		empty := filepath.Join(t.TempDir(), "empty.settings.json")
		if err := os.WriteFile(empty, []byte(`{"Values":{}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			args      []string
			want      string
			connected bool // only known once connected
		}{
			{[]string{"rebuild", "nowhere.Nothing"}, `no view "nowhere.Nothing"`, false},
			{[]string{"rebuild"}, "name a VIEW", false},
			{[]string{"rebuild", "--from", "tape", "product"}, `--from "tape"`, false},
			{[]string{"replay", "--to", "nowhere", "--since", since.Format(time.RFC3339)}, `--to "nowhere" is no context`, false},
			{[]string{"replay", "--to", "cloudapi"}, "--since is required", false},
			{[]string{"replay", "--since", since.Format(time.RFC3339)}, "--to is required", false},
			{[]string{"replay", "--to", "cloudapi", "--since", "yesterday"}, "not an RFC 3339 time", false},
			{[]string{"replay", "--to", "cloudapi", "--types", "NoSuchEvent", "--since", since.Format(time.RFC3339)}, `takes no "NoSuchEvent"`, false},
			{[]string{"deadletters", "show", "nowhere/1"}, `no queue "nowhere"`, false},
			{[]string{"deadletters", "resubmit", funcapp.DeadLetterQueue("product")}, "want QUEUE/SEQ", false},
			{[]string{"deadletters", "show", funcapp.DeadLetterQueue("product")}, "want QUEUE/SEQ", false},
			{[]string{"deadletters", "show", funcapp.DeadLetterQueue("product") + "/999"}, "no message", true},
			{[]string{"deadletters", "frobnicate"}, `unknown command "frobnicate"`, false},
			{[]string{"frobnicate"}, `unknown command "frobnicate"`, false},
		} {
			settings := []string{w.settings}
			if !c.connected {
				settings = append(settings, empty)
			}
			for _, file := range settings {
				out, code := w.commandWith(file, c.args...)
				if code != 2 || !strings.Contains(out, c.want) {
					t.Errorf("meterline %s --settings %s: exit %d, want 2 and %q:\n%s", strings.Join(c.args, " "), filepath.Base(file), code, c.want, out)
				}
			}
		}
		if waiting := w.waitingEverywhere(); len(waiting) != 0 {
			t.Errorf("bad input sent messages: %v", waiting)
		}
		sameDocs(t, "after bad input", w.allDocs(), before)
	})
}

// checkOriginal fails unless m is the original message: its body, properties and headers.
func checkOriginal(t *testing.T, m *azservicebus.ReceivedMessage, body []byte, props map[string]any, corr, subject, ct string) {
	t.Helper()
	if !bytes.Equal(m.Body, body) {
		t.Errorf("resubmitted body %s, want the original %s", m.Body, body)
	}
	if len(m.ApplicationProperties) != len(props) {
		t.Errorf("resubmitted properties %v, want the original %v", m.ApplicationProperties, props)
	}
	for k, v := range props {
		if m.ApplicationProperties[k] != v {
			t.Errorf("resubmitted property %s = %v (%T), want %v (%T)", k, m.ApplicationProperties[k], m.ApplicationProperties[k], v, v)
		}
	}
	if deref(m.CorrelationID) != corr || deref(m.Subject) != subject || deref(m.ContentType) != ct {
		t.Errorf("resubmitted correlation id %q, subject %q, content type %q; want %q, %q, %q",
			deref(m.CorrelationID), deref(m.Subject), deref(m.ContentType), corr, subject, ct)
	}
}

// TestRebuildFigure measures a rebuild from the streams: METERLINE_FIGURE=N makes N customers
// with a user each (3N events), then times `rebuild subscriptions cloudapi product`.
//
//	METERLINE_FIGURE=500 go test -run TestRebuildFigure -v ./functions/cmd/meterline/
func TestRebuildFigure(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("METERLINE_FIGURE"))
	if n <= 0 {
		t.Skip("METERLINE_FIGURE=N to measure")
	}
	w := newWorld(t)
	for i := range n {
		c := w.post("/api/subscriptions/customers", fmt.Sprintf(`{"name":"Figure %d","plan":"payg"}`, i))
		customer, _ := c["customerId"].(string)
		w.post("/api/subscriptions/customers/"+customer+"/users", fmt.Sprintf(`{"email":"f%d@example.test"}`, i))
	}
	start := time.Now()
	out := w.mustCLI("rebuild", "subscriptions", "cloudapi", "product")
	t.Logf("%d events in the subscriptions store; rebuild of 9 views took %s:\n%s", len(w.storeEvents("subscriptions")),
		time.Since(start).Round(time.Millisecond), out)
}

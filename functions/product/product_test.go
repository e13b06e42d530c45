package product_test

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
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	cloud "meterline/functions/cloudapi/contracts"
	"meterline/functions/product"
	"meterline/functions/product/acl"
	"meterline/functions/product/app"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/infra/servicebus-emulator/filter"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	viewmem "meterline/shared/views/memstore"

	"meterline/shared/openapi/openapitest"
)

func memoryViews() app.Views { return product.ViewsOn(viewmem.New()) }

// portalWorld is the Product app served over real loopback HTTP through funcapp's Handler,
// on in-memory views; events reach it as the Functions host delivers Service Bus messages.
type portalWorld struct {
	t   testing.TB
	srv *httptest.Server
	seq map[string]int64

	mu  sync.Mutex
	now time.Time
}

func newPortalWorld(t testing.TB, views app.Views) *portalWorld {
	// The clock starts at the real time: the cookie jar judges the session cookie's Expires by
	// the real clock, so a fixed date would expire it on some days and not on others.
	w := &portalWorld{t: t, seq: map[string]int64{}, now: time.Now().UTC().Truncate(time.Second)}
	a := product.New(product.Deps{Views: views, Now: w.clock})
	a.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	w.srv = httptest.NewServer(openapitest.Check(t, a, product.Name, a.Handler()))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *portalWorld) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *portalWorld) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

// event builds the envelope of the next event of stream.
func (w *portalWorld) event(stream, typ string, payload any) []byte {
	w.t.Helper()
	w.seq[stream]++
	data, _ := json.Marshal(payload)
	source := "subscriptions"
	if strings.HasPrefix(typ, "cloudapi.") {
		source = "cloudapi"
	}
	env, err := eventstore.MarshalEnvelope(eventstore.Event{ID: fmt.Sprintf("%s-%d", stream, w.seq[stream]), Type: typ, SchemaVersion: 1,
		Stream: stream, Version: w.seq[stream], Source: source, CreatedAt: w.clock(), Data: data})
	if err != nil {
		w.t.Fatal(err)
	}
	return env
}

// deliver sends one message body to a Service Bus function as the host does and returns its
// Outputs.
func (w *portalWorld) deliver(function string, body []byte) map[string]any {
	w.t.Helper()
	inv, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"message": base64.StdEncoding.EncodeToString(body)},
		"Metadata": map[string]any{"MessageId": `"m1"`, "DeliveryCount": "1"},
	})
	resp, err := http.Post(w.srv.URL+"/"+function, "application/json", bytes.NewReader(inv))
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		w.t.Fatalf("%s answered %d: %v", function, resp.StatusCode, out)
	}
	outputs, _ := out["Outputs"].(map[string]any)
	return outputs
}

// replicator is the function that replicates events of typ.
func replicator(typ string) string {
	switch {
	case strings.HasPrefix(typ, "cloudapi."):
		return "ReplicateUsage"
	case slices.Contains(acl.UserTypes, typ):
		return "ReplicateUsers"
	}
	return "ReplicateAccounts"
}

func (w *portalWorld) publish(stream, typ string, payload any) []byte {
	w.t.Helper()
	body := w.event(stream, typ, payload)
	fn := replicator(typ)
	if outputs := w.deliver(fn, body); len(outputs) != 0 {
		w.t.Fatalf("%s: unexpected outputs %v", typ, outputs)
	}
	return body
}

var hashCache sync.Map

// hash is a bcrypt hash of password (cheapest cost: these tests are about the flow).
func hash(t testing.TB, password string) string {
	if h, ok := hashCache.Load(password); ok {
		return h.(string)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashCache.Store(password, string(h))
	return string(h)
}

// seedCustomer replicates a customer with one user who has a password.
func (w *portalWorld) seedCustomer(customerID, userID, email, password string) {
	w.publish(subs.CustomerStream(customerID), subs.TypeCustomerCreated, subs.CustomerCreated{CustomerID: customerID, Name: "Acme " + customerID, Plan: "starter", Currency: "EUR", CreditLimit: 5000})
	w.publish(subs.UserStream(userID), subs.TypeUserCreated, subs.UserCreated{UserID: userID, CustomerID: customerID, Email: email})
	w.publish(subs.UserStream(userID), subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: userID, CustomerID: customerID, PasswordHash: hash(w.t, password)})
}

// browser is an HTTP client with a cookie jar.
type browser struct {
	t      testing.TB
	base   string
	client *http.Client
}

func (w *portalWorld) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: w.t, base: w.srv.URL, client: &http.Client{Jar: jar}}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (b *browser) do(method, path, body string, header ...string) reply {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (b *browser) signIn(email, password string) reply {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return b.do("POST", "/api/product/signin", string(body))
}

func TestSignInRightPasswordOpensASession(t *testing.T) {
	checkSignInOpensASession(t, memoryViews())
}

func checkSignInOpensASession(t *testing.T, views app.Views) {
	w := newPortalWorld(t, views)
	w.seedCustomer("c1", "u1", "ann@example.com", "correct horse")
	b := w.browser()
	if r := b.do("GET", "/api/product/me", ""); r.status != 401 || r.body["error"] != "not_signed_in" {
		t.Fatalf("me before sign-in: %d %s", r.status, r.raw)
	}
	r := b.signIn("  Ann@Example.com ", "correct horse")
	if r.status != 200 || r.body["customerId"] != "c1" || r.body["email"] != "ann@example.com" {
		t.Fatalf("sign-in: %d %s", r.status, r.raw)
	}
	cookie := r.header.Get("Set-Cookie")
	for _, want := range []string{product.SessionCookie + "=", "HttpOnly", "SameSite=Strict", "Path=/api/product"} {
		if !strings.Contains(cookie, want) {
			t.Fatalf("cookie %q lacks %q", cookie, want)
		}
	}
	me := b.do("GET", "/api/product/me", "")
	if me.status != 200 || me.body["email"] != "ann@example.com" || me.body["customerId"] != "c1" || me.body["status"] != "active" || me.body["name"] != "Acme c1" {
		t.Fatalf("me: %d %s", me.status, me.raw)
	}
	if r := b.do("POST", "/api/product/signout", ""); r.status != 204 {
		t.Fatalf("sign-out: %d %s", r.status, r.raw)
	}
	if r := b.do("GET", "/api/product/me", ""); r.status != 401 {
		t.Fatalf("me after sign-out: %d %s", r.status, r.raw)
	}
}

func TestSignInRefusesWrongPasswordUnknownEmailAndLockedUser(t *testing.T) {
	checkSignInRefusals(t, memoryViews())
}

func checkSignInRefusals(t *testing.T, views app.Views) {
	w := newPortalWorld(t, views)
	w.seedCustomer("c1", "u1", "ann@example.com", "correct horse")
	b := w.browser()
	cases := []struct {
		name, email, password string
		status                int
		code                  string
	}{
		{"wrong password", "ann@example.com", "wrong horse", 401, "invalid_credentials"},
		{"unknown email", "bob@example.com", "correct horse", 401, "invalid_credentials"},
		{"no password", "ann@example.com", "", 400, "invalid_password"},
		{"no email", "", "x", 400, "invalid_email"},
	}
	for _, c := range cases {
		r := b.signIn(c.email, c.password)
		if r.status != c.status || r.body["error"] != c.code || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("%s: %d %s (cookie %q)", c.name, r.status, r.raw, r.header.Get("Set-Cookie"))
		}
	}
	if r := b.do("POST", "/api/product/signin", `{"email": 42`); r.status != 400 || r.body["error"] != "invalid_body" {
		t.Fatalf("bad JSON: %d %s", r.status, r.raw)
	}

	w.publish(subs.UserStream("u1"), subs.TypeUserLocked, subs.UserLocked{UserID: "u1", CustomerID: "c1"})
	if r := b.signIn("ann@example.com", "correct horse"); r.status != 403 || r.body["error"] != "user_locked" {
		t.Fatalf("locked user: %d %s", r.status, r.raw)
	}
	if r := b.signIn("ann@example.com", "wrong horse"); r.status != 401 {
		t.Fatalf("locked user, wrong password must not reveal the lock: %d %s", r.status, r.raw)
	}
	w.publish(subs.UserStream("u1"), subs.TypeUserUnlocked, subs.UserUnlocked{UserID: "u1", CustomerID: "c1"})
	if r := b.signIn("ann@example.com", "correct horse"); r.status != 200 {
		t.Fatalf("unlocked user: %d %s", r.status, r.raw)
	}
}

func TestLockingAUserEndsTheirSessions(t *testing.T) {
	w := newPortalWorld(t, memoryViews())
	w.seedCustomer("c1", "u1", "ann@example.com", "pw1")
	b := w.browser()
	if r := b.signIn("ann@example.com", "pw1"); r.status != 200 {
		t.Fatalf("sign-in: %d %s", r.status, r.raw)
	}
	w.publish(subs.UserStream("u1"), subs.TypeUserLocked, subs.UserLocked{UserID: "u1", CustomerID: "c1"})
	if r := b.do("GET", "/api/product/me", ""); r.status != 401 {
		t.Fatalf("me of a locked user: %d %s", r.status, r.raw)
	}
	w.publish(subs.UserStream("u1"), subs.TypeUserUnlocked, subs.UserUnlocked{UserID: "u1", CustomerID: "c1"})
	if r := b.do("GET", "/api/product/me", ""); r.status != 401 {
		t.Fatalf("a session ended by a lock must stay ended: %d %s", r.status, r.raw)
	}
}

func TestSessionsExpire(t *testing.T) {
	w := newPortalWorld(t, memoryViews())
	w.seedCustomer("c1", "u1", "ann@example.com", "pw1")
	b := w.browser()
	b.signIn("ann@example.com", "pw1")
	w.advance(app.DefaultSessionTTL - time.Minute)
	if r := b.do("GET", "/api/product/me", ""); r.status != 200 {
		t.Fatalf("before expiry: %d", r.status)
	}
	w.advance(2 * time.Minute)
	if r := b.do("GET", "/api/product/me", ""); r.status != 401 {
		t.Fatalf("after expiry: %d %s", r.status, r.raw)
	}
}

func TestNewPasswordReplacesTheOldOneWhateverTheOrder(t *testing.T) {
	w := newPortalWorld(t, memoryViews())
	w.seedCustomer("c1", "u1", "ann@example.com", "old")
	newer := w.event(subs.UserStream("u1"), subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: hash(t, "new")})
	w.deliver("ReplicateUsers", newer)
	// A redelivery of the older password event (version 2) arrives after the newer one.
	w.seq["user-u1"] = 1
	older := w.event(subs.UserStream("u1"), subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: hash(t, "old")})
	w.deliver("ReplicateUsers", older)
	b := w.browser()
	if r := b.signIn("ann@example.com", "old"); r.status != 401 {
		t.Fatalf("old password after a newer one: %d", r.status)
	}
	if r := b.signIn("ann@example.com", "new"); r.status != 200 {
		t.Fatalf("new password: %d %s", r.status, r.raw)
	}
}

func TestFailedSignInsAreThrottledPerEmail(t *testing.T) {
	checkThrottle(t, memoryViews())
}

func checkThrottle(t *testing.T, views app.Views) {
	w := newPortalWorld(t, views)
	w.seedCustomer("c1", "u1", "ann@example.com", "pw1")
	w.seedCustomer("c2", "u2", "bob@example.com", "pw2")
	b := w.browser()
	for i := 0; i < app.DefaultMaxFailures; i++ {
		if r := b.signIn("ann@example.com", "guess"); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r := b.signIn("ann@example.com", "pw1")
	if r.status != 429 || r.body["error"] != "too_many_attempts" || r.header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures even the right password waits: %d %s %v", app.DefaultMaxFailures, r.status, r.raw, r.header)
	}
	if r := b.signIn("bob@example.com", "pw2"); r.status != 200 {
		t.Fatalf("another email is not throttled: %d", r.status)
	}
	w.advance(app.DefaultFailureWindow)
	if r := b.signIn("ann@example.com", "pw1"); r.status != 200 {
		t.Fatalf("after the window: %d %s", r.status, r.raw)
	}
	// A success resets the count.
	for i := 0; i < app.DefaultMaxFailures-1; i++ {
		b.signIn("ann@example.com", "guess")
	}
	if r := b.signIn("ann@example.com", "pw1"); r.status != 200 {
		t.Fatalf("below the limit: %d", r.status)
	}
	if r := b.signIn("ann@example.com", "guess"); r.status != 401 {
		t.Fatalf("count restarted after success: %d", r.status)
	}
}

// The account and usage the portal shows come from replicated events, applied once each even
// when redelivered, duplicated and out of order.
func TestMeShowsReplicatedAccountAndUsageDespiteRedeliveryAndReordering(t *testing.T) {
	checkReplicatedAccount(t, memoryViews())
}

func checkReplicatedAccount(t *testing.T, views app.Views) {
	w := newPortalWorld(t, views)
	w.seedCustomer("c1", "u1", "ann@example.com", "pw1")
	cs := subs.CustomerStream("c1")
	from := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	issued := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	bodies := [][]byte{
		w.event(cs, subs.TypeConsumptionAdded, subs.ConsumptionAdded{CustomerID: "c1", ReportID: "r1", Units: 30, Amount: 1500, Currency: "EUR", Month: "2026-11"}),
		w.event(cs, subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c1", Balance: -1500, Currency: "EUR"}),
		w.event(cs, subs.TypeInvoiceIssued, subs.InvoiceIssued{CustomerID: "c1", InvoiceID: "inv-10", Period: "2026-10", Amount: 2500, Currency: "EUR", IssuedAt: issued, DueAt: issued.AddDate(0, 0, 14)}),
		w.event(cs, subs.TypeInvoiceExpired, subs.InvoiceExpired{CustomerID: "c1", InvoiceID: "inv-10"}),
		w.event(cs, subs.TypeConsumptionAdded, subs.ConsumptionAdded{CustomerID: "c1", ReportID: "r2", Units: 20, Amount: 1000, Currency: "EUR", Month: "2026-11"}),
		w.event(cs, subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c1", Balance: -2500, Currency: "EUR"}),
		w.event(cs, subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -2500, CreditLimit: 2000, Currency: "EUR"}),
		w.event("usage-c1", cloud.UsageReportedType, cloud.UsageReported{ReportID: "r1", CustomerID: "c1", Units: 30, Requests: 5, PeriodFrom: from, PeriodTo: from.Add(time.Minute)}),
		w.event("usage-c1", cloud.UsageReportedType, cloud.UsageReported{ReportID: "r2", CustomerID: "c1", Units: 20, Requests: 4, PeriodFrom: from.Add(24 * time.Hour), PeriodTo: from.Add(24*time.Hour + time.Minute)}),
		w.event("usage-c1", cloud.UsageReportedType, cloud.UsageReported{ReportID: "r3", CustomerID: "c1", Units: 7, Requests: 1, PeriodFrom: from.Add(24 * time.Hour), PeriodTo: from.Add(25 * time.Hour)}),
	}
	// Newest first, then everything again: each delivered twice, most out of order.
	order := []int{9, 6, 5, 3, 8, 0, 2, 7, 4, 1, 1, 0, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, i := range order {
		fn := "ReplicateAccounts"
		if i >= 7 {
			fn = "ReplicateUsage"
		}
		if out := w.deliver(fn, bodies[i]); len(out) != 0 {
			t.Fatalf("delivery %d: outputs %v", i, out)
		}
	}
	b := w.browser()
	b.signIn("ann@example.com", "pw1")
	r := b.do("GET", "/api/product/me", "")
	if r.status != 200 {
		t.Fatalf("me: %d %s", r.status, r.raw)
	}
	var me app.Me
	if err := json.Unmarshal(r.raw, &me); err != nil {
		t.Fatal(err)
	}
	if me.Balance != -2500 || me.Currency != "EUR" || me.Status != "locked" {
		t.Fatalf("balance %d %s status %s", me.Balance, me.Currency, me.Status)
	}
	if len(me.Invoices) != 1 || me.Invoices[0].InvoiceID != "inv-10" || me.Invoices[0].Status != "overdue" || me.Invoices[0].Amount != 2500 {
		t.Fatalf("invoices %+v", me.Invoices)
	}
	if me.Usage.Reported != 57 || me.Usage.Requests != 10 || me.Usage.Reports != 3 || me.Usage.Billed != 50 {
		t.Fatalf("usage %+v", me.Usage)
	}
	if len(me.Usage.Daily) != 2 || me.Usage.Daily[0].Units != 30 || me.Usage.Daily[1].Units != 27 {
		t.Fatalf("daily %+v", me.Usage.Daily)
	}
	if len(me.Billed) != 1 || me.Billed[0].Month != "2026-11" || me.Billed[0].Consumption != 2500 {
		t.Fatalf("billed %+v", me.Billed)
	}
}

func TestReplicatorsPoisonMalformedAndCompleteUnhandled(t *testing.T) {
	w := newPortalWorld(t, memoryViews())
	reason := func(out map[string]any) string {
		var dl struct{ Reason string }
		text, _ := out["deadLetter"].(string)
		json.Unmarshal([]byte(text), &dl)
		return dl.Reason
	}
	for _, fn := range []string{"ReplicateUsers", "ReplicateAccounts", "ReplicateUsage"} {
		if out := w.deliver(fn, []byte(`{"not":"an envelope"}`)); reason(out) != "invalid-envelope" {
			t.Fatalf("%s, malformed envelope: outputs %v, want a dead letter with the reason", fn, out)
		}
	}
	out := w.deliver("ReplicateUsers", w.event("user-u9", subs.TypeUserCreated, subs.UserCreated{UserID: strings.Repeat("u", 300), CustomerID: "c", Email: "x@y.z"}))
	if reason(out) != "malformed-event" {
		t.Fatalf("over-long id: outputs %v, want a dead letter", out)
	}
	out = w.deliver("ReplicateUsers", w.event("user-u9", subs.TypeUserCreated, subs.UserCreated{UserID: "u9", CustomerID: "c"}))
	if reason(out) != "malformed-event" {
		t.Fatalf("no email: outputs %v, want a dead letter", out)
	}
	for _, fn := range []string{"ReplicateUsers", "ReplicateAccounts"} {
		out = w.deliver(fn, w.event("user-u9", subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u9", CustomerID: "c", KeyID: "k", KeyHash: "h"}))
		if len(out) != 0 {
			t.Fatalf("%s, unhandled type: outputs %v, want none (completed)", fn, out)
		}
	}
}

func TestPortalServesThePageAndAssets(t *testing.T) {
	w := newPortalWorld(t, memoryViews())
	b := w.browser()
	for path, ct := range map[string]string{"/api/product/": "text/html", "/api/product/index.html": "text/html",
		"/api/product/app.js": "javascript", "/api/product/style.css": "text/css"} {
		r := b.do("GET", path, "")
		if r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), ct) || len(r.raw) == 0 {
			t.Fatalf("%s: %d %q", path, r.status, r.header.Get("Content-Type"))
		}
		if r.header.Get("Content-Security-Policy") == "" {
			t.Fatalf("%s: no CSP", path)
		}
	}
	if r := b.do("GET", "/api/product/nope.txt", ""); r.status != 404 {
		t.Fatalf("unknown asset: %d", r.status)
	}
}

func TestFunctions(t *testing.T) {
	a := product.New(product.Deps{Views: memoryViews()})
	got := map[string]string{}
	for _, f := range a.Functions() {
		got[f.Name] = f.Kind
		switch {
		case f.HTTP != nil && f.HTTP.AuthLevel != "anonymous":
			t.Errorf("%s: auth level %q; the portal authenticates its users itself", f.Name, f.HTTP.AuthLevel)
		case f.Timer != nil && f.Timer.Schedule != "%"+product.SessionSweepScheduleSetting+"%":
			t.Errorf("%s: schedule %q", f.Name, f.Timer.Schedule)
		}
	}
	want := map[string]string{"SignIn": "httpTrigger", "SignOut": "httpTrigger", "Me": "httpTrigger", "Portal": "httpTrigger",
		"ProductOpenAPI": "httpTrigger", "ReplicateUsers": "serviceBusTrigger", "ReplicateAccounts": "serviceBusTrigger", "ReplicateUsage": "serviceBusTrigger",
		"SweepSessions": "timerTrigger"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("functions %v, want %v", got, want)
	}
}

// Each Service Bus function has its own subscription, named after it, whose filter (checked
// with the emulator's own rule evaluator) lets through exactly the types its projection handles.
func TestServiceBusFunctions(t *testing.T) {
	want := map[string]struct {
		topic, subscription string
		types               []string
	}{
		"ReplicateUsers": {"subscriptions", "product-replicate-users",
			[]string{subs.TypeUserCreated, subs.TypeUserPasswordSet, subs.TypeUserLocked, subs.TypeUserUnlocked}},
		"ReplicateAccounts": {"subscriptions", "product-replicate-accounts", []string{
			subs.TypeCustomerCreated, subs.TypeCustomerLocked, subs.TypeCustomerUnlocked,
			subs.TypeConsumptionAdded, subs.TypeChargeAdded, subs.TypePaymentReceived,
			subs.TypeBalanceChanged, subs.TypeInvoiceIssued, subs.TypeInvoicePaid, subs.TypeInvoiceExpired}},
		"ReplicateUsage": {"cloudapi", "product-replicate-usage", []string{cloud.UsageReportedType}},
	}
	everyType := append(append(subs.Types(), cloud.UsageReportedType), "someone.Else")
	seen := 0
	for _, f := range product.New(product.Deps{Views: memoryViews()}).Functions() {
		if f.ServiceBus == nil {
			continue
		}
		seen++
		w, ok := want[f.Name]
		sb := f.ServiceBus
		if !ok || sb.Topic != w.topic || sb.Subscription != w.subscription || sb.Subscription != blocks.SubscriptionName(product.Name, f.Name) {
			t.Fatalf("%s: topic %q subscription %q; want %+v", f.Name, sb.Topic, sb.Subscription, w)
		}
		if sb.Filter != blocks.Filter(w.types) {
			t.Fatalf("%s: filter %q, want %q", f.Name, sb.Filter, blocks.Filter(w.types))
		}
		rule, err := filter.ParseSQL(sb.Filter)
		if err != nil {
			t.Fatalf("%s: %q: %v", f.Name, sb.Filter, err)
		}
		for _, typ := range everyType {
			match, err := rule.Match(&filter.MapMessage{UserProps: map[string]any{"type": typ}})
			if err != nil {
				t.Fatal(err)
			}
			if match != slices.Contains(w.types, typ) {
				t.Fatalf("%s: type %s passes the filter: %v, handled: %v", f.Name, typ, match, !match)
			}
		}
	}
	if seen != len(want) {
		t.Fatalf("%d Service Bus functions, want %d", seen, len(want))
	}
}

func TestConcurrentRedeliveriesCountOnce(t *testing.T) { checkConcurrentDeliveries(t, memoryViews()) }

// checkConcurrentDeliveries delivers a customer's events twice each, from several goroutines at
// once (as several instances of the app would): the optimistic concurrency of the views and the
// applied-version sets must still count each event once.
func checkConcurrentDeliveries(t *testing.T, views app.Views) {
	w := newPortalWorld(t, views)
	w.seedCustomer("c1", "u1", "ann@example.com", "pw1")
	const reports = 20
	var bodies [][]byte
	for i := 1; i <= reports; i++ {
		bodies = append(bodies,
			w.event(subs.CustomerStream("c1"), subs.TypeConsumptionAdded, subs.ConsumptionAdded{CustomerID: "c1", ReportID: fmt.Sprint("r", i), Units: int64(i), Amount: int64(10 * i), Currency: "EUR", Month: "2026-11"}),
			w.event(subs.CustomerStream("c1"), subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c1", Balance: int64(-5 * i * (i + 1)), Currency: "EUR"}),
		)
	}
	var wg sync.WaitGroup
	work := make(chan []byte)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				w.deliver("ReplicateAccounts", body)
			}
		}()
	}
	for round := 0; round < 2; round++ {
		for i := range bodies {
			work <- bodies[(i*7+round*3)%len(bodies)]
		}
	}
	close(work)
	wg.Wait()

	b := w.browser()
	b.signIn("ann@example.com", "pw1")
	var me app.Me
	if r := b.do("GET", "/api/product/me", ""); r.status != 200 || json.Unmarshal(r.raw, &me) != nil {
		t.Fatalf("me: %d %s", r.status, r.raw)
	}
	wantUnits := int64(reports * (reports + 1) / 2)
	if me.Usage.Billed != wantUnits || len(me.Billed) != 1 || me.Billed[0].Consumption != 10*wantUnits || me.Balance != -5*reports*(reports+1) {
		t.Fatalf("billed units %d (want %d), billed %+v, balance %d", me.Usage.Billed, wantUnits, me.Billed, me.Balance)
	}
}

// The session token lives only in the cookie: the stored session is keyed by its SHA-256 and
// holds no copy of it.
func TestSessionTokenIsStoredOnlyAsAHash(t *testing.T) {
	backend := viewmem.New()
	w := newPortalWorld(t, product.ViewsOn(backend))
	w.seedCustomer("c1", "u1", "ann@example.com", "pw1")
	r := w.browser().signIn("ann@example.com", "pw1")
	var token string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == product.SessionCookie {
			token = c.Value
		}
	}
	if len(token) < 40 {
		t.Fatalf("session token %q: want 256 random bits", token)
	}
	docs, err := backend.List(context.Background(), "sessions")
	if err != nil || len(docs) != 1 {
		t.Fatalf("sessions %v %v", docs, err)
	}
	sum := sha256.Sum256([]byte(token))
	if docs[0].Key != hex.EncodeToString(sum[:]) || strings.Contains(string(docs[0].Data), token) || strings.Contains(docs[0].Key, token) {
		t.Fatalf("stored session %s = %s must be keyed by the token's hash and not hold the token", docs[0].Key, docs[0].Data)
	}
}

// CSRF (issue 9): another site's page cannot make a signed-in browser change anything; the
// portal's own pages can, and so can a client that is not a browser (it has no victim's cookie).
func TestStateChangingRequestsFromOtherSitesAreRefused(t *testing.T) {
	w := newPortalWorld(t, memoryViews())
	w.seedCustomer("c1", "u1", "ann@example.com", "correct horse")
	b := w.browser()
	body := `{"email":"ann@example.com","password":"correct horse"}`
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
		{"Sec-Fetch-Site", "same-site", "Origin", "https://sub.example"},
	} {
		if r := b.do("POST", "/api/product/signin", body, h...); r.status != 403 || r.body["error"] != "cross_origin" {
			t.Errorf("sign-in with %v: %d %s, want 403 cross_origin", h, r.status, r.raw)
		}
	}
	if r := b.do("GET", "/api/product/me", ""); r.status != 401 {
		t.Fatalf("a refused sign-in opened a session: %d", r.status)
	}
	if r := b.do("POST", "/api/product/signin", body, "Sec-Fetch-Site", "same-origin"); r.status != 200 {
		t.Fatalf("sign-in from the portal's own page: %d %s", r.status, r.raw)
	}
	if r := b.do("POST", "/api/product/signout", "", "Sec-Fetch-Site", "cross-site"); r.status != 403 {
		t.Fatalf("a cross-site sign-out: %d, want 403", r.status)
	}
	if r := b.do("GET", "/api/product/me", "", "Sec-Fetch-Site", "cross-site"); r.status != 200 {
		t.Fatalf("reads are not state-changing: me from a cross-site request answered %d", r.status)
	}
	if r := b.do("POST", "/api/product/signout", ""); r.status >= 300 {
		t.Fatalf("a sign-out from a client that is not a browser: %d", r.status)
	}
}

package subscriptions_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"meterline/shared/openapi/openapitest"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	cloudapi "meterline/functions/cloudapi/contracts"
	"meterline/functions/subscriptions"
	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/funcapp"
	"meterline/shared/views"
	viewsmem "meterline/shared/views/memstore"
)

var quiet = slog.New(slog.DiscardHandler)

// published records what the app publishes.
type published struct {
	mu     sync.Mutex
	events []eventstore.Event
}

func (p *published) Publish(_ context.Context, events ...eventstore.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, events...)
	return nil
}

func (p *published) count(typ string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

type harness struct {
	t     *testing.T
	h     http.Handler
	app   *app.Subscriptions
	store app.EventStore
	pub   *published
	now   time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	store := memstore.New()
	return newHarnessOn(t, store, viewsmem.New())
}

func newHarnessOn(t *testing.T, store app.EventStore, backend views.Backend) *harness {
	t.Helper()
	hs := &harness{t: t, store: store, pub: &published{}, now: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
	fa, s := subscriptions.NewWithApplication(subscriptions.Deps{
		Store: store, Publisher: hs.pub, Views: backend,
		Now: func() time.Time { return hs.now }, PasswordCost: bcrypt.MinCost,
		Setting: func(string) string { return "" }, Logger: quiet,
	})
	// Every answer the tests provoke is held to the published description.
	hs.h, hs.app = openapitest.Check(t, fa, "subscriptions", fa.Handler()), s
	return hs
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

func (hs *harness) do(method, path, body string, header ...string) response {
	hs.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	res := response{status: w.Code, raw: w.Body.String()}
	if ct := w.Header().Get("Content-Type"); strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "application/problem+json") {
		if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
			hs.t.Fatalf("%s %s: response is not a JSON object: %s", method, path, res.raw)
		}
	}
	return res
}

func (hs *harness) expect(res response, status int, errCode string) {
	hs.t.Helper()
	if res.status != status {
		hs.t.Fatalf("status %d, want %d: %s", res.status, status, res.raw)
	}
	if errCode != "" && (res.body["error"] != errCode || res.body["message"] == "") {
		hs.t.Fatalf("error %v, want %s with a message: %s", res.body["error"], errCode, res.raw)
	}
}

func (hs *harness) createCustomer(body string) string {
	hs.t.Helper()
	res := hs.do("POST", "/api/subscriptions/customers", body)
	hs.expect(res, 201, "")
	id, _ := res.body["customerId"].(string)
	if id == "" {
		hs.t.Fatalf("no customerId: %s", res.raw)
	}
	return id
}

// snapshot is every event of the given streams, to prove a rejected request stored nothing.
func (hs *harness) snapshot(streams ...string) []eventstore.Event {
	hs.t.Helper()
	var all []eventstore.Event
	for _, s := range streams {
		events, err := hs.store.Read(context.Background(), s, 1)
		if err != nil {
			hs.t.Fatal(err)
		}
		all = append(all, events...)
	}
	return all
}

func TestPlansAreListed(t *testing.T) {
	hs := newHarness(t)
	res := hs.do("GET", "/api/subscriptions/plans", "")
	hs.expect(res, 200, "")
	plans, _ := res.body["plans"].([]any)
	if len(plans) != len(domain.Catalogue) {
		t.Fatalf("plans: %s", res.raw)
	}
	first := plans[0].(map[string]any)
	for _, k := range []string{"name", "currency", "pricePerUnit", "includedUnits", "creditLimit"} {
		if _, ok := first[k]; !ok {
			t.Errorf("plan without %s: %v", k, first)
		}
	}
}

func TestCreateAndGetACustomer(t *testing.T) {
	hs := newHarness(t)
	id := hs.createCustomer(`{"name":"Acme","plan":"starter","unknownField":true}`)
	res := hs.do("GET", "/api/subscriptions/customers/"+id, "")
	hs.expect(res, 200, "")
	want := map[string]any{"customerId": id, "name": "Acme", "plan": "starter", "balance": 0.0, "currency": "EUR", "creditLimit": 5000.0, "status": "active"}
	for k, v := range want {
		if res.body[k] != v {
			t.Errorf("%s = %v, want %v", k, res.body[k], v)
		}
	}
	if _, ok := res.body["consumption"].(map[string]any); !ok {
		t.Errorf("consumption missing: %s", res.raw)
	}
	if inv, ok := res.body["invoices"].([]any); !ok || len(inv) != 0 {
		t.Errorf("invoices: %s", res.raw)
	}
	id2 := hs.createCustomer(`{"name":"Beta","plan":"payg","creditLimit":0}`)
	if res := hs.do("GET", "/api/subscriptions/customers/"+id2, ""); res.body["creditLimit"] != 0.0 {
		t.Errorf("own credit limit: %s", res.raw)
	}
}

func TestCreateCustomerNamesTheBadField(t *testing.T) {
	hs := newHarness(t)
	for body, code := range map[string]string{
		``:                              "invalid_name",
		`{}`:                            "invalid_name",
		`{"name":"  ","plan":"pro"}`:    "invalid_name",
		`{"name":5,"plan":"pro"}`:       "invalid_name",
		`{"name":"Acme"}`:               "invalid_plan",
		`{"name":"Acme","plan":"gold"}`: "invalid_plan",
		`{"name":"Acme","plan":"pro","creditLimit":"5"}`:  "invalid_creditLimit",
		`{"name":"Acme","plan":"pro","creditLimit":1.5}`:  "invalid_creditLimit",
		`{"name":"Acme","plan":"pro","creditLimit":-1}`:   "invalid_creditLimit",
		`{"name":"Acme","plan":"pro","creditLimit":1e30}`: "invalid_creditLimit",
		`not json`:    "invalid_json",
		`[1,2]`:       "invalid_json",
		`null`:        "invalid_json",
		`{"name":"A"`: "invalid_json",
	} {
		res := hs.do("POST", "/api/subscriptions/customers", body)
		if res.status != 400 || res.body["error"] != code {
			t.Errorf("%s: %d %s, want 400 %s", body, res.status, res.raw, code)
		}
	}
	pending, _ := hs.store.(eventstore.Outbox).Pending(context.Background(), 0)
	if len(pending) != 0 {
		t.Fatalf("rejected requests stored %d events", len(pending))
	}
}

func TestIdempotencyKeyMakesARetryCreateNothingNew(t *testing.T) {
	hs := newHarness(t)
	body := `{"name":"Acme","plan":"pro"}`
	a := hs.do("POST", "/api/subscriptions/customers", body, "Idempotency-Key", "k-1")
	b := hs.do("POST", "/api/subscriptions/customers", body, "Idempotency-Key", "k-1")
	hs.expect(a, 201, "")
	hs.expect(b, 201, "")
	if a.body["customerId"] != b.body["customerId"] {
		t.Fatalf("a retry made another customer: %v, %v", a.body, b.body)
	}
	// The same key with another request is refused, not swallowed nor run as a new command.
	hs.expect(hs.do("POST", "/api/subscriptions/customers", `{"name":"Other","plan":"pro"}`, "Idempotency-Key", "k-1"), 422, "idempotency_key_reused")
	hs.expect(hs.do("POST", "/api/subscriptions/customers", body, "Idempotency-Key", "bad key\x01"), 400, "invalid_idempotency_key")
	if n := hs.pub.count(contracts.TypeCustomerCreated); n != 1 {
		t.Fatalf("%d CustomerCreated, want 1", n)
	}
}

// The defect of issue 12: lock and then unlock with one Idempotency-Key both answered 204 and
// the user stayed locked, the unlock stored as a duplicate of the lock. A key is bound to its
// operation and request: the unlock is refused with 422 and the state is the lock's, truthfully;
// the same request again replays its answer; a fresh key unlocks.
func TestOneIdempotencyKeyForLockAndUnlockIsRefusedNotSwallowed(t *testing.T) {
	hs := newHarness(t)
	id := hs.createCustomer(`{"name":"Acme","plan":"pro"}`)
	u := hs.do("POST", "/api/subscriptions/customers/"+id+"/users", `{"email":"ann@example.com","password":"correct horse battery"}`)
	hs.expect(u, 201, "")
	user := "/api/subscriptions/customers/" + id + "/users/" + u.body["userId"].(string)
	status := func() string { return hs.do("GET", user, "").body["status"].(string) }

	hs.expect(hs.do("POST", user+"/lock", "", "Idempotency-Key", "same-key"), 204, "")
	hs.expect(hs.do("POST", user+"/lock", "", "Idempotency-Key", "same-key"), 204, "") // a retry
	hs.expect(hs.do("POST", user+"/unlock", "", "Idempotency-Key", "same-key"), 422, "idempotency_key_reused")
	if s := status(); s != "locked" {
		t.Fatalf("after the refused unlock: %s", s)
	}
	hs.expect(hs.do("POST", user+"/unlock", "", "Idempotency-Key", "another-key"), 204, "")
	if s := status(); s != "active" {
		t.Fatalf("after an unlock with its own key the user is %s, want active", s)
	}
	if n := hs.pub.count(contracts.TypeUserLocked); n != 1 {
		t.Fatalf("%d UserLocked, want 1", n)
	}
	// The same key with the same operation on another user is another request too.
	hs.expect(hs.do("POST", "/api/subscriptions/customers/"+id+"/users/usr_other/lock", "", "Idempotency-Key", "another-key"), 422, "idempotency_key_reused")
	// And a different body under one key: another payment.
	pay := "/api/subscriptions/customers/" + id + "/payments"
	hs.expect(hs.do("POST", pay, `{"paymentId":"p1","amount":10}`, "Idempotency-Key", "pay-1"), 202, "")
	hs.expect(hs.do("POST", pay, `{"paymentId":"p1","amount":10}`, "Idempotency-Key", "pay-1"), 202, "")
	hs.expect(hs.do("POST", pay, `{"paymentId":"p1","amount":99}`, "Idempotency-Key", "pay-1"), 422, "idempotency_key_reused")
	if n := hs.pub.count(contracts.TypePaymentReceived); n != 1 {
		t.Fatalf("%d PaymentReceived, want 1", n)
	}
}

func TestUnknownCustomerIs404(t *testing.T) {
	hs := newHarness(t)
	hs.expect(hs.do("GET", "/api/subscriptions/customers/cus_nobody", ""), 404, "customer_not_found")
	hs.expect(hs.do("GET", "/api/subscriptions/customers/bad%20id", ""), 404, "customer_not_found")
	hs.expect(hs.do("POST", "/api/subscriptions/customers/cus_nobody/charges", `{"chargeId":"c","amount":5}`), 404, "customer_not_found")
	hs.expect(hs.do("POST", "/api/subscriptions/customers/cus_nobody/payments", `{"paymentId":"p","amount":5}`), 404, "customer_not_found")
	hs.expect(hs.do("POST", "/api/subscriptions/customers/cus_nobody/users", `{"email":"a@example.com"}`), 404, "customer_not_found")
}

func TestChargesAndPaymentsMoveTheBalanceOnce(t *testing.T) {
	hs := newHarness(t)
	id := hs.createCustomer(`{"name":"Acme","plan":"payg","creditLimit":100}`)
	base := "/api/subscriptions/customers/" + id
	for range 2 {
		res := hs.do("POST", base+"/charges", `{"chargeId":"setup-1","amount":150,"description":"setup fee"}`)
		hs.expect(res, 202, "")
	}
	if res := hs.do("GET", base, ""); res.body["balance"] != -150.0 || res.body["status"] != "locked" {
		t.Fatalf("after a charge beyond the credit limit: %s", res.raw)
	}
	hs.expect(hs.do("POST", base+"/charges", `{"chargeId":"setup-1","amount":151}`), 409, "charge_id_reused")
	for range 2 {
		hs.expect(hs.do("POST", base+"/payments", `{"paymentId":"pay-1","amount":100}`, "Idempotency-Key", "pay-1"), 202, "")
	}
	if res := hs.do("GET", base, ""); res.body["balance"] != -50.0 || res.body["status"] != "active" {
		t.Fatalf("after a payment: %s", res.raw)
	}
	if hs.pub.count(contracts.TypeCustomerLocked) != 1 || hs.pub.count(contracts.TypeCustomerUnlocked) != 1 {
		t.Fatalf("locked %d, unlocked %d times", hs.pub.count(contracts.TypeCustomerLocked), hs.pub.count(contracts.TypeCustomerUnlocked))
	}
}

func TestBadChargesAndPaymentsStoreNothing(t *testing.T) {
	hs := newHarness(t)
	id := hs.createCustomer(`{"name":"Acme","plan":"payg"}`)
	base := "/api/subscriptions/customers/" + id
	before := hs.snapshot(contracts.CustomerStream(id))
	for _, tc := range []struct{ path, body, code string }{
		{"/charges", `{"amount":5}`, "invalid_chargeId"},
		{"/charges", `{"chargeId":"c1"}`, "invalid_amount"},
		{"/charges", `{"chargeId":"c1","amount":0}`, "invalid_amount"},
		{"/charges", `{"chargeId":"c1","amount":12.5}`, "invalid_amount"},
		{"/charges", `{"chargeId":"c1","amount":"12"}`, "invalid_amount"},
		{"/charges", `{"chargeId":"c1","amount":5,"currency":"USD"}`, "invalid_currency"},
		{"/charges", `{"chargeId":"c1","amount":5,"description":7}`, "invalid_description"},
		{"/payments", `{"amount":5}`, "invalid_paymentId"},
		{"/payments", `{"paymentId":"p1","amount":-5}`, "invalid_amount"},
		{"/payments", `{"paymentId":"p1","amount":9223372036854775807}`, "invalid_amount"},
		{"/payments", `{"paymentId":"p1","amount":99999999999999999999}`, "invalid_amount"},
		{"/payments", `{"paymentId":["p1"],"amount":5}`, "invalid_paymentId"},
		{"/payments", `{`, "invalid_json"},
	} {
		res := hs.do("POST", base+tc.path, tc.body)
		if res.status != 400 || res.body["error"] != tc.code {
			t.Errorf("%s %s: %d %s, want 400 %s", tc.path, tc.body, res.status, res.raw, tc.code)
		}
	}
	if after := hs.snapshot(contracts.CustomerStream(id)); !reflect.DeepEqual(before, after) {
		t.Fatalf("rejected requests changed the stream: %d -> %d events", len(before), len(after))
	}
}

func TestUsersPasswordsAndKeys(t *testing.T) {
	hs := newHarness(t)
	id := hs.createCustomer(`{"name":"Acme","plan":"pro"}`)
	other := hs.createCustomer(`{"name":"Other","plan":"pro"}`)
	base := "/api/subscriptions/customers/" + id + "/users"

	res := hs.do("POST", base, `{"email":"Ann@Example.com","password":"correct horse battery"}`, "Idempotency-Key", "u-1")
	hs.expect(res, 201, "")
	userID, key := res.body["userId"].(string), res.body["apiKey"].(string)
	if userID == "" || !strings.HasPrefix(key, "ml_") {
		t.Fatalf("create user: %s", res.raw)
	}
	retry := hs.do("POST", base, `{"email":"Ann@Example.com","password":"correct horse battery"}`, "Idempotency-Key", "u-1")
	hs.expect(retry, 200, "")
	if retry.body["userId"] != userID || retry.body["apiKey"] != nil {
		t.Fatalf("retry: %s", retry.raw)
	}
	hs.expect(hs.do("POST", "/api/subscriptions/customers/"+other+"/users", `{"email":"ann@example.com"}`), 409, "email_taken")
	hs.expect(hs.do("POST", base, `{"email":"not-an-email"}`), 400, "invalid_email")
	hs.expect(hs.do("POST", base, `{"email":"bob@example.com","password":"short"}`), 400, "invalid_password")
	hs.expect(hs.do("POST", base, `{"password":"correct horse battery"}`), 400, "invalid_email")

	user := base + "/" + userID
	res = hs.do("GET", user, "")
	hs.expect(res, 200, "")
	if res.body["email"] != "ann@example.com" || res.body["passwordSet"] != true || strings.Contains(res.raw, "Hash") {
		t.Fatalf("get user: %s", res.raw)
	}
	hs.expect(hs.do("GET", "/api/subscriptions/customers/"+other+"/users/"+userID, ""), 404, "user_not_found")

	res = hs.do("POST", user+"/keys", "")
	hs.expect(res, 201, "")
	keyID := res.body["keyId"].(string)
	if k := res.body["apiKey"].(string); k == key || !strings.HasPrefix(k, "ml_") {
		t.Fatalf("second key: %s", res.raw)
	}
	hs.expect(hs.do("DELETE", user+"/keys/"+keyID, ""), 204, "")
	hs.expect(hs.do("DELETE", user+"/keys/"+keyID, ""), 204, "")
	hs.expect(hs.do("DELETE", user+"/keys/key_nope", ""), 404, "key_not_found")
	hs.expect(hs.do("POST", user+"/lock", ""), 204, "")
	hs.expect(hs.do("POST", user+"/lock", ""), 204, "")
	hs.expect(hs.do("POST", user+"/unlock", ""), 204, "")
	hs.expect(hs.do("PUT", user+"/password", `{"password":"another long password"}`), 204, "")
	hs.expect(hs.do("PUT", user+"/password", `{"password":"tiny"}`), 400, "invalid_password")
	hs.expect(hs.do("PUT", user+"/password", `{}`), 400, "invalid_password")
	hs.expect(hs.do("POST", "/api/subscriptions/customers/"+other+"/users/"+userID+"/lock", ""), 404, "user_not_found")

	for typ, n := range map[string]int{contracts.TypeUserCreated: 1, contracts.TypeApiKeyIssued: 2, contracts.TypeApiKeyRevoked: 1,
		contracts.TypeUserLocked: 1, contracts.TypeUserUnlocked: 1, contracts.TypeUserPasswordSet: 2} {
		if got := hs.pub.count(typ); got != n {
			t.Errorf("%s published %d times, want %d", typ, got, n)
		}
	}
	for _, e := range hs.pub.events {
		if strings.Contains(string(e.Data), key) || strings.Contains(string(e.Data), "horse") {
			t.Fatalf("a secret was published in %s", e.Type)
		}
	}
}

// invocation is a Service Bus invocation as the Functions host posts it to the handler.
func invocation(body []byte, messageID string) string {
	b, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"message": base64.StdEncoding.EncodeToString(body)},
		"Metadata": map[string]any{"DeliveryCount": "1", "MessageId": fmt.Sprintf("%q", messageID)},
	})
	return string(b)
}

func usageEnvelope(t *testing.T, customerID, reportID string, units int64) ([]byte, string) {
	t.Helper()
	reg := eventstore.NewRegistry()
	cloudapi.Register(reg)
	ctx := eventstore.WithCommandID(context.Background(), "report:"+reportID)
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	events, err := reg.NewEvents(ctx, cloudapi.Source, cloudapi.UsageStream(customerID), at,
		cloudapi.UsageReported{ReportID: reportID, CustomerID: customerID, Units: units, PeriodFrom: at, PeriodTo: at.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	events[0].Version = 1
	body, err := eventstore.MarshalEnvelope(events[0])
	if err != nil {
		t.Fatal(err)
	}
	return body, events[0].ID
}

func TestUsageMessagesAreBilledOnceAndPoisonIsDeadLettered(t *testing.T) {
	hs := newHarness(t)
	id := hs.createCustomer(`{"name":"Acme","plan":"payg"}`)
	body, msgID := usageEnvelope(t, id, "r1", 7)
	for range 3 {
		res := hs.do("POST", "/ApplyUsage", invocation(body, msgID))
		if res.status != 200 || res.body["Outputs"].(map[string]any)["deadLetter"] != nil {
			t.Fatalf("usage message: %s", res.raw)
		}
	}
	if res := hs.do("GET", "/api/subscriptions/customers/"+id, ""); res.body["balance"] != -70.0 {
		t.Fatalf("after 3 deliveries of one report: %s", res.raw)
	}
	for name, poison := range map[string][]byte{
		"not an envelope":  []byte(`{"hello":1}`),
		"unknown customer": func() []byte { b, _ := usageEnvelope(t, "cus_nobody", "r2", 1); return b }(),
	} {
		res := hs.do("POST", "/ApplyUsage", invocation(poison, "m-"+name))
		if res.status != 200 || res.body["Outputs"].(map[string]any)["deadLetter"] == nil {
			t.Errorf("%s: not dead-lettered: %s", name, res.raw)
		}
	}
	if n := hs.pub.count(contracts.TypeConsumptionAdded); n != 1 {
		t.Fatalf("%d ConsumptionAdded, want 1", n)
	}
}

func TestFunctionsAreDeclaredWithSettingSchedules(t *testing.T) {
	app := subscriptions.New(subscriptions.InMemoryDeps())
	kinds := map[string]int{}
	for _, f := range app.Functions() {
		kinds[f.Kind]++
		if f.Timer != nil && !(strings.HasPrefix(f.Timer.Schedule, "%") && strings.HasSuffix(f.Timer.Schedule, "%")) {
			t.Errorf("%s: schedule %q is not an app setting", f.Name, f.Timer.Schedule)
		}
		if f.ServiceBus != nil && !strings.HasPrefix(f.ServiceBus.Subscription, "subscriptions-") {
			t.Errorf("%s listens on subscription %q", f.Name, f.ServiceBus.Subscription)
		}
	}
	if kinds[funcapp.KindHTTP] != 13 || kinds[funcapp.KindServiceBus] != 2 || kinds[funcapp.KindTimer] != 3 {
		t.Fatalf("functions by kind: %v", kinds)
	}
	for name, v := range subscriptions.DefaultSettings {
		if v == "" {
			t.Errorf("setting %s has no default", name)
		}
	}
}

// The build step defines the functions (to write function.json) without connecting anything.
func TestInMemoryDepsDefineTheFunctions(t *testing.T) {
	if n := len(subscriptions.New(subscriptions.InMemoryDeps()).Functions()); n != 18 { // 12 operations and their OpenAPI document, 2 receptors, 3 tasks
		t.Fatalf("%d functions defined", n)
	}
}

// Each receptor's subscription takes exactly the types it handles (the filter is generated).
func TestReceptorsSubscribeToTheTypesTheyHandle(t *testing.T) {
	got := map[string]string{}
	for _, f := range subscriptions.New(subscriptions.InMemoryDeps()).Functions() {
		if f.ServiceBus != nil {
			got[f.Name] = f.ServiceBus.Topic + " " + f.ServiceBus.Subscription + " " + f.ServiceBus.Filter
		}
	}
	want := map[string]string{
		"ApplyUsage":     "cloudapi subscriptions-apply-usage type IN ('cloudapi.UsageReported')",
		"ExpireInvoices": "subscriptions subscriptions-expire-invoices type IN ('subscriptions.InvoicePossiblyExpired')",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Service Bus functions:\n got %v\nwant %v", got, want)
	}
}

func TestAnInvalidReminderPeriodFailsAtStartUp(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "InvoiceReminderPeriod") {
			t.Fatalf("panic %v, want one naming InvoiceReminderPeriod", r)
		}
	}()
	subscriptions.New(subscriptions.Deps{Store: memstore.New(), Views: viewsmem.New(),
		Setting: func(n string) string { return map[string]string{"InvoiceReminderPeriod": "fortnight"}[n] }})
}

// The back office is not open to anyone: every endpoint but the public plans list and the API's
// description needs a function key at the host (issue 9).
func TestBackOfficeEndpointsNeedAFunctionKey(t *testing.T) {
	for _, f := range subscriptions.New(subscriptions.InMemoryDeps()).Functions() {
		if f.HTTP == nil {
			continue
		}
		want := "function"
		if f.Name == "ListPlans" || f.Name == "SubscriptionsOpenAPI" {
			want = "anonymous"
		}
		if f.HTTP.AuthLevel != want {
			t.Errorf("%s: authLevel %q, want %q", f.Name, f.HTTP.AuthLevel, want)
		}
	}
}

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"
)

// client speaks the HTTP API of the three apps, with the apps' function keys (the back office
// is authLevel function).
var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: withFunctionKeys{&http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second}},
}

// anonymous is a caller without keys.
var anonymous = &http.Client{Timeout: 30 * time.Second}

// call sends body (JSON unless nil) and returns the status and the answer.
func call(c *http.Client, method, url string, body any, header map[string]string) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// mustCall is call that fails the test on a transport error or another status than want.
func mustCall(t testing.TB, method, url string, body any, want int) []byte {
	t.Helper()
	status, b, err := call(client, method, url, body, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if status != want {
		t.Fatalf("%s %s: %d %s (want %d)", method, url, status, b, want)
	}
	return b
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func uniq(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// customerView is what GET /api/subscriptions/customers/{id} shows (the fields the tests read).
type customerView struct {
	CustomerID  string `json:"customerId"`
	Name        string `json:"name"`
	Plan        string `json:"plan"`
	Balance     int64  `json:"balance"`
	Currency    string `json:"currency"`
	CreditLimit int64  `json:"creditLimit"`
	Status      string `json:"status"`
	Consumption struct {
		Units  int64 `json:"units"`
		Amount int64 `json:"amount"`
	} `json:"consumption"`
	Charges  int64             `json:"charges"`
	Payments int64             `json:"payments"`
	Invoices []json.RawMessage `json:"invoices"`
}

// money is the part of a customer's view that a replayed event must never move.
type money struct {
	Balance, Charges, Payments, Units, Amount, CreditLimit int64
	Status                                                 string
}

func (v customerView) money() money {
	return money{v.Balance, v.Charges, v.Payments, v.Consumption.Units, v.Consumption.Amount, v.CreditLimit, v.Status}
}

// The payg plan: no included units, 10 minor units per unit, credit limit 1,000.
const (
	paygPrice       = 10
	paygCreditLimit = 1_000
)

func createCustomer(t testing.TB, name string) string {
	t.Helper()
	b := mustCall(t, "POST", sys.url(subscriptionsApp)+"/api/subscriptions/customers",
		map[string]any{"name": name, "plan": "payg"}, http.StatusCreated)
	id := decode[struct{ CustomerID string }](t, b).CustomerID
	if id == "" {
		t.Fatalf("POST customers: no customerId in %s", b)
	}
	return id
}

type user struct {
	CustomerID, UserID, KeyID, APIKey string
	Email, Password                   string
}

// createUser creates a user (with a password when one is given) and returns it with its API key.
func createUser(t testing.TB, customerID, password string) user {
	t.Helper()
	u, err := newUser(customerID, password)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newUser is createUser for goroutines other than the test's.
func newUser(customerID, password string) (user, error) {
	u := user{CustomerID: customerID, Email: uniq("user") + "@example.test", Password: password}
	body := map[string]any{"email": u.Email}
	if password != "" {
		body["password"] = password
	}
	s, b, err := call(client, "POST", sys.url(subscriptionsApp)+"/api/subscriptions/customers/"+customerID+"/users", body, nil)
	if err != nil || s != http.StatusCreated {
		return u, fmt.Errorf("POST users: %d %s %v", s, b, err)
	}
	var r struct{ UserID, KeyID, APIKey string }
	if err := json.Unmarshal(b, &r); err != nil || r.UserID == "" || r.APIKey == "" {
		return u, fmt.Errorf("POST users: %s %v", b, err)
	}
	u.UserID, u.KeyID, u.APIKey = r.UserID, r.KeyID, r.APIKey
	return u, nil
}

func getCustomer(t testing.TB, id string) customerView {
	t.Helper()
	return decode[customerView](t, mustCall(t, "GET", sys.url(subscriptionsApp)+"/api/subscriptions/customers/"+id, nil, http.StatusOK))
}

func charge(t testing.TB, customerID string, amount int64) {
	t.Helper()
	mustCall(t, "POST", sys.url(subscriptionsApp)+"/api/subscriptions/customers/"+customerID+"/charges",
		map[string]any{"chargeId": uniq("charge"), "amount": amount, "description": "e2e one-off charge"}, http.StatusAccepted)
}

func pay(t testing.TB, customerID string, amount int64) {
	t.Helper()
	mustCall(t, "POST", sys.url(subscriptionsApp)+"/api/subscriptions/customers/"+customerID+"/payments",
		map[string]any{"paymentId": uniq("payment"), "amount": amount}, http.StatusAccepted)
}

// forecast calls the metered API with horizon points (horizon units when it answers 200).
func forecast(apiKey string, horizon int, idempotencyKey string) (int, []byte, error) {
	h := map[string]string{"Authorization": "Bearer " + apiKey}
	if idempotencyKey != "" {
		h["Idempotency-Key"] = idempotencyKey
	}
	return call(client, "POST", sys.url(cloudapiApp)+"/api/cloud/forecast",
		map[string]any{"series": []float64{3, 5, 4, 6, 7, 6, 8, 9}, "horizon": horizon}, h)
}

// mustForecast makes a metered call that must succeed with horizon points.
func mustForecast(t testing.TB, apiKey string, horizon int) {
	t.Helper()
	status, b, err := forecast(apiKey, horizon, "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("POST /api/cloud/forecast: %d %s %v", status, b, err)
	}
	got := decode[struct{ Forecast []float64 }](t, b).Forecast
	if len(got) != horizon {
		t.Fatalf("forecast of %d points: got %d (%s)", horizon, len(got), b)
	}
}

// status is the Cloud API's answer to a forecast of one point with key (0 on a transport error).
func status(apiKey string) int {
	s, _, _ := forecast(apiKey, 1, "")
	return s
}

// waitForStatus polls the Cloud API with key until it answers want, and returns how long that took.
func waitForStatus(t testing.TB, apiKey string, want int, timeout time.Duration) time.Duration {
	t.Helper()
	d, ok := eventually(timeout, 10*time.Millisecond, func() bool { return status(apiKey) == want })
	if !ok {
		t.Fatalf("the Cloud API did not answer %d within %s (last: %d)", want, timeout, status(apiKey))
	}
	return d
}

// cloudUsage is GET /api/cloud/usage.
type cloudUsage struct {
	CustomerID string `json:"customerId"`
	Reported   struct {
		Units, Requests, Reports int64
	} `json:"reported"`
	Unreported struct {
		Units, Requests int64
	} `json:"unreported"`
}

func getCloudUsage(t testing.TB, apiKey string) cloudUsage {
	t.Helper()
	s, b, err := call(client, "GET", sys.url(cloudapiApp)+"/api/cloud/usage", nil, map[string]string{"Authorization": "Bearer " + apiKey})
	if err != nil || s != http.StatusOK {
		t.Fatalf("GET /api/cloud/usage: %d %s %v", s, b, err)
	}
	return decode[cloudUsage](t, b)
}

// portalSession is a browser-like client of the Product portal (it keeps the session cookie).
type portalSession struct{ c *http.Client }

func newPortalSession() *portalSession {
	jar, _ := cookiejar.New(nil)
	return &portalSession{c: &http.Client{Timeout: 30 * time.Second, Jar: jar}}
}

func (p *portalSession) signIn(email, password string) (int, []byte, error) {
	return call(p.c, "POST", sys.url(productApp)+"/api/product/signin", map[string]string{"email": email, "password": password}, nil)
}

// me is the part of GET /api/product/me the tests read.
type me struct {
	Email      string `json:"email"`
	UserID     string `json:"userId"`
	CustomerID string `json:"customerId"`
	Balance    int64  `json:"balance"`
	Status     string `json:"status"`
	Payments   int64  `json:"payments"`
	Usage      struct {
		Reported int64 `json:"reported"`
		Requests int64 `json:"requests"`
		Reports  int64 `json:"reports"`
		Billed   int64 `json:"billed"`
	} `json:"usage"`
}

func (p *portalSession) me(t testing.TB) me {
	t.Helper()
	s, b, err := call(p.c, "GET", sys.url(productApp)+"/api/product/me", nil, nil)
	if err != nil || s != http.StatusOK {
		t.Fatalf("GET /api/product/me: %d %s %v", s, b, err)
	}
	return decode[me](t, b)
}

// signInEventually waits until the portal knows the user (its replica follows Subscriptions).
// The portal blocks an email after 5 failed sign-ins, so it tries at most 4 times, 1, 2 and 4 s apart;
// callers first wait for the Cloud API to accept the user's key (the same events replicate both).
func (p *portalSession) signInEventually(t testing.TB, u user) {
	t.Helper()
	var last string
	for i := range 4 {
		s, b, err := p.signIn(u.Email, u.Password)
		if s == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %s %v", s, b, err)
		if i < 3 {
			time.Sleep(time.Second << i) // 1, 2, 4 s: 7 s for the replica on a busy machine
		}
	}
	t.Fatalf("the portal did not sign %s in: %s", u.Email, last)
}

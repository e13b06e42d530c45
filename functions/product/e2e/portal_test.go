package e2e_test

import (
	"bytes"
	"cmp"
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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"meterline/functions/cloudapi"
	cloud "meterline/functions/cloudapi/contracts"
	"meterline/functions/cloudapi/meterlog"
	"meterline/functions/product"
	"meterline/functions/product/e2e"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/infra/servicebus-emulator/filter"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/funcapp"
	viewmem "meterline/shared/views/memstore"
)

const (
	email    = "ann@example.com"
	password = "correct horse battery"
	apiKey   = "ml_e2eTestKeyOnlyForThisTestxxxxxxxxxxxxxxxxxxxx"
)

// site is the Product portal and the real Cloud API in one Functions app on one origin, as
// the local host runs them, fed with events as the host delivers Service Bus messages.
type site struct {
	t      *testing.T
	srv    *httptest.Server
	seq    map[string]int64
	routes []route
}

// route is a Service Bus function of the site and the rule of its subscription.
type route struct {
	function, topic string
	rule            filter.Filter
}

func newSite(t *testing.T) *site {
	all := funcapp.New("all")
	all.Include(product.New(product.Deps{Views: product.ViewsOn(viewmem.New())}))
	all.Include(cloudapi.New(cloudapi.Deps{Access: cloudapi.AccessStoreOn(viewmem.New()), Meter: meterlog.NewMemory(), Events: memstore.New()}))
	all.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &site{t: t, srv: httptest.NewServer(all.Handler()), seq: map[string]int64{}}
	t.Cleanup(s.srv.Close)
	for _, f := range all.Functions() {
		if f.ServiceBus == nil {
			continue
		}
		rule, err := filter.ParseSQL(cmp.Or(f.ServiceBus.Filter, "1=1"))
		if err != nil {
			t.Fatalf("%s: filter %q: %v", f.Name, f.ServiceBus.Filter, err)
		}
		s.routes = append(s.routes, route{f.Name, f.ServiceBus.Topic, rule})
	}
	return s
}

// publish delivers the next event of stream to every function whose subscription selects it,
// as the broker does: on the topic of the context that published it, through the rule.
func (s *site) publish(stream, typ string, payload any) {
	s.t.Helper()
	s.seq[stream]++
	data, _ := json.Marshal(payload)
	source := strings.Split(typ, ".")[0]
	body, err := eventstore.MarshalEnvelope(eventstore.Event{ID: fmt.Sprintf("%s-%d", stream, s.seq[stream]), Type: typ, SchemaVersion: 1,
		Stream: stream, Version: s.seq[stream], Source: source, CreatedAt: time.Now().UTC(), Data: data})
	if err != nil {
		s.t.Fatal(err)
	}
	inv, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"message": base64.StdEncoding.EncodeToString(body)},
		"Metadata": map[string]any{"MessageId": fmt.Sprintf("%q", stream), "DeliveryCount": "1"},
	})
	delivered := 0
	for _, r := range s.routes {
		match, err := r.rule.Match(&filter.MapMessage{UserProps: map[string]any{"type": typ}})
		if err != nil {
			s.t.Fatal(err)
		}
		if r.topic != source || !match {
			continue
		}
		delivered++
		resp, err := http.Post(s.srv.URL+"/"+r.function, "application/json", bytes.NewReader(inv))
		if err != nil {
			s.t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(out, []byte("deadLetter")) {
			s.t.Fatalf("%s %s: %d %s", r.function, typ, resp.StatusCode, out)
		}
	}
	if delivered == 0 {
		s.t.Fatalf("%s: no subscription takes it", typ)
	}
}

// seed replicates what Subscriptions and the Cloud API would have published: a customer with
// a balance and two invoices, a user with a password and an API key, two days of usage.
func (s *site) seed() {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		s.t.Fatal(err)
	}
	keyHash := sha256.Sum256([]byte(apiKey))
	cs, us := subs.CustomerStream("c1"), subs.UserStream("u1")
	issued := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	s.publish(cs, subs.TypeCustomerCreated, subs.CustomerCreated{CustomerID: "c1", Name: "Acme Forecasting", Plan: "starter", Currency: "EUR", CreditLimit: 5000})
	s.publish(us, subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1", Email: email})
	s.publish(us, subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: string(hash)})
	s.publish(us, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k1", KeyHash: hex.EncodeToString(keyHash[:])})
	s.publish(cs, subs.TypeInvoiceIssued, subs.InvoiceIssued{CustomerID: "c1", InvoiceID: "INV-2026-09", Period: "2026-09", Amount: 4200, Currency: "EUR", IssuedAt: issued, DueAt: issued.AddDate(0, 0, 14)})
	s.publish(cs, subs.TypeInvoicePaid, subs.InvoicePaid{CustomerID: "c1", InvoiceID: "INV-2026-09"})
	s.publish(cs, subs.TypeInvoiceIssued, subs.InvoiceIssued{CustomerID: "c1", InvoiceID: "INV-2026-10", Period: "2026-10", Amount: 1234, Currency: "EUR", IssuedAt: issued.AddDate(0, 1, 0), DueAt: issued.AddDate(0, 1, 14)})
	s.publish(cs, subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c1", Balance: -1234, Currency: "EUR"})
	day := time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)
	for i, units := range []int64{12, 15, 14, 18, 21} {
		from := day.AddDate(0, 0, i)
		s.publish(cloud.UsageStream("c1"), cloud.UsageReportedType, cloud.UsageReported{ReportID: fmt.Sprint("r", i), CustomerID: "c1", Units: units, Requests: 2,
			PeriodFrom: from, PeriodTo: from.Add(time.Minute)})
	}
}

// TestPortalInChromium signs in through the page, sees the account, runs a forecast through
// the real Cloud API from the browser and checks the chart, then signs out.
func TestPortalInChromium(t *testing.T) {
	if _, err := os.Stat(e2e.ChromiumPath); err != nil {
		t.Fatal(e2e.ErrNoChromium) // never skip: the browser is part of the project's set-up
	}
	s := newSite(t)
	s.seed()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := e2e.Launch(ctx, t.TempDir(), 1000, 1200)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\nchromium log:\n%s", what, err, b.Log())
		}
	}
	wait := func(cond string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		step("wait", b.WaitFor(wctx, cond))
	}
	text := func(expr string) string {
		t.Helper()
		var v string
		step(expr, b.Eval(ctx, expr, &v))
		return v
	}

	step("open the portal", b.Navigate(ctx, s.srv.URL+"/api/product/"))
	wait(`!document.getElementById("signin-panel").hidden`)

	// A wrong password is refused on the page.
	step("type email", b.Type(ctx, "#email", email))
	step("type password", b.Type(ctx, "#password", "not the password"))
	step("click sign in", b.Click(ctx, "#signin-button"))
	wait(`document.getElementById("signin-error").textContent.includes("wrong email or password")`)

	step("type password", b.Type(ctx, "#password", password))
	step("click sign in", b.Click(ctx, "#signin-button"))
	wait(`!document.getElementById("account-panel").hidden`)

	if got := text(`document.getElementById("account-name").textContent`); got != "Acme Forecasting" {
		t.Fatalf("account name %q", got)
	}
	if got := text(`document.getElementById("balance").textContent`); !strings.Contains(got, "12.34") || !strings.Contains(got, "-") {
		t.Fatalf("balance shows %q, want -12.34 EUR", got)
	}
	if got := text(`document.getElementById("status").textContent`); got != "active" {
		t.Fatalf("status %q", got)
	}
	if got := text(`document.getElementById("usage").textContent`); got != "80 / 0" {
		t.Fatalf("usage %q, want 80 reported / 0 billed", got)
	}
	rows := text(`Array.from(document.querySelectorAll("#invoices tbody tr")).map(r => r.innerText.replace(/\s+/g, " ").trim()).join("\n")`)
	if !strings.Contains(rows, "INV-2026-10") || !strings.Contains(rows, "outstanding") || !strings.Contains(rows, "INV-2026-09") || !strings.Contains(rows, "paid") || strings.Count(rows, "\n") != 1 {
		t.Fatalf("invoice rows:\n%s", rows)
	}
	if got := text(`document.cookie`); strings.Contains(got, product.SessionCookie) {
		t.Fatalf("the session cookie must be HttpOnly, page sees %q", got)
	}

	// The forecast: the series is the customer's own daily usage; the call goes from the
	// browser to the Cloud API with the key.
	if got := text(`document.getElementById("series").value`); got != "12, 15, 14, 18, 21" {
		t.Fatalf("series prefilled with %q", got)
	}
	step("type a wrong key", b.Type(ctx, "#api-key", "ml_not-a-key"))
	step("run", b.Click(ctx, "#run-forecast"))
	wait(`document.getElementById("forecast-error").textContent !== ""`)
	if document := text(`document.getElementById("chart").innerHTML`); document != "" {
		t.Fatalf("a refused forecast drew a chart")
	}

	step("type the key", b.Type(ctx, "#api-key", apiKey))
	step("type horizon", b.Type(ctx, "#horizon", "8"))
	step("run", b.Click(ctx, "#run-forecast"))
	wait(`document.querySelector("#chart svg#forecast-chart")`)
	var chart struct {
		Series, Forecast       string
		SeriesPts, ForecastPts int
		Error, Values          string
	}
	step("read chart", b.Eval(ctx, `(() => { const s = document.getElementById("forecast-chart");
		return {series: s.dataset.seriesPoints, forecast: s.dataset.forecastPoints,
			seriesPts: s.querySelector("polyline.series").getAttribute("points").trim().split(/\s+/).length,
			forecastPts: s.querySelector("polyline.forecast").getAttribute("points").trim().split(/\s+/).length,
			error: document.getElementById("forecast-error").textContent,
			values: document.getElementById("forecast-values").textContent}; })()`, &chart))
	if chart.Series != "5" || chart.Forecast != "8" || chart.SeriesPts != 5 || chart.ForecastPts != 9 || chart.Error != "" || !strings.HasPrefix(chart.Values, "Forecast: ") {
		t.Fatalf("chart %+v", chart)
	}
	if got := text(`sessionStorage.getItem("meterline.apiKey")`); got != apiKey {
		t.Fatalf("key in sessionStorage %q", got)
	}
	// The forecast really went through the Cloud API and was metered for the key's customer.
	if units := cloudUsage(t, s.srv.URL); units != 8 {
		t.Fatalf("the Cloud API metered %d units, want 8 (one per forecast point)", units)
	}

	shot := filepath.Join(screenshotDir(t), "portal.png")
	step("screenshot", b.Screenshot(ctx, shot))
	t.Logf("screenshot: %s", shot)

	step("sign out", b.Click(ctx, "#signout"))
	wait(`!document.getElementById("signin-panel").hidden && document.getElementById("account-panel").hidden`)
	if got := text(`String(sessionStorage.getItem("meterline.apiKey"))`); got != "null" {
		t.Fatalf("sign-out left the key in sessionStorage: %q", got)
	}
	step("reload", b.Navigate(ctx, s.srv.URL+"/api/product/"))
	wait(`!document.getElementById("signin-panel").hidden`)
}

// cloudUsage asks the Cloud API for the caller's consumption and adds up the units it reports.
func cloudUsage(t *testing.T, base string) int64 {
	req, _ := http.NewRequest("GET", base+"/api/cloud/usage", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(raw, &v) != nil {
		t.Fatalf("cloud usage: %d %s", resp.StatusCode, raw)
	}
	total, ok := sumUnits(v)
	if !ok {
		t.Fatalf("cloud usage has no units: %s", raw)
	}
	return total
}

// sumUnits adds the "units" numbers of the reported and unreported parts of the answer.
func sumUnits(v map[string]any) (int64, bool) {
	var total int64
	found := false
	for _, part := range []string{"reported", "unreported"} {
		p, _ := v[part].(map[string]any)
		if n, ok := p["units"].(float64); ok {
			total += int64(n)
			found = true
		}
	}
	return total, found
}

// screenshotDir is E2E_SCREENSHOT_DIR when set (to look at the page), else a temp dir.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("E2E_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

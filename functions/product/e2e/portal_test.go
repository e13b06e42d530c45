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

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"meterline/functions/cloudapi"
	cloud "meterline/functions/cloudapi/contracts"
	"meterline/functions/cloudapi/meterlog"
	"meterline/functions/product"
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
	s := newSite(t)
	s.seed()
	// After the site, so a failure's screenshot is taken while the site still serves the page.
	ctx := newPage(t) // fails, never skips, without Chromium
	portal := s.srv.URL + "/api/product/"

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("text of #%s: %v", id, err)
		}
		return v
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}

	do("open the portal", chromedp.Navigate(portal), chromedp.WaitVisible(chromedp.ID("signin-panel")))

	// A wrong password is refused on the page.
	do("sign in with a wrong password",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), "not the password"),
		chromedp.Click(chromedp.ID("signin-button")),
		until(`document.getElementById("signin-error").textContent.includes("wrong email or password")`))

	do("sign in", retype("password", password), chromedp.Click(chromedp.ID("signin-button")),
		chromedp.WaitVisible(chromedp.ID("account-panel")))

	if got := text("account-name"); got != "Acme Forecasting" {
		t.Fatalf("account name %q", got)
	}
	if got := text("balance"); !strings.Contains(got, "12.34") || !strings.Contains(got, "-") {
		t.Fatalf("balance shows %q, want -12.34 EUR", got)
	}
	if got := text("status"); got != "active" {
		t.Fatalf("status %q", got)
	}
	if got := text("usage"); got != "80 / 0" {
		t.Fatalf("usage %q, want 80 reported / 0 billed", got)
	}
	rows := eval(`Array.from(document.querySelectorAll("#invoices tbody tr")).map(r => r.innerText.replace(/\s+/g, " ").trim()).join("\n")`)
	if !strings.Contains(rows, "INV-2026-10") || !strings.Contains(rows, "outstanding") || !strings.Contains(rows, "INV-2026-09") || !strings.Contains(rows, "paid") || strings.Count(rows, "\n") != 1 {
		t.Fatalf("invoice rows:\n%s", rows)
	}
	// The browser holds the session in an HttpOnly, SameSite=Strict cookie the page cannot read.
	session := sessionCookie(t, ctx, portal)
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || session.Path != "/api/product" {
		t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=/api/product", session)
	}
	if got := eval(`document.cookie`); strings.Contains(got, product.SessionCookie) {
		t.Fatalf("the session cookie must be HttpOnly, page sees %q", got)
	}

	// The forecast: the series is the customer's own daily usage; the call goes from the
	// browser to the Cloud API with the key.
	if got, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("series"))); err != nil || got != "12, 15, 14, 18, 21" {
		t.Fatalf("series prefilled with %q (%v)", got, err)
	}
	do("run with a wrong key", chromedp.SendKeys(chromedp.ID("api-key"), "ml_not-a-key"), chromedp.Click(chromedp.ID("run-forecast")),
		until(`document.getElementById("forecast-error").textContent !== ""`))
	if chart, err := chromedp.Run(ctx, chromedp.InnerHTML(chromedp.ID("chart"))); err != nil || chart != "" {
		t.Fatalf("a refused forecast drew a chart (%v): %s", err, chart)
	}

	do("run", retype("api-key", apiKey), retype("horizon", "8"), chromedp.Click(chromedp.ID("run-forecast")),
		chromedp.WaitVisible(chromedp.CSS("#chart svg#forecast-chart")))
	type chartSeen struct {
		Series      string `json:"series"`
		Forecast    string `json:"forecast"`
		SeriesPts   int    `json:"seriesPts"`
		ForecastPts int    `json:"forecastPts"`
		Error       string `json:"error"`
		Values      string `json:"values"`
	}
	chart, err := chromedp.Run(ctx, chromedp.Evaluate[chartSeen](`(() => { const s = document.getElementById("forecast-chart");
		return {series: s.dataset.seriesPoints, forecast: s.dataset.forecastPoints,
			seriesPts: s.querySelector("polyline.series").getAttribute("points").trim().split(/\s+/).length,
			forecastPts: s.querySelector("polyline.forecast").getAttribute("points").trim().split(/\s+/).length,
			error: document.getElementById("forecast-error").textContent,
			values: document.getElementById("forecast-values").textContent}; })()`))
	if err != nil {
		t.Fatalf("read chart: %v", err)
	}
	if chart.Series != "5" || chart.Forecast != "8" || chart.SeriesPts != 5 || chart.ForecastPts != 9 || chart.Error != "" || !strings.HasPrefix(chart.Values, "Forecast: ") {
		t.Fatalf("chart %+v", chart)
	}
	if got := eval(`sessionStorage.getItem("meterline.apiKey")`); got != apiKey {
		t.Fatalf("key in sessionStorage %q", got)
	}
	// The forecast really went through the Cloud API and was metered for the key's customer.
	if units := cloudUsage(t, s.srv.URL); units != 8 {
		t.Fatalf("the Cloud API metered %d units, want 8 (one per forecast point)", units)
	}

	shot := filepath.Join(screenshotDir(t), "portal.png")
	if err := saveScreenshot(ctx, shot); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)

	do("sign out", chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.ID("signin-panel")), chromedp.WaitNotVisible(chromedp.ID("account-panel")))
	if got := eval(`String(sessionStorage.getItem("meterline.apiKey"))`); got != "null" {
		t.Fatalf("sign-out left the key in sessionStorage: %q", got)
	}
	if c := sessionCookie(t, ctx, portal); c != nil {
		t.Fatalf("sign-out left the session cookie: %+v", c)
	}
	do("reload", chromedp.Navigate(portal), chromedp.WaitVisible(chromedp.ID("signin-panel")))
}

// until waits, polling in the page, for a JavaScript condition; the test's context bounds it.
func until(condition string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](condition, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))
}

// retype replaces what a field holds with text typed on the keyboard (SendKeys adds to it).
// It empties the field in the page: chromedp v0.23.1's SetValue(sel, "") reports "could not
// set value" for the empty string.
func retype(id, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ""`, id)),
		chromedp.SendKeys(chromedp.ID(id), text))
}

// sessionCookie is the browser's session cookie for url, or nil.
func sessionCookie(t *testing.T, ctx context.Context, url string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatalf("cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == product.SessionCookie {
			return c
		}
	}
	return nil
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

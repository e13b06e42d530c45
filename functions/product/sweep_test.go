package product_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"meterline/functions/product/app"
	"meterline/functions/product/domain"
)

// tick runs a timer function as the host does.
func (w *portalWorld) tick(function string) {
	w.t.Helper()
	inv := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"IsPastDue":false}},"Metadata":{}}`
	resp, err := http.Post(w.srv.URL+"/"+function, "application/json", strings.NewReader(inv))
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		w.t.Fatalf("%s answered %d", function, resp.StatusCode)
	}
}

func TestSweepSessionsDeletesExpiredSessionsAndEndedThrottles(t *testing.T) {
	checkSweep(t, memoryViews())
}

func checkSweep(t *testing.T, views app.Views) {
	w := newPortalWorld(t, views)
	w.seedCustomer("c1", "u1", "ann@example.com", "pw1")
	w.seedCustomer("c2", "u2", "bob@example.com", "pw2")
	early := w.browser()
	if r := early.signIn("ann@example.com", "pw1"); r.status != 200 {
		t.Fatalf("sign-in: %d %s", r.status, r.raw)
	}
	if r := w.browser().signIn("bob@example.com", "guess"); r.status != 401 {
		t.Fatalf("wrong password: %d", r.status)
	}
	w.advance(app.DefaultSessionTTL - 10*time.Minute)
	late := w.browser()
	if r := late.signIn("ann@example.com", "pw1"); r.status != 200 {
		t.Fatalf("second sign-in: %d %s", r.status, r.raw)
	}
	if r := w.browser().signIn("eve@example.com", "guess"); r.status != 401 {
		t.Fatalf("unknown email: %d", r.status)
	}
	// The early session has expired and bob's window has ended; the late session and eve's
	// window (10 minutes old, of 15) are still live.
	w.advance(11 * time.Minute)

	for run := range 2 { // a second run finds nothing more to delete
		w.tick("SweepSessions")
		sessions, err := views.Sessions.Entries(t.Context())
		if err != nil || len(sessions) != 1 {
			t.Fatalf("run %d: %d sessions left, want 1 (%v)", run, len(sessions), err)
		}
		if !w.clock().Before(sessions[0].Doc.ExpiresAt) {
			t.Fatalf("run %d: the expired session was kept: %+v", run, sessions[0].Doc)
		}
		attempts, err := views.Attempts.Entries(t.Context())
		if err != nil || len(attempts) != 1 || attempts[0].Key != domain.EmailKey("eve@example.com") {
			t.Fatalf("run %d: throttles left %+v, want eve's only (%v)", run, attempts, err)
		}
	}
	if r := late.do("GET", "/api/product/me", ""); r.status != 200 {
		t.Fatalf("the live session after the sweep: %d %s", r.status, r.raw)
	}
	if r := early.do("GET", "/api/product/me", ""); r.status != 401 {
		t.Fatalf("the expired session after the sweep: %d %s", r.status, r.raw)
	}
}

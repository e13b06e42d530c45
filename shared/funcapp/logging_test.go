package funcapp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"meterline/shared/funcapp"
)

// TestLogsAreWrittenOnceWhereTheHostKeepsTheirLevel: the real host files a custom handler's
// stderr lines as Error and its stdout lines as Information (azure-functions-host
// WorkerProcess, UseStdErrorStreamForErrorsOnly set by HttpWorkerDescription), and the Logs of
// a trigger invocation as Information, dropped when it fails (DefaultHttpWorkerService). So an
// Info record of a trigger invocation is in Logs only, a Warn or Error record on stderr only,
// and an Info record outside trigger invocations (a forwarded request) on stdout only.
func TestLogsAreWrittenOnceWhereTheHostKeepsTheirLevel(t *testing.T) {
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	app := funcapp.New("logctx")
	app.Logger = funcapp.NewLogger(stdout, stderr)
	app.ServiceBus("Apply", funcapp.ServiceBusTrigger{Topic: "t", Subscription: "s"}, func(ctx context.Context, m *funcapp.Message) error {
		funcapp.Logger(ctx).Info("applying", "subject", m.Subject)
		funcapp.Logger(ctx).Warn("odd message", "subject", m.Subject)
		if m.Subject == "fail" {
			return errors.New("storage unavailable")
		}
		return nil
	})
	app.HTTP("Hello", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "hello", AuthLevel: "anonymous"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		funcapp.Logger(r.Context()).Info("saying hello")
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"hello": "world"})
	}))
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()
	f := &fixture{srv: srv}

	status, out := f.invoke(t, "Apply", sbInvocation("ok", "m-1"))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, out)
	}
	logs := strings.Join(decodeResult(t, out).Logs, "\n")
	if !strings.Contains(logs, "INFO applying") || !strings.Contains(logs, `invocation_id="inv-Apply"`) || strings.Contains(logs, "odd message") {
		t.Errorf("Logs = %q, want the Info record (with the invocation id) and not the Warn one", logs)
	}
	if o := stdout.String(); strings.Contains(o, "applying") || strings.Contains(o, "odd message") {
		t.Errorf("stdout repeats the invocation's records: %s", o)
	}
	if e := stderr.String(); !strings.Contains(e, "odd message") || strings.Contains(e, "applying") {
		t.Errorf("stderr = %s, want the Warn record only", e)
	}

	// A failed invocation: the host drops its Logs, so the error must be on stderr.
	if status, _ := f.invoke(t, "Apply", sbInvocation("fail", "m-2")); status != http.StatusInternalServerError {
		t.Fatalf("failing invocation: status %d", status)
	}
	if e := stderr.String(); !strings.Contains(e, "handler failed") || !strings.Contains(e, "storage unavailable") {
		t.Errorf("stderr lacks the failure: %s", e)
	}

	resp, err := http.Get(srv.URL + "/api/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if o := stdout.String(); !strings.Contains(o, "saying hello") {
		t.Errorf("a forwarded request's Info record must go to stdout: %q", o)
	}
	if strings.Contains(stderr.String(), "saying hello") {
		t.Error("a forwarded request's Info record is on stderr, which the host files as Error")
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

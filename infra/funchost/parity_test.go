package funchost_test

// Parity with the real Functions host: one test per behaviour, each naming
// the azure-functions-host (or WebJobs SDK / extension) source it mirrors.
// The test handler's extra endpoints and hooks are in
// testdata/testhandler/parity.go.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/infra/funchost"
)

// logSink keeps every record an app logs, at every level.
type logSink struct {
	mu   sync.Mutex
	recs []capturedLog
}

type capturedLog struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func (c capturedLog) text() string {
	var b strings.Builder
	b.WriteString(c.Msg)
	for k, v := range c.Attrs {
		b.WriteString(" " + k + "=" + v)
	}
	return b.String()
}

type sinkHandler struct {
	sink  *logSink
	attrs []slog.Attr
	next  slog.Handler
}

func (h *sinkHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *sinkHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := capturedLog{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { rec.Attrs[a.Key] = a.Value.String(); return true })
	h.sink.mu.Lock()
	h.sink.recs = append(h.sink.recs, rec)
	h.sink.mu.Unlock()
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sinkHandler{sink: h.sink, attrs: append(slices.Clone(h.attrs), as...), next: h.next.WithAttrs(as)}
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }

// captureLogger logs through t (as testLogger does) and into a sink.
func captureLogger(t testing.TB) (*slog.Logger, *logSink) {
	s := &logSink{}
	return slog.New(&sinkHandler{sink: s, next: testLogger(t).Handler()}), s
}

func (s *logSink) find(pred func(capturedLog) bool) []capturedLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []capturedLog
	for _, r := range s.recs {
		if pred(r) {
			out = append(out, r)
		}
	}
	return out
}

// msgs are the records whose message contains sub.
func (s *logSink) msgs(sub string) []capturedLog {
	return s.find(func(r capturedLog) bool { return strings.Contains(r.Msg, sub) })
}

func loadAppLogged(t testing.TB, a *testApp, log *slog.Logger, env ...string) *funchost.App {
	t.Helper()
	app, err := funchost.Load(a.Dir, funchost.Options{
		SettingsFile: a.Settings, Env: append([]string{"PATH=" + os.Getenv("PATH")}, env...),
		Logger: log, TimerLockPoll: 200 * time.Millisecond, StartupTimeout: 20 * time.Second,
	})
	must(t, err)
	return app
}

// loadErr loads an app that must fail to load, and returns the error text.
func loadErr(t *testing.T, a *testApp, env ...string) string {
	t.Helper()
	_, err := funchost.Load(a.Dir, funchost.Options{SettingsFile: a.Settings, Env: env})
	if err == nil {
		t.Fatal("Load accepted the app")
	}
	return err.Error()
}

func loadOK(t *testing.T, a *testApp, env ...string) *funchost.App {
	t.Helper()
	app, err := funchost.Load(a.Dir, funchost.Options{SettingsFile: a.Settings, Env: env, Logger: testLogger(t)})
	must(t, err)
	return app
}

func fnByName(t *testing.T, app *funchost.App, name string) *funchost.Function {
	t.Helper()
	for _, f := range app.Functions {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no function %s in %v", name, app.Functions)
	return nil
}

const (
	hostNoBundle = `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"}}}`
	hostBundle   = `{"version":"2.0",` + extensionBundle + `,"customHandler":{"description":{"defaultExecutablePath":"handler"}}}`
	sbQueueFn    = `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"q","connection":"SB"}]}`
	httpAnonFn   = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"%s","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"}]}`
	sbConnValue  = "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=unused;UseDevelopmentEmulator=true;"
)

// Item 1. azure-functions-host ScriptHostBuilderExtensions.AddScriptHostCore
// registers only the built-in bindings (HTTP, timer); without extensionBundle
// FunctionDescriptorProvider.CreateBindingError fails Service Bus functions
// with "The binding type(s) '...' are not registered".
func TestParityExtensionBundleRequiredForServiceBus(t *testing.T) {
	values := map[string]string{"SB": sbConnValue, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
	a := newTestApp(t, hostNoBundle, map[string]string{
		"ProcessUsage": sbQueueFn,
		"Forward": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},
		  {"type":"serviceBus","direction":"out","name":"out","queueName":"q2","connection":"SB"}]}`,
	}, values)
	msg := loadErr(t, a)
	for _, want := range []string{
		"ProcessUsage/function.json: bindings: The binding type(s) 'serviceBusTrigger' are not registered. Please ensure the type is correct and the binding extension is installed.",
		"Forward/function.json: bindings: The binding type(s) 'serviceBus' are not registered.",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\ndoes not contain %q", msg, want)
		}
	}

	// HTTP and timer bindings are built in.
	b := newTestApp(t, hostNoBundle, map[string]string{
		"Ping": fmt.Sprintf(httpAnonFn, "ping"),
		"Tick": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 */5 * * * *"}]}`,
	}, values)
	if app := loadOK(t, b); len(app.Functions) != 2 || app.Config.ExtensionBundle != nil {
		t.Errorf("functions %v bundle %v", app.Functions, app.Config.ExtensionBundle)
	}
	// With the bundle the same Service Bus function loads.
	c := newTestApp(t, hostBundle, map[string]string{"ProcessUsage": sbQueueFn}, values)
	loadOK(t, c)
}

// Item 2. azure-functions-host WorkerProcess.ParseErrorMessageAndLog with
// UseStdErrorStreamForErrorsOnly (set by HttpWorkerDescription): stdout lines
// are Information, stderr lines Error, a stderr line containing "warn" Warning.
func TestParityHandlerOutputLevels(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"Ping": forwardedFn}, nil)
	log, sink := captureLogger(t)
	startHost(t, []*funchost.App{loadAppLogged(t, a, log, "TESTHANDLER_STDERR_LINES=parity stderr failure|parity Warning: disk low")}, nil)
	level := func(msg string) (slog.Level, string) {
		var got []capturedLog
		waitFor(t, 10*time.Second, "the handler line "+msg, func() bool { got = sink.msgs(msg); return len(got) > 0 })
		return got[0].Level, got[0].Attrs["stream"]
	}
	for _, c := range []struct {
		msg    string
		level  slog.Level
		stream string
	}{
		{"testhandler listening on", slog.LevelInfo, "stdout"},
		{"parity stderr failure", slog.LevelError, "stderr"},
		{"parity Warning: disk low", slog.LevelWarn, "stderr"},
	} {
		if l, s := level(c.msg); l != c.level || s != c.stream {
			t.Errorf("%q logged at %v from %q, want %v from %q", c.msg, l, s, c.level, c.stream)
		}
	}
}

// Item 3. azure-functions-host WebScriptHostExceptionHandler.OnTimeoutExceptionAsync
// -> RestartWorkerWithInvocationIdAsync: after functionTimeout (and a grace
// period) the worker process is restarted; a custom handler is one process,
// so another invocation in flight in it fails too. The host keeps serving.
func TestParityFunctionTimeoutRestartsHandler(t *testing.T) {
	host := `{"version":"2.0",` + extensionBundle + `,"functionTimeout":"00:00:04",
	  "extensions":{"serviceBus":{"maxConcurrentCalls":2}},"customHandler":{"description":{"defaultExecutablePath":"handler"}}}`
	a := newTestApp(t, host, map[string]string{"ProcessUsage": sbQueueFn}, map[string]string{"SB": sbConnValue})
	f := newFakeReceiver(time.Minute)
	f.maxDelivery = 1 // a failed message is dead-lettered, not run again
	f.send("slow", cmd("sleep", 60000, "slow"))
	log, sink := captureLogger(t)
	h, _ := startHost(t, []*funchost.App{loadAppLogged(t, a, log)}, withFake(f))
	first := funchost.HandlerPIDs(h)[0]

	waitFor(t, 20*time.Second, "the timeout of the slow invocation", func() bool {
		return len(sink.msgs("Timeout value of 00:00:04 exceeded by function 'Functions.ProcessUsage'")) > 0
	})
	// Sent now, it is in flight in the old process when the restart comes
	// (2 s later), long before its own timeout.
	f.send("inflight", cmd("sleep", 60000, "inflight"))
	waitFor(t, 20*time.Second, "a new handler process", func() bool {
		p := funchost.HandlerPIDs(h)[0]
		return p != 0 && p != first
	})
	waitFor(t, 20*time.Second, "both messages to fail", func() bool { _, _, d := f.snapshot(); return len(d) == 2 })

	failed := sink.msgs("Executed 'Functions.ProcessUsage' (Failed")
	var timeouts, killed int
	for _, r := range failed {
		if strings.Contains(r.Attrs["err"], "Timeout value of 00:00:04 was exceeded by function: Functions.ProcessUsage") {
			timeouts++
		} else {
			killed++
		}
	}
	if timeouts != 1 || killed != 1 {
		t.Errorf("want one timed-out and one killed invocation, got %d and %d: %+v", timeouts, killed, failed)
	}
	if len(sink.msgs("A function timeout has occurred. Restarting worker process")) != 1 {
		t.Errorf("restart not logged")
	}

	f.send("after", cmd("ok", 0, "after"))
	waitFor(t, 20*time.Second, "a message after the restart", func() bool { c, _, _ := f.snapshot(); return slices.Contains(c, "after") })
	for _, inv := range readRecord(t, a.Record) {
		if inv.Key == "after" && inv.PID == first {
			t.Errorf("the message after the restart ran in the old process %d", first)
		}
	}
}

// Item 4. azure-functions-host DefaultHttpWorkerService.CreateHttpClient:
// AllowAutoRedirect=false when enableForwardingHttpRequest is on, so the
// handler's 3xx reaches the caller with its Location.
func TestParityForwardingRelaysRedirects(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"Redirect": fmt.Sprintf(httpAnonFn, "parity/redirect")}, nil)
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(h.URL() + "/api/parity/redirect")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/api/parity/target?from=redirect" {
		t.Fatalf("got %d Location %q, want the handler's 302", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, inv := range readRecord(t, a.Record) {
		if inv.Fn == "followed" {
			t.Errorf("the host followed the handler's redirect")
		}
	}
}

// Item 5. azure-functions-host HttpRequestExtensions.ToHttpRequestMessage and
// DefaultHttpWorkerService.AddHeaders: the forwarded query is rebuilt from the
// parsed collection (a key once, values joined with ","), the host's product
// token is appended to User-Agent, and the body is copied only with a
// Content-Length (a chunked request fails the invocation).
func TestParityForwardedRequestRebuilt(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"GetCustomer": forwardedFn}, nil)
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)

	resp, body := do(t, http.MethodPost, h.URL()+"/api/customers/7?a=1&b=x+y&A=2", "hello", "User-Agent", "parity-agent/1.0", "Content-Type", "text/plain")
	var got map[string]string
	must(t, json.Unmarshal([]byte(body), &got))
	if resp.StatusCode != http.StatusAccepted || got["query"] != "a=1%2C2&b=x%20y" || got["body"] != "hello" || got["contentType"] != "text/plain" {
		t.Errorf("handler saw %d %v", resp.StatusCode, got)
	}
	if got["userAgent"] != "parity-agent/1.0 Azure-Functions-Host/4.0.0-funchost" {
		t.Errorf("User-Agent %q", got["userAgent"])
	}

	// A chunked body has no Content-Length: the invocation fails and the
	// handler never sees the request.
	before := len(readRecord(t, a.Record))
	req, err := http.NewRequest(http.MethodPost, h.URL()+"/api/customers/7", io.MultiReader(strings.NewReader("chunked body")))
	must(t, err)
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || len(readRecord(t, a.Record)) != before {
		t.Errorf("chunked request: %d, handler records %d -> %d", resp.StatusCode, before, len(readRecord(t, a.Record)))
	}
}

// Item 6a. azure-functions-host WorkerProcess.OnProcessExited: exit code 0 is
// not an error and the worker is not restarted, so invocations then fail.
func TestParityWorkerExitCode0NotRestarted(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"GetCustomer": forwardedFn}, nil)
	exitFile := filepath.Join(t.TempDir(), "exit")
	log, sink := captureLogger(t)
	h, _ := startHost(t, []*funchost.App{loadAppLogged(t, a, log, "TESTHANDLER_EXIT_FILE="+exitFile, "TESTHANDLER_EXIT_CODE=0")}, nil)
	must(t, os.WriteFile(exitFile, nil, 0o644))
	waitFor(t, 10*time.Second, "the clean exit to be logged", func() bool { return len(sink.msgs("custom handler exited with code 0")) > 0 })
	if resp, body := get(t, h.URL()+"/api/customers/1"); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("invocation after a clean exit: %d %s, want 500", resp.StatusCode, body)
	}
	if p := funchost.HandlerPIDs(h)[0]; p != 0 || len(sink.msgs("custom handler started")) != 1 {
		t.Errorf("handler restarted after exit code 0 (pid %d, %d starts)", p, len(sink.msgs("custom handler started")))
	}
}

// Item 6b. azure-functions-host HttpFunctionInvocationDispatcher.
// AddOrUpdateErrorBucket: the third worker error within
// WorkerRestartErrorIntervalThresholdInMinutes stops the host with
// "Exceeded http worker restart retry count".
func TestParityWorkerThreeCrashesStopHost(t *testing.T) {
	a := sbApp(t, 1, "")
	f := newFakeReceiver(time.Minute)
	f.send("crasher", cmd("crash", 0, "crasher")) // redelivered after each crash
	h, err := funchost.NewHost([]*funchost.App{loadApp(t, a)}, funchost.HostOptions{HTTPAddr: "127.0.0.1:0", Logger: testLogger(t)})
	must(t, err)
	withFake(f)(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err == nil || !strings.Contains(err.Error(), "Exceeded http worker restart retry count. Shutting down Functions Host") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the host kept running after repeated crashes")
	}
	pids := map[int]bool{}
	for _, inv := range readRecord(t, a.Record) {
		if inv.Outcome == "crashed" {
			pids[inv.PID] = true
		}
	}
	if len(pids) != 3 {
		t.Errorf("want 3 crashes in 3 processes before the host stops, got %v", pids)
	}
}

// Item 6c. azure-functions-host WorkerProcess.OnProcessExited: exit code 200
// asks for a restart, which is not counted as an error.
func TestParityWorkerExit200RestartsWithoutCounting(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"GetCustomer": forwardedFn}, nil)
	exitFile := filepath.Join(t.TempDir(), "exit")
	h, _ := startHost(t, []*funchost.App{loadApp(t, a, "TESTHANDLER_EXIT_FILE="+exitFile, "TESTHANDLER_EXIT_CODE=200")}, nil)
	prev := funchost.HandlerPIDs(h)[0]
	for i := range 4 { // more than the 3 errors that would stop the host
		must(t, os.WriteFile(exitFile, nil, 0o644))
		waitFor(t, 20*time.Second, fmt.Sprintf("restart %d", i+1), func() bool {
			p := funchost.HandlerPIDs(h)[0]
			return p != 0 && p != prev
		})
		prev = funchost.HandlerPIDs(h)[0]
		if resp, body := get(t, h.URL()+"/api/customers/1"); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("after restart %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
}

// Item 7. azure-functions-host DefaultHttpWorkerService.
// ProcessDefaultInvocationRequest: EnsureSuccessStatusCode throws on a
// non-2xx answer, so its body and Logs are never read or logged.
// FUNCHOST_DEBUG_FAILED_RESPONSES (local only) shows them at Debug.
func TestParityFailedResponseDetailsDropped(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprint("debug=", debug), func(t *testing.T) {
			values := map[string]string{}
			if debug {
				values["FUNCHOST_DEBUG_FAILED_RESPONSES"] = "true"
			}
			a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{"ParityFail": fmt.Sprintf(httpAnonFn, "fail")}, values)
			log, sink := captureLogger(t)
			h, _ := startHost(t, []*funchost.App{loadAppLogged(t, a, log)}, nil)
			if resp, _ := do(t, http.MethodPost, h.URL()+"/api/fail", "{}"); resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500", resp.StatusCode)
			}
			var failed []capturedLog
			waitFor(t, 10*time.Second, "the failure log", func() bool {
				failed = sink.msgs("Executed 'Functions.ParityFail' (Failed")
				return len(failed) == 1
			})
			if e := failed[0].Attrs["err"]; e != "Response status code does not indicate success: 500 (Internal Server Error)." {
				t.Errorf("err %q", e)
			}
			leaked := sink.find(func(r capturedLog) bool { return strings.Contains(r.text(), "parity secret") })
			switch {
			case !debug && len(leaked) != 0:
				t.Errorf("the failed answer's body or Logs were logged: %+v", leaked)
			case debug && (len(leaked) != 1 || leaked[0].Level != slog.LevelDebug || !strings.Contains(leaked[0].Attrs["body"], "parity secret log line")):
				t.Errorf("with the debug setting want one Debug record with the body, got %+v", leaked)
			}
		})
	}
}

// writeStatus writes a timer status blob as a host that ran before would have.
func writeStatus(t *testing.T, conn, hostID, function string, last, next time.Time) {
	t.Helper()
	c, err := azblob.NewClientFromConnectionString(conn, nil)
	must(t, err)
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, "azure-webjobs-hosts", nil); err != nil && !strings.Contains(err.Error(), "ContainerAlreadyExists") {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"Last": last.UTC().Format(time.RFC3339Nano), "Next": next.UTC().Format(time.RFC3339Nano), "LastUpdated": last.UTC().Format(time.RFC3339Nano)})
	_, err = c.UploadBuffer(ctx, "azure-webjobs-hosts", funchost.TimerStatusBlob(hostID, function), b, nil)
	must(t, err)
}

// Item 8a. azure-webjobs-sdk-extensions ScheduleMonitor.CheckPastDueAsync:
// when the stored Next does not follow from Last under the current schedule,
// the schedule has changed: Next is recomputed and nothing runs past due.
// An unchanged schedule whose Next has passed does run past due.
func TestParityTimerScheduleChangeIsNotPastDue(t *testing.T) {
	az := azuritetest.Start(t)
	timer := `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"01:00:00","useMonitor":true}]}`
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{"Changed": timer, "Unchanged": timer},
		map[string]string{"AzureWebJobsStorage": az.ConnectionString(), "AzureFunctionsWebHost__hostid": "meterline-test"})
	now := time.Now().UTC().Truncate(time.Second)
	// Changed ran 10 minutes ago under a 5-minute schedule; now it is hourly.
	writeStatus(t, az.ConnectionString(), "meterline-test", "Changed", now.Add(-10*time.Minute), now.Add(-5*time.Minute))
	// Unchanged ran 2 hours ago, hourly, and missed its Next an hour ago.
	writeStatus(t, az.ConnectionString(), "meterline-test", "Unchanged", now.Add(-2*time.Hour), now.Add(-time.Hour))

	log, sink := captureLogger(t)
	startHost(t, []*funchost.App{loadAppLogged(t, a, log)}, nil)
	for _, fn := range []string{"Changed", "Unchanged"} {
		waitFor(t, 20*time.Second, fn+"'s next occurrence", func() bool {
			return len(sink.msgs("The next occurrence of the 'Functions."+fn+"' schedule")) > 0
		})
	}
	runs := map[string][]timerData{}
	for _, inv := range readRecord(t, a.Record) {
		var d timerData
		must(t, json.Unmarshal(inv.Request, &d))
		runs[inv.Fn] = append(runs[inv.Fn], d)
	}
	if len(runs["Changed"]) != 0 {
		t.Errorf("a changed schedule ran past due: %+v", runs["Changed"])
	}
	if len(runs["Unchanged"]) != 1 || !runs["Unchanged"][0].Data.Timer.IsPastDue {
		t.Errorf("the missed occurrence must run once, past due: %+v", runs["Unchanged"])
	}
	st := readStatusBlob(t, az.ConnectionString(), "Changed")
	if next, err := time.Parse(time.RFC3339Nano, st["Next"]); err != nil || !next.Equal(now.Add(50*time.Minute)) {
		t.Errorf("recomputed Next %q, want Last + 1 h = %s", st["Next"], now.Add(50*time.Minute).Format(time.RFC3339))
	}
	if len(sink.msgs("timer schedule changed since the status was written")) != 1 {
		t.Errorf("the schedule change is not logged once")
	}
}

// Item 8b. The timer extension evaluates NCRONTAB in the process's local time
// zone, which App Service sets from WEBSITE_TIME_ZONE (or TZ); an unknown
// zone is a load error.
func TestParityTimerTimeZone(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{
		"Tick": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 9 * * *"}]}`,
	}, map[string]string{"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
	jan, jul := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		env            []string
		wantJan, wantJ string
	}{
		{nil, "2026-01-15T09:00:00Z", "2026-07-15T09:00:00Z"},
		{[]string{"WEBSITE_TIME_ZONE=Europe/Berlin"}, "2026-01-15T08:00:00Z", "2026-07-15T07:00:00Z"},
		{[]string{"TZ=:America/New_York"}, "2026-01-15T14:00:00Z", "2026-07-15T13:00:00Z"},
		{[]string{"WEBSITE_TIME_ZONE=Europe/Berlin", "TZ=America/New_York"}, "2026-01-15T08:00:00Z", "2026-07-15T07:00:00Z"},
	} {
		s := fnByName(t, loadOK(t, a, c.env...), "Tick").Schedule
		if got, got2 := s.Next(jan).UTC().Format(time.RFC3339), s.Next(jul).UTC().Format(time.RFC3339); got != c.wantJan || got2 != c.wantJ {
			t.Errorf("%v: next 09:00 is %s and %s, want %s and %s", c.env, got, got2, c.wantJan, c.wantJ)
		}
	}
	if msg := loadErr(t, a, "WEBSITE_TIME_ZONE=W. Europe Standard Time"); !strings.Contains(msg, `local.settings.json: Values.WEBSITE_TIME_ZONE: unknown time zone "W. Europe Standard Time"`) {
		t.Errorf("error %q", msg)
	}
}

// Item 9a. Microsoft.Azure.WebJobs.Extensions.ServiceBus ServiceBusOptions:
// MaxConcurrentCalls defaults to 16 * Utility.GetProcessorCount().
func TestParityDefaultMaxConcurrentCalls(t *testing.T) {
	a := newTestApp(t, hostBundle, map[string]string{"Ping": fmt.Sprintf(httpAnonFn, "ping")}, nil)
	if got, want := loadOK(t, a).Config.ServiceBus.MaxConcurrentCalls, 16*runtime.NumCPU(); got != want {
		t.Errorf("maxConcurrentCalls default %d, want %d", got, want)
	}
}

// Item 9b. azure-functions-host ScriptJobHostOptionsSetup: functionTimeout
// defaults to 30 minutes (-1: none); on Consumption (WEBSITE_SKU=Dynamic) to
// 5 minutes, at most 10, with ValidateTimeoutValue's message.
func TestParityFunctionTimeoutDefaults(t *testing.T) {
	hostWith := func(timeout string) *testApp {
		h := hostBundle
		if timeout != "" {
			h = strings.Replace(h, `"version":"2.0",`, `"version":"2.0","functionTimeout":"`+timeout+`",`, 1)
		}
		return newTestApp(t, h, map[string]string{"Ping": fmt.Sprintf(httpAnonFn, "ping")}, nil)
	}
	for _, c := range []struct {
		timeout, sku string
		want         time.Duration
	}{
		{"", "", 30 * time.Minute},
		{"-1", "", 0},
		{"", "Dynamic", 5 * time.Minute},
		{"00:10:00", "Dynamic", 10 * time.Minute},
	} {
		if got := loadOK(t, hostWith(c.timeout), "WEBSITE_SKU="+c.sku).Config.FunctionTimeout; got != c.want {
			t.Errorf("functionTimeout %q on %q: %s, want %s", c.timeout, c.sku, got, c.want)
		}
	}
	for _, timeout := range []string{"00:10:01", "-1"} {
		msg := loadErr(t, hostWith(timeout), "WEBSITE_SKU=Dynamic")
		if !strings.Contains(msg, "host.json: functionTimeout: FunctionTimeout must be greater than 00:00:01 and less than 00:10:00.") {
			t.Errorf("functionTimeout %q on Consumption: %q", timeout, msg)
		}
	}
}

// Item 9c. azure-webjobs-sdk FunctionIndexer.IsDisabled (via the host's
// IsDisabled): AzureWebJobs.<Name>.Disabled and, for Linux environment
// variables, AzureWebJobs_<Name>_Disabled, "true" or "1".
func TestParityDisabledSettings(t *testing.T) {
	fns := map[string]string{}
	for _, n := range []string{"A", "B", "C", "D"} {
		fns[n] = fmt.Sprintf(httpAnonFn, strings.ToLower(n))
	}
	a := newTestApp(t, hostBundle, fns, map[string]string{"AzureWebJobs.C.Disabled": "1", "AzureWebJobs_D_Disabled": "false"})
	app := loadOK(t, a, "AzureWebJobs_B_Disabled=True")
	var names []string
	for _, f := range app.Functions {
		names = append(names, f.Name)
	}
	if slices.Sort(names); fmt.Sprint(names) != "[A D]" {
		t.Errorf("enabled functions %v, want [A D]", names)
	}
}

// Item 9d. Microsoft.Azure.WebJobs.Extensions.ServiceBus
// ConfigurationExtensions.GetWebJobsConnectionStringSectionServiceBus (the
// name itself first, then AzureWebJobs<name>, "intentionally flipped" from
// the WebJobs order) and ServiceBusClientFactory.ResolveConnectionInformation
// (<name>__fullyQualifiedNamespace for identity-based connections).
func TestParityServiceBusConnectionLookup(t *testing.T) {
	conn := func(values map[string]string, def string) (string, string) {
		a := newTestApp(t, hostBundle, map[string]string{"ProcessUsage": def}, values)
		app, err := funchost.Load(a.Dir, funchost.Options{SettingsFile: a.Settings, Env: []string{}})
		if err != nil {
			return "", err.Error()
		}
		return app.Functions[0].ServiceBusConnection, ""
	}
	noName := `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"q"}]}`
	cases := []struct {
		name    string
		values  map[string]string
		def     string
		want    string // connection string, or
		wantErr string
	}{
		{"name before prefixed", map[string]string{"SB": "Endpoint=sb://plain/", "AzureWebJobsSB": "Endpoint=sb://prefixed/"}, sbQueueFn, "Endpoint=sb://plain/", ""},
		{"prefixed fallback", map[string]string{"AzureWebJobsSB": "Endpoint=sb://prefixed/"}, sbQueueFn, "Endpoint=sb://prefixed/", ""},
		{"default name", map[string]string{"AzureWebJobsServiceBus": "Endpoint=sb://default/"}, noName, "Endpoint=sb://default/", ""},
		{"identity on loopback", map[string]string{"SB__fullyQualifiedNamespace": "127.0.0.1:5672"}, sbQueueFn,
			"Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=local-emulator;UseDevelopmentEmulator=true;", ""},
		{"identity in Azure", map[string]string{"SB__fullyQualifiedNamespace": "meterline.servicebus.windows.net"}, sbQueueFn, "",
			"setting SB__fullyQualifiedNamespace (meterline.servicebus.windows.net) is an identity-based connection"},
		{"section without namespace", map[string]string{"SB__clientId": "x"}, sbQueueFn, "",
			"Connection should have an 'fullyQualifiedNamespace' property or be a string representing a connection string."},
		{"missing", map[string]string{}, sbQueueFn, "",
			"Service Bus account connection string with name 'SB' does not exist in the settings."},
	}
	for _, c := range cases {
		got, err := conn(c.values, c.def)
		if got != c.want || !strings.Contains(err, c.wantErr) || (c.wantErr == "") != (err == "") {
			t.Errorf("%s: connection %q error %q, want %q / %q", c.name, got, err, c.want, c.wantErr)
		}
	}
}

// Item 9e (loading half; outputMessages is checked in parity_more_test.go).
// azure-functions-host HttpScriptInvocationResultExtensions.GetBindingValue:
// an output string is tried as base64 unless the binding's dataType is binary.
func TestParityServiceBusOutputDataType(t *testing.T) {
	out := func(dt string) string {
		return `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},
		  {"type":"serviceBus","direction":"out","name":"out","queueName":"q","connection":"SB"` + dt + `}]}`
	}
	a := newTestApp(t, hostBundle, map[string]string{"Plain": out(""), "Bin": out(`,"dataType":"binary"`)}, map[string]string{"SB": sbConnValue})
	app := loadOK(t, a)
	if p, b := fnByName(t, app, "Plain").ServiceBusOutputs, fnByName(t, app, "Bin").ServiceBusOutputs; len(p) != 1 || p[0].Binary || len(b) != 1 || !b[0].Binary {
		t.Errorf("outputs %+v %+v", p, b)
	}
}

// Item 10a. azure-webjobs-sdk FunctionExecutorExtensions.TryExecuteAsync with
// host.json retry, and ScriptInvocationContextExtensions' RetryContext: a
// failed timer run is run again, Metadata.RetryContext telling which attempt.
func TestParityTimerRetryPolicy(t *testing.T) {
	az := azuritetest.Start(t)
	host := `{"version":"2.0",` + extensionBundle + `,"retry":{"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"00:00:00.2"},
	  "customHandler":{"description":{"defaultExecutablePath":"handler"}}}`
	a := newTestApp(t, host, map[string]string{
		"ParityFlaky": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"365.00:00:00","useMonitor":false,"runOnStartup":true}]}`,
	}, map[string]string{"AzureWebJobsStorage": az.ConnectionString()})
	log, sink := captureLogger(t)
	startHost(t, []*funchost.App{loadAppLogged(t, a, log)}, nil)
	waitFor(t, 20*time.Second, "a successful attempt", func() bool { return len(sink.msgs("Executed 'Functions.ParityFlaky' (Succeeded")) == 1 })

	recs := readRecord(t, a.Record)
	if len(recs) != 3 {
		t.Fatalf("want 2 failures and 1 success, got %d attempts", len(recs))
	}
	for i, inv := range recs {
		var req struct {
			Metadata struct {
				RetryContext *struct {
					RetryCount, MaxRetryCount int
					Exception                 *struct{ Message string }
				}
			}
		}
		must(t, json.Unmarshal(inv.Request, &req))
		rc := req.Metadata.RetryContext
		switch {
		case rc == nil:
			t.Errorf("attempt %d: no RetryContext", i)
		case rc.RetryCount != i || rc.MaxRetryCount != 3:
			t.Errorf("attempt %d: RetryContext %+v", i, rc)
		case i == 0 && rc.Exception != nil:
			t.Errorf("first attempt carries an exception %+v", rc.Exception)
		case i > 0 && (rc.Exception == nil || !strings.Contains(rc.Exception.Message, "Response status code does not indicate success: 500")):
			t.Errorf("attempt %d: exception %+v", i, rc.Exception)
		}
	}
}

// Item 10b. azure-webjobs-sdk SupportsRetryAttribute: a retry policy on a
// trigger that does not support one is not applied, with a warning.
func TestParityRetryIgnoredForNonTimerTriggers(t *testing.T) {
	host := strings.Replace(hostBundle, `"version":"2.0",`, `"version":"2.0","retry":{"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"00:00:01"},`, 1)
	a := newTestApp(t, host, map[string]string{"Ping": fmt.Sprintf(httpAnonFn, "ping"), "ProcessUsage": sbQueueFn}, map[string]string{"SB": sbConnValue})
	log, sink := captureLogger(t)
	app := loadAppLogged(t, a, log)
	for _, f := range app.Functions {
		if f.Retry != nil {
			t.Errorf("%s kept a retry policy", f.Name)
		}
	}
	warned := sink.find(func(r capturedLog) bool {
		return r.Level == slog.LevelWarn && strings.HasPrefix(r.Msg, "retry policy not applied")
	})
	if len(warned) != 2 {
		t.Errorf("want one warning per function, got %+v", warned)
	}
}

// Item 10c. Service Bus extension: with autoCompleteMessages false only .NET
// functions get ServiceBusMessageActions to settle; a custom handler cannot,
// so it is refused, in host.json (both spellings) and function.json.
func TestParityAutoCompleteMessagesRefused(t *testing.T) {
	withSB := func(sb string) string {
		return strings.Replace(hostBundle, `"version":"2.0",`, `"version":"2.0","extensions":{"serviceBus":`+sb+`},`, 1)
	}
	for _, c := range []struct{ host, fn, want string }{
		{withSB(`{"autoCompleteMessages":false}`), sbQueueFn, "host.json: extensions.serviceBus.autoCompleteMessages: false cannot work with a custom handler"},
		{withSB(`{"messageHandlerOptions":{"autoComplete":false}}`), sbQueueFn, "host.json: extensions.serviceBus.autoCompleteMessages: false cannot work with a custom handler"},
		{hostBundle, strings.Replace(sbQueueFn, `"connection"`, `"autoCompleteMessages":false,"connection"`, 1),
			"ProcessUsage/function.json: bindings[0].autoCompleteMessages: false cannot work with a custom handler"},
	} {
		a := newTestApp(t, c.host, map[string]string{"ProcessUsage": c.fn}, map[string]string{"SB": sbConnValue})
		if msg := loadErr(t, a); !strings.Contains(msg, c.want) {
			t.Errorf("error %q\ndoes not contain %q", msg, c.want)
		}
	}
}

// Item 11. azure-functions-host HostController (GET admin/host/status needs
// the master key; admin/host/ping is anonymous) and FunctionsController.Invoke
// (POST admin/functions/{name} runs a non-HTTP function and answers 202).
func TestParityAdminAPI(t *testing.T) {
	az := azuritetest.Start(t)
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{
		"Tick": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"365.00:00:00","useMonitor":false}]}`,
	}, map[string]string{"AzureWebJobsStorage": az.ConnectionString(), "AzureFunctionsWebHost__hostid": "parity-admin",
		"FUNCHOST_MASTER_KEY": "parity-master", "FUNCHOST_FUNCTION_KEY": "parity-fn"})
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	master := []string{"x-functions-key", "parity-master"}

	if resp, _ := get(t, h.URL()+"/admin/host/ping"); resp.StatusCode != http.StatusOK {
		t.Errorf("ping: %d", resp.StatusCode)
	}
	for _, key := range [][]string{nil, {"x-functions-key", "parity-fn"}} {
		if resp, _ := get(t, h.URL()+"/admin/host/status", key...); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status with key %v: %d, want 401", key, resp.StatusCode)
		}
	}
	resp, body := get(t, h.URL()+"/admin/host/status", master...)
	var st map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || st["state"] != "Running" || st["id"] != "parity-admin" {
		t.Errorf("status with the master key: %d %s", resp.StatusCode, body)
	}

	if resp, _ := do(t, http.MethodPost, h.URL()+"/admin/functions/Tick", `{"input":""}`); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("invoke without a key: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, http.MethodPost, h.URL()+"/admin/functions/Nope", `{"input":""}`, master...); resp.StatusCode != http.StatusNotFound {
		t.Errorf("invoke of an unknown function: %d, want 404", resp.StatusCode)
	}
	if len(readRecord(t, a.Record)) != 0 {
		t.Fatal("the timer ran before it was asked to")
	}
	if resp, body := do(t, http.MethodPost, h.URL()+"/admin/functions/Tick", `{"input":""}`, master...); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("invoke: %d %s, want 202", resp.StatusCode, body)
	}
	waitFor(t, 10*time.Second, "the run on demand", func() bool { return len(readRecord(t, a.Record)) == 1 })
	if inv := readRecord(t, a.Record)[0]; inv.Fn != "Tick" || inv.Outcome != "ok" {
		t.Errorf("run on demand: %+v", inv)
	}
}

// Item 12. azure-functions-host HttpWorkerDescription.ApplyDefaultsAndValidate:
// a relative defaultExecutablePath is taken from the app root (the worker
// directory), not from workingDirectory, which is only the process's
// current directory.
func TestParityExecutableFromAppRoot(t *testing.T) {
	host := `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"%s","workingDirectory":"work"},"enableForwardingHttpRequest":true}}`
	a := newTestApp(t, fmt.Sprintf(host, "handler"), map[string]string{"GetCustomer": forwardedFn}, nil)
	work := filepath.Join(a.Dir, "work")
	must(t, os.MkdirAll(work, 0o755))
	app := loadApp(t, a)
	if app.Config.Executable != filepath.Join(a.Dir, "handler") || app.Config.WorkingDir != work {
		t.Fatalf("executable %q, working directory %q", app.Config.Executable, app.Config.WorkingDir)
	}
	h, _ := startHost(t, []*funchost.App{app}, nil)
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", funchost.HandlerPIDs(h)[0])); err != nil || cwd != work {
		t.Errorf("handler runs in %q (%v), want %q", cwd, err, work)
	}

	// An executable only in workingDirectory is not found.
	raw, err := os.ReadFile(filepath.Join(a.Dir, "handler"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(work, "parity-only-in-work"), raw, 0o755))
	must(t, os.WriteFile(filepath.Join(a.Dir, "host.json"), []byte(fmt.Sprintf(host, "parity-only-in-work")), 0o644))
	if msg := loadErr(t, a); !strings.Contains(msg, "host.json: customHandler.description.defaultExecutablePath:") ||
		!strings.Contains(msg, "not from workingDirectory") {
		t.Errorf("error %q", msg)
	}
}

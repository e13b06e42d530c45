package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HostOptions tune a Host.
type HostOptions struct {
	// HTTPAddr is where httpTrigger functions are served; empty means
	// 127.0.0.1:7071 (func's port). Use "127.0.0.1:0" for a free port.
	HTTPAddr string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// DrainTimeout bounds how long running invocations may finish after
	// shutdown starts, before they are cancelled; zero means 10 s.
	DrainTimeout time.Duration
}

// Host runs one or more apps: one handler process per app, and every app's
// HTTP routes on one listener.
type Host struct {
	apps  []*appRuntime
	opt   HostOptions
	log   *slog.Logger
	ln    net.Listener
	http  *httpRouter
	ready chan struct{}

	// invokeCtx is the context invocations run under (set by Run).
	invokeCtx context.Context
	// onDemand counts runs started through the admin API.
	onDemand sync.WaitGroup
	// keysLoaded is closed once every app's function keys are loaded.
	keysLoaded chan struct{}

	// observe, when set (tests and benchmarks), receives the timing of every
	// Service Bus invocation.
	observe func(invocationTiming)
	// openReceiver replaces azservicebus in unit tests.
	openReceiver openReceiver
}

// appRuntime is an app with its handler process.
type appRuntime struct {
	*App
	worker  *worker
	host    *Host
	outputs outputSenders
	keys    *appKeys // set by Run before anything is served
	// debugFailures: FUNCHOST_DEBUG_FAILED_RESPONSES shows what the handler
	// answered with a non-2xx status, which Azure never shows.
	debugFailures bool
}

// debugFailuresSetting turns on logging (at Debug level) of the status, body
// and Logs of a failed invocation's answer: a local debugging aid only, since
// the real host discards them.
const debugFailuresSetting = "FUNCHOST_DEBUG_FAILED_RESPONSES"

// NewHost checks that the apps fit together (no route served twice) and
// listens on the HTTP address.
func NewHost(apps []*App, opt HostOptions) (*Host, error) {
	if len(apps) == 0 {
		return nil, errors.New("funchost: no app")
	}
	h := &Host{opt: opt, log: opt.Logger, ready: make(chan struct{}), keysLoaded: make(chan struct{})}
	if h.log == nil {
		h.log = slog.Default()
	}
	names := map[string]string{}
	for _, a := range apps {
		for _, f := range a.Functions {
			if other, ok := names[strings.ToLower(f.Name)]; ok && other != a.Dir {
				h.log.Warn("function name used by two apps", "function", f.Name, "apps", []string{other, a.Dir})
			}
			names[strings.ToLower(f.Name)] = a.Dir
		}
		rt := &appRuntime{App: a, host: h}
		w, err := newWorker(a)
		if err != nil {
			return nil, err
		}
		rt.worker = w
		rt.debugFailures = a.Settings.Enabled(debugFailuresSetting)
		h.apps = append(h.apps, rt)
	}
	router, err := newHTTPRouter(h.apps)
	if err != nil {
		return nil, err
	}
	router.admin = &adminAPI{host: h, started: time.Now()}
	h.http = router
	addr := opt.HTTPAddr
	if addr == "" {
		addr = "127.0.0.1:7071"
	}
	h.ln, err = net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("funchost: listen for HTTP triggers: %w", err)
	}
	return h, nil
}

// URL is the base URL of the HTTP listener, e.g. http://127.0.0.1:7071.
func (h *Host) URL() string { return "http://" + h.ln.Addr().String() }

// Ready is closed once every app's handler has answered and every trigger
// listener has started.
func (h *Host) Ready() <-chan struct{} { return h.ready }

// Keys returns every app's function keys (nil until Run has loaded them):
// what a caller needs for function- and admin-level routes and the admin API.
func (h *Host) Keys() []AppKeys {
	select {
	case <-h.keysLoaded:
	default:
		return nil
	}
	var out []AppKeys
	for _, a := range h.apps {
		k := a.keys.AppKeys
		out = append(out, k)
	}
	return out
}

// Run runs every app until ctx ends, then stops receiving, lets running
// invocations finish (up to DrainTimeout), and stops the handlers.
func (h *Host) Run(parent context.Context) error {
	// ctx ends when the caller stops the host or an app cannot start.
	ctx, stopTriggers := context.WithCancel(parent)
	defer stopTriggers()
	workerCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	invokeCtx, stopInvocations := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInvocations()
	h.invokeCtx = invokeCtx

	// Keys first: nothing is served before they can be checked.
	for _, a := range h.apps {
		k, err := loadKeys(ctx, a.App, h.ln.Addr().String())
		if err != nil {
			h.ln.Close()
			return fmt.Errorf("app %s: function keys: %w", a.Dir, err)
		}
		a.keys = k
	}
	close(h.keysLoaded)

	var workers sync.WaitGroup
	workerFailed := make(chan error, len(h.apps))
	for _, a := range h.apps {
		workers.Add(1)
		go func() {
			defer workers.Done()
			if err := a.worker.run(workerCtx); err != nil {
				workerFailed <- fmt.Errorf("app %s: %w", a.Dir, err)
			}
		}()
	}

	srv := &http.Server{Handler: h.http, ReadHeaderTimeout: 30 * time.Second, BaseContext: func(net.Listener) context.Context { return invokeCtx }}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(h.ln) }()

	var triggers sync.WaitGroup
	var startErr error
	for _, a := range h.apps {
		for _, f := range a.Functions {
			switch strings.ToLower(f.Trigger.Type) {
			case "servicebustrigger":
				l, err := newServiceBusListener(a, f)
				if err != nil {
					startErr = errors.Join(startErr, err)
					continue
				}
				triggers.Add(1)
				go func() { defer triggers.Done(); l.run(ctx, invokeCtx) }()
			case "timertrigger":
				t, err := newTimerListener(a, f)
				if err != nil {
					startErr = errors.Join(startErr, err)
					continue
				}
				triggers.Add(1)
				go func() { defer triggers.Done(); t.run(ctx, invokeCtx) }()
			}
		}
	}
	if startErr == nil {
		go func() {
			for _, a := range h.apps {
				if _, err := a.worker.endpoint(ctx); err != nil {
					return
				}
			}
			h.log.Info("host started", "http", h.URL(), "apps", len(h.apps))
			close(h.ready)
		}()
		select {
		case <-ctx.Done():
		case err := <-workerFailed:
			startErr = err
		}
	}

	// Shutdown: stop taking new work, drain, then stop the handlers.
	stopTriggers()
	drain := h.opt.DrainTimeout
	if drain == 0 {
		drain = 10 * time.Second
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain)
	_ = srv.Shutdown(shutdownCtx) // waits for HTTP invocations in flight
	cancel()
	drained := make(chan struct{})
	go func() { triggers.Wait(); h.onDemand.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drain):
		stopInvocations()
		<-drained
	}
	stopInvocations()
	stopWorkers()
	workers.Wait()
	for _, a := range h.apps {
		a.outputs.close()
	}
	<-srvDone
	return startErr
}

// Run runs a single app with default host options (HTTP on 127.0.0.1:7071).
func (a *App) Run(ctx context.Context) error {
	h, err := NewHost([]*App{a}, HostOptions{Logger: a.log})
	if err != nil {
		return err
	}
	return h.Run(ctx)
}

// invocationTiming is what the benchmark measures.
type invocationTiming struct {
	Function        string
	Received        time.Time     // message handed to the host by the SDK
	Answered        time.Time     // handler's response read
	Settled         time.Time     // complete/abandon acknowledged
	HandlerReported time.Duration // X-Handler-Duration from the test handler, if any
	Succeeded       bool
}

// invocationResult is the outcome of one call to the handler.
type invocationResult struct {
	ID       string
	Response *invocationResponse
	Header   http.Header
}

// invoke runs one invocation, with the func-style log lines around it. A
// non-2xx answer, a transport error or the function timeout fail it.
func (a *appRuntime) invoke(ctx context.Context, fn *Function, reason string, req *invocationRequest) (*invocationResult, error) {
	id := newGUID()
	log := a.log.With("app", a.Name, "function", "Functions."+fn.Name, "invocationId", id)
	log.Info(fmt.Sprintf("Executing 'Functions.%s' (Reason='%s', Id=%s)", fn.Name, reason, id))
	start := time.Now()
	res, err := a.call(ctx, fn, id, req)
	if err == nil {
		err = a.sendOutputs(ctx, fn, res.Response)
	}
	d := time.Since(start)
	if err != nil {
		log.Error(fmt.Sprintf("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", fn.Name, id, d.Milliseconds()),
			"outcome", "Failed", "duration", d, "err", err)
		return res, err
	}
	log.Info(fmt.Sprintf("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", fn.Name, id, d.Milliseconds()),
		"outcome", "Succeeded", "duration", d)
	return res, nil
}

// call sends the invocation and reads the handler's answer the way
// DefaultHttpWorkerService.ProcessDefaultInvocationRequest does.
func (a *appRuntime) call(ctx context.Context, fn *Function, id string, req *invocationRequest) (*invocationResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	res := &invocationResult{ID: id}
	ans, err := a.await(fn, id, func() answer {
		status, hdr, b, err := a.worker.post(ctx, fn.Name, id, body)
		return answer{status: status, header: hdr, body: b, err: err}
	})
	if err != nil {
		return res, err
	}
	res.Header = ans.header
	if ans.err != nil {
		return res, ans.err
	}
	if ans.status/100 != 2 {
		// EnsureSuccessStatusCode: the body and its Logs are never read.
		if a.debugFailures {
			a.log.Debug("funchost debug ("+debugFailuresSetting+"): failed answer, which Azure discards",
				"function", "Functions."+fn.Name, "invocationId", id, "status", ans.status, "body", truncate(ans.body, 4000))
		}
		return res, fmt.Errorf("Response status code does not indicate success: %d (%s).", ans.status, http.StatusText(ans.status))
	}
	var resp invocationResponse
	if len(bytes.TrimSpace(ans.body)) > 0 {
		if jerr := json.Unmarshal(ans.body, &resp); jerr != nil {
			return res, fmt.Errorf("Invalid HttpResponseMessage: handler answered %d with a body that is not an invocation response: %v", ans.status, jerr)
		}
	}
	res.Response = &resp
	for _, l := range resp.Logs {
		a.log.Info(fmt.Sprint(l), "app", a.Name, "function", "Functions."+fn.Name, "invocationId", id, "category", "Function."+fn.Name+".User")
	}
	return res, nil
}

// await runs send and waits for its answer or the function timeout,
// whichever comes first.
//
// On a timeout the real host fails the invocation at once ("Timeout value of
// ... exceeded", FunctionExecutor), then gives the function a short grace
// period and, if it still has not answered, restarts the worker process that
// runs it (WebScriptHostExceptionHandler.OnTimeoutExceptionAsync ->
// RestartWorkerWithInvocationIdAsync). A custom handler is one process, so
// every other invocation in flight in it fails too.
func (a *appRuntime) await(fn *Function, id string, send func() answer) (answer, error) {
	pid := a.worker.PID()
	answered := make(chan answer, 1)
	go func() { answered <- send() }()
	t := a.Config.FunctionTimeout
	if t <= 0 {
		return <-answered, nil
	}
	timer := time.NewTimer(t)
	defer timer.Stop()
	select {
	case ans := <-answered:
		return ans, nil
	case <-timer.C:
	}
	span := formatTimeSpan(t)
	a.log.Error(fmt.Sprintf("Timeout value of %s exceeded by function 'Functions.%s' (Id: '%s'). Initiating cancellation.", span, fn.Name, id),
		"app", a.Name, "function", "Functions."+fn.Name, "invocationId", id)
	go a.restartAfterTimeout(id, pid, answered)
	return answer{}, fmt.Errorf("Timeout value of %s was exceeded by function: Functions.%s", span, fn.Name)
}

// answer is the handler's reply to one invocation.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// restartAfterTimeout restarts the handler process that runs a timed-out
// invocation unless it answers within the grace period.
func (a *appRuntime) restartAfterTimeout(id string, pid int, answered <-chan answer) {
	select {
	case <-answered:
		return
	case <-time.After(timeoutGracePeriod):
	}
	a.log.Warn(fmt.Sprintf("A function timeout has occurred. Restarting worker process executing invocationId '%s'.", id), "app", a.Name, "pid", pid)
	a.worker.requestRestart(pid, "function timeout in invocation "+id)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

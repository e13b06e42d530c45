package funchost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hostVersion is sent in X-Azure-Functions-HostVersion and User-Agent; it says
// which host this is rather than pretending to be a given Azure release.
const hostVersion = "4.0.0-funchost"

// The worker policy of the real host (azure-functions-host):
//   - the port is picked once (HttpWorkerOptionsSetup.GetUnusedTcpPort) and
//     every restarted process gets the same one;
//   - a process that exits with a non-zero code, or does not answer GET /
//     within the initialization timeout, is an error: the host restarts it at
//     once, and the third error within 30 minutes of the one before shuts the
//     host down (HttpFunctionInvocationDispatcher.AddOrUpdateErrorBucket,
//     WorkerConstants.WorkerRestartErrorIntervalThresholdInMinutes);
//   - exit code 0 is not an error and is not restarted; exit code 200 asks
//     for a restart (WorkerProcess.OnProcessExited);
//   - the process is stopped with a kill, not a signal it could handle
//     (WorkerProcess.Dispose calls Process.Kill);
//   - an invocation is sent once: if nothing listens on the port, it fails
//     (DefaultHttpWorkerService has no retry).
const (
	workerErrorWindow   = 30 * time.Minute
	workerErrorsToStop  = 3
	exitCodeRestartMe   = 200
	defaultInitTimeout  = 30 * time.Second
	timeoutGracePeriod  = 2 * time.Second // before a timed-out invocation's process is restarted
	maxHandlerLineBytes = 64 * 1024
	deathNoticeWait     = 2 * time.Second // how long a failed post waits to learn whether the process died
)

// worker supervises one handler process.
type worker struct {
	app    *App
	log    *slog.Logger
	client *http.Client
	port   int
	base   string // "http://127.0.0.1:port"

	done    chan struct{} // closed when run returns
	restart chan restartRequest

	mu   sync.Mutex
	pid  int
	up   bool          // the current process has answered GET /
	upCh chan struct{} // closed while up; replaced by an open one when the process goes
	// downCh is closed when the current process goes; replaced when one is up.
	downCh chan struct{}
	// exitedClean: the process exited with code 0 and the host does not
	// restart it; invocations are sent anyway, and fail, as in Azure.
	exitedClean bool
}

type restartRequest struct {
	pid    int
	reason string
}

func newWorker(app *App) (*worker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	maxConns := app.Config.ServiceBus.MaxConcurrentCalls*2 + 16
	client := &http.Client{Transport: &http.Transport{
		Proxy:               nil, // the handler is on loopback; never go through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	// DefaultHttpWorkerService: the client times out one minute after
	// functionTimeout (so the function timeout fires first), and without a
	// timeout after int.MaxValue milliseconds.
	client.Timeout = time.Duration(1<<31-1) * time.Millisecond
	if t := app.Config.FunctionTimeout; t > 0 {
		client.Timeout = t + time.Minute
	}
	// DefaultHttpWorkerService.CreateHttpClient: AllowAutoRedirect is off when
	// enableForwardingHttpRequest is on, so a handler's 3xx reaches the caller.
	if app.Config.EnableForwardingHTTPRequest {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &worker{
		app:     app,
		log:     app.log.With("app", app.Name),
		client:  client,
		port:    port,
		base:    "http://127.0.0.1:" + strconv.Itoa(port),
		upCh:    make(chan struct{}),
		downCh:  make(chan struct{}),
		done:    make(chan struct{}),
		restart: make(chan restartRequest, 1),
	}, nil
}

// errHandlerDown is returned when the handler is not running (stopping host).
var errHandlerDown = errors.New("custom handler is not running")

// endpoint returns the handler's base URL once its process is up. Like
// WorkerFunctionInvoker.DelayUntilFunctionDispatcherInitializedOrShutdown, an
// invocation that starts while the handler is starting or restarting waits
// for it, for at most (3+1) x the initialization timeout; only invocations
// already sent to a process that dies fail.
func (w *worker) endpoint(ctx context.Context) (string, error) {
	base, _, err := w.endpointOf(ctx)
	return base, err
}

// endpointOf is endpoint that also returns a channel closed once the process
// behind the URL is gone.
func (w *worker) endpointOf(ctx context.Context) (string, <-chan struct{}, error) {
	timeout := time.NewTimer((workerErrorsToStop + 1) * w.initTimeout())
	defer timeout.Stop()
	for {
		w.mu.Lock()
		up, clean, ch, down := w.up, w.exitedClean, w.upCh, w.downCh
		w.mu.Unlock()
		if up || clean {
			return w.base, down, nil
		}
		select {
		case <-ch:
		case <-w.done:
			return "", nil, errHandlerDown
		case <-timeout.C:
			return "", nil, fmt.Errorf("the custom handler did not come up within %s", (workerErrorsToStop+1)*w.initTimeout())
		case <-ctx.Done():
			return "", nil, fmt.Errorf("waiting for the custom handler: %w", context.Cause(ctx))
		}
	}
}

func (w *worker) initTimeout() time.Duration {
	if t := w.app.opt.StartupTimeout; t > 0 {
		return t
	}
	return defaultInitTimeout
}

// PID is the current handler process id (0 when none), for tests and logs.
func (w *worker) PID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid
}

// Up reports whether a handler process is running and has answered GET /.
func (w *worker) Up() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.up
}

// requestRestart kills process pid (if it is still the current one) and
// starts a new one; an intentional restart does not count as an error.
func (w *worker) requestRestart(pid int, reason string) {
	select {
	case w.restart <- restartRequest{pid: pid, reason: reason}:
	default: // one is already pending
	}
}

// exit is how one process ended.
type exit struct {
	code        int   // exit code; -1 when killed by a signal or never started
	err         error // what went wrong, for the log
	intentional bool  // the host restarted it (function timeout)
	ready       bool  // it had answered GET /
}

// errorBucket counts worker errors the way AddOrUpdateErrorBucket does: an
// error more than 30 minutes after the previous one empties the bucket.
type errorBucket struct{ at []time.Time }

// add records an error at t and reports whether the host must now stop.
func (b *errorBucket) add(t time.Time) bool {
	if n := len(b.at); n > 0 && t.Sub(b.at[n-1]) > workerErrorWindow {
		b.at = nil
	}
	b.at = append(b.at, t)
	return len(b.at) >= workerErrorsToStop
}

// run keeps the handler alive until ctx ends, and returns an error when the
// host must shut down because the handler keeps failing.
func (w *worker) run(ctx context.Context) error {
	defer close(w.done)
	var errs errorBucket
	for {
		x := w.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case x.intentional:
			w.log.Warn("custom handler restarted by the host", "reason", x.err)
			continue
		case x.code == 0 && x.ready:
			w.mu.Lock()
			w.exitedClean = true
			w.mu.Unlock()
			w.log.Error("custom handler exited with code 0; the Functions host does not restart a worker that exits cleanly, so every invocation fails until the host restarts",
				"executable", w.app.Config.Executable)
			<-ctx.Done()
			return nil
		case x.code == exitCodeRestartMe:
			w.log.Info("Language Worker Process exited and needs to be restarted.")
			continue
		}
		w.log.Error("Language Worker Process exited.", "exitCode", x.code, "err", x.err)
		if errs.add(time.Now()) {
			return fmt.Errorf("custom handler %s failed %d times, each within 30 minutes of the one before (last: %v): "+
				"Exceeded http worker restart retry count. Shutting down Functions Host", w.app.Config.Executable, len(errs.at), x.err)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (w *worker) setState(pid int, up bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case up && !w.up:
		close(w.upCh)
		w.downCh = make(chan struct{})
	case !up && w.up:
		w.upCh = make(chan struct{})
		close(w.downCh)
	}
	w.pid, w.up = pid, up
}

func (w *worker) runOnce(ctx context.Context) exit {
	cfg := w.app.Config
	cmd := exec.Command(cfg.Executable, cfg.Arguments...)
	cmd.Dir = cfg.WorkingDir
	base := w.app.opt.Env
	if base == nil {
		base = os.Environ()
	}
	workerID := newGUID()
	port := strconv.Itoa(w.port)
	// HttpWorkerProcess.CreateWorkerProcess sets both the old and the new names.
	cmd.Env = append(append(append([]string{}, base...), w.app.Settings.Environ()...),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+port,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+workerID,
		"FUNCTIONS_HTTPWORKER_PORT="+port,
		"FUNCTIONS_HTTPWORKER_ID="+workerID,
		"FUNCTIONS_APP_ROOT_PATH="+w.app.Dir,
	)
	// Own process group so that stopping reaches the handler's children too;
	// Pdeathsig kills the handler if this host dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if out := w.app.opt.HandlerOutput; out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	} else {
		cmd.Stdout = &lineLogger{log: w.log, stream: "stdout"}
		cmd.Stderr = &lineLogger{log: w.log, stream: "stderr"}
	}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return exit{code: -1, err: fmt.Errorf("Failed to start Worker Channel. Process fileName: %s: %w", cfg.Executable, err)}
	}
	pid := cmd.Process.Pid
	w.setState(pid, false)
	w.log.Info("custom handler started", "pid", pid, "port", w.port, "workerId", workerID)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	defer func() {
		// Whatever happened, nothing of this group may outlive it.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		w.setState(0, false)
	}()

	probeCtx, cancelProbe := context.WithCancel(ctx)
	probed := make(chan error, 1)
	go func() { probed <- w.probe(probeCtx) }()
	select {
	case err := <-probed:
		cancelProbe()
		if err != nil {
			kill()
			if ctx.Err() != nil {
				return exit{}
			}
			return exit{code: -1, err: err}
		}
	case err := <-exited:
		cancelProbe()
		return exit{code: exitCode(err), err: fmt.Errorf("exited before answering GET /: %v", errOrStatus(err))}
	}
	w.setState(pid, true)
	w.log.Info("custom handler ready", "pid", pid, "url", w.base)

	for {
		select {
		case err := <-exited:
			return exit{code: exitCode(err), err: errOrStatus(err), ready: true}
		case r := <-w.restart:
			if r.pid != pid {
				continue // meant for a process that is already gone
			}
			w.setState(pid, false)
			kill()
			return exit{code: -1, err: errors.New(r.reason), intentional: true, ready: true}
		case <-ctx.Done():
			// WorkerProcess.Dispose: Process.Kill, no SIGTERM first.
			w.setState(pid, false)
			kill()
			w.log.Info("custom handler stopped", "pid", pid)
			return exit{ready: true}
		}
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func errOrStatus(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

// probe sends GET / until any HTTP answer comes back, as
// DefaultHttpWorkerService.IsWorkerReady does, for at most the
// initialization timeout.
func (w *worker) probe(ctx context.Context) error {
	timeout := w.initTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/", nil)
		resp, err := w.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("Initializing HttpWorker timed out: no answer on GET / within %s", timeout)
			}
			return ctx.Err()
		}
		sleepCtx(ctx, 25*time.Millisecond)
	}
}

// post invokes a function: POST /{FunctionName} with the invocation headers,
// sent once.
func (w *worker) post(ctx context.Context, function, invocationID string, body []byte) (int, http.Header, []byte, error) {
	base, down, err := w.endpointOf(ctx)
	if err != nil {
		return 0, nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+function, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	setInvocationHeaders(req.Header, invocationID)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := w.client.Do(req)
	if err != nil {
		// The process may be dying: fail only once the supervisor has seen it
		// go (or after a short wait), so that the message's redelivery waits
		// for the next process instead of burning its whole delivery count
		// against a closed port in the microseconds before the exit is noticed.
		select {
		case <-down:
		case <-time.After(deathNoticeWait):
		case <-ctx.Done():
		}
		return 0, nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, b, err
}

// userAgent is HttpWorkerConstants.UserAgentHeaderValue/ScriptHost.Version.
const userAgent = "Azure-Functions-Host/" + hostVersion

func setInvocationHeaders(h http.Header, invocationID string) {
	h.Add("X-Azure-Functions-HostVersion", hostVersion)
	h.Add("X-Azure-Functions-InvocationId", invocationID)
}

// lineLogger turns one of the handler's output streams into log records, one
// per line, at the levels the host gives them (WorkerProcess with
// UseStdErrorStreamForErrorsOnly, which HttpWorkerDescription turns on):
// stdout is Information; stderr is Error, except a line containing "warn",
// which is Warning. The host logs them under category Host.Function.Console.
type lineLogger struct {
	log    *slog.Logger
	stream string // "stdout" or "stderr"
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(l.buf[:i], "\r"))
		l.buf = l.buf[i+1:]
		l.emit(line)
	}
	if len(l.buf) > maxHandlerLineBytes { // a huge line without newline: flush it
		l.emit(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

func (l *lineLogger) emit(line string) {
	if line == "" {
		return
	}
	level := slog.LevelInfo
	if l.stream == "stderr" {
		level = slog.LevelError
		lower := strings.ToLower(line)
		if strings.Contains(lower, "warn") {
			level = slog.LevelWarn
		}
		if strings.Contains(lower, "address already in use") || strings.Contains(lower, "eaddrinuse") {
			// HttpWorkerProcess.OnErrorDataReceived says so instead of the line.
			line = "Port is already in use. Process cannot start."
		}
	}
	l.log.Log(context.Background(), level, line, "category", "Host.Function.Console", "stream", l.stream)
}

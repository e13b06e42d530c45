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
	"sync"
	"syscall"
	"time"
)

// hostVersion is sent in X-Azure-Functions-HostVersion and User-Agent; it says
// which host this is rather than pretending to be a given Azure release.
const hostVersion = "4.0.0-funchost"

// worker supervises one handler process: starts it on a free loopback port,
// waits for GET / to answer, restarts it with backoff when it dies and stops
// the whole process group on shutdown.
type worker struct {
	app    *App
	log    *slog.Logger
	client *http.Client

	mu        sync.Mutex
	base      string        // "http://127.0.0.1:port" of the ready process
	ready     chan struct{} // closed when base is usable; replaced on restart
	done      chan struct{} // closed when run returns
	pid       int
	everReady bool
}

func newWorker(app *App) *worker {
	maxConns := app.Config.ServiceBus.MaxConcurrentCalls*2 + 16
	return &worker{
		app: app,
		log: app.log.With("app", app.Name),
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // the handler is on loopback; never go through a proxy
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        maxConns,
			MaxIdleConnsPerHost: maxConns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}},
		ready: make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// errHandlerDown is returned when the handler is not running (stopping host).
var errHandlerDown = errors.New("custom handler is not running")

// endpoint waits until the handler is ready and returns its base URL.
func (w *worker) endpoint(ctx context.Context) (string, error) {
	for {
		w.mu.Lock()
		ready := w.ready
		w.mu.Unlock()
		select {
		case <-ready:
			w.mu.Lock()
			base := w.base
			w.mu.Unlock()
			if base != "" {
				return base, nil
			}
			// The process died after signalling; wait for the next one.
			time.Sleep(5 * time.Millisecond)
		case <-w.done:
			return "", errHandlerDown
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for the custom handler: %w", context.Cause(ctx))
		}
	}
}

// PID is the current handler process id (0 when none), for tests and logs.
func (w *worker) PID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid
}

// run keeps the handler alive until ctx ends.
func (w *worker) run(ctx context.Context) error {
	defer close(w.done)
	backoff := 200 * time.Millisecond
	failures := 0 // consecutive failed starts before the handler ever answered
	for {
		started := time.Now()
		err := w.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		w.mu.Lock()
		everReady := w.everReady
		w.mu.Unlock()
		if !everReady {
			// A handler that never comes up is a broken build, not a crash:
			// say so instead of restarting forever.
			if failures++; failures >= maxStartFailures {
				return fmt.Errorf("custom handler %s did not start %d times; last error: %w", w.app.Config.Executable, failures, err)
			}
		}
		if time.Since(started) > 30*time.Second {
			backoff = 200 * time.Millisecond
		}
		w.log.Error("custom handler exited; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

const maxStartFailures = 4

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (w *worker) runOnce(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cfg := w.app.Config
	cmd := exec.Command(cfg.Executable, cfg.Arguments...)
	cmd.Dir = cfg.WorkingDir
	base := w.app.opt.Env
	if base == nil {
		base = os.Environ()
	}
	workerID := newGUID()
	cmd.Env = append(append(append([]string{}, base...), w.app.Settings.Environ()...),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+workerID,
	)
	// Own process group so that stopping reaches the handler's children too;
	// Pdeathsig kills the handler if this host dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := w.app.opt.HandlerOutput
	if out == nil {
		out = &lineLogger{log: w.log}
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cfg.Executable, err)
	}
	pid := cmd.Process.Pid
	w.mu.Lock()
	w.pid = pid
	w.mu.Unlock()
	w.log.Info("custom handler started", "pid", pid, "port", port, "workerId", workerID)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		// Whatever happened, nothing of this group may outlive it.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		w.mu.Lock()
		if w.pid == pid {
			w.pid = 0
		}
		select {
		case <-w.ready:
			w.ready = make(chan struct{})
		default:
		}
		w.base = ""
		w.mu.Unlock()
	}()

	url := "http://127.0.0.1:" + strconv.Itoa(port)
	probeCtx, cancelProbe := context.WithCancel(ctx)
	probed := make(chan error, 1)
	go func() { probed <- w.probe(probeCtx, url) }()
	select {
	case err := <-probed:
		cancelProbe()
		if err != nil {
			w.stop(pid, exited)
			return err
		}
	case err := <-exited:
		cancelProbe()
		return fmt.Errorf("exited before answering GET /: %v", err)
	}
	w.mu.Lock()
	w.base = url
	w.everReady = true
	close(w.ready)
	w.mu.Unlock()
	w.log.Info("custom handler ready", "pid", pid, "url", url)

	select {
	case err := <-exited:
		if err == nil {
			err = errors.New("exit status 0")
		}
		return err
	case <-ctx.Done():
		w.mark(false)
		w.stop(pid, exited)
		return nil
	}
}

// mark makes the handler unavailable for new invocations.
func (w *worker) mark(ready bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ready {
		select {
		case <-w.ready:
			w.ready = make(chan struct{})
		default:
		}
	}
}

// probe sends GET / until any HTTP answer comes back, as the host does.
func (w *worker) probe(ctx context.Context, url string) error {
	timeout := w.app.opt.StartupTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
		resp, err := w.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on GET / within %s", timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop sends SIGTERM to the handler's process group, then SIGKILL after a grace period.
func (w *worker) stop(pid int, exited <-chan error) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		w.log.Warn("custom handler ignored SIGTERM; killing", "pid", pid)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	w.log.Info("custom handler stopped", "pid", pid)
}

// post invokes a function: POST /{FunctionName} with the invocation headers.
// When the handler cannot be reached at all (it died and is being
// restarted), the request never left, so it waits for the next process.
func (w *worker) post(ctx context.Context, function, invocationID string, body []byte) (int, http.Header, []byte, error) {
	for {
		base, err := w.endpoint(ctx)
		if err != nil {
			return 0, nil, nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+function, bytes.NewReader(body))
		if err != nil {
			return 0, nil, nil, err
		}
		setInvocationHeaders(req.Header, invocationID)
		req.Header.Set("Content-Type", "application/json")
		resp, err := w.client.Do(req)
		if isDialError(err) && ctx.Err() == nil {
			// The supervisor notices the exit and withdraws base; then
			// endpoint waits for the restarted process.
			sleepCtx(ctx, 25*time.Millisecond)
			continue
		}
		if err != nil {
			return 0, nil, nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, b, err
	}
}

// isDialError reports a failure to connect, as opposed to one after the
// request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func setInvocationHeaders(h http.Header, invocationID string) {
	h.Set("X-Azure-Functions-InvocationId", invocationID)
	h.Set("X-Azure-Functions-HostVersion", hostVersion)
	h.Set("User-Agent", "Azure-Functions-Host/"+hostVersion)
}

// lineLogger turns the handler's output into one log record per line.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
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
		if line != "" {
			l.log.Info(line, "source", "handler")
		}
	}
	if len(l.buf) > 64*1024 { // a huge line without newline: flush it
		l.log.Info(string(l.buf), "source", "handler")
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

package funchost_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/infra/funchost"
)

var (
	handlerOnce sync.Once
	handlerPath string
	handlerErr  error
	handlerDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if handlerDir != "" {
		os.RemoveAll(handlerDir)
	}
	os.Exit(code)
}

// testHandler builds testdata/testhandler once per test binary.
func testHandler(t testing.TB) string {
	t.Helper()
	handlerOnce.Do(func() {
		handlerDir, handlerErr = os.MkdirTemp("", "funchost-testhandler-")
		if handlerErr != nil {
			return
		}
		handlerPath = filepath.Join(handlerDir, "handler")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", handlerPath, "./testdata/testhandler")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			handlerErr = fmt.Errorf("build testhandler: %v\n%s", err, out)
		}
	})
	if handlerErr != nil {
		t.Fatal(handlerErr)
	}
	return handlerPath
}

// extensionBundle is the host.json section every fixture has, as the
// repository's host.json does: without it Service Bus bindings are refused.
const extensionBundle = `"extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}`

const defaultHostJSON = `{
  "version": "2.0",
  ` + extensionBundle + `,
  "functionTimeout": "00:00:30",
  "extensions": {
    "http": { "routePrefix": "api" },
    "serviceBus": { "maxConcurrentCalls": 4, "maxAutoLockRenewalDuration": "00:05:00" }
  },
  "customHandler": {
    "description": { "defaultExecutablePath": "handler", "workingDirectory": "", "arguments": [] },
    "enableForwardingHttpRequest": %s
  }
}`

// testApp is an assembled app folder with the test handler.
type testApp struct {
	Dir      string
	Settings string // local.settings.json
	Record   string // the handler's invocation log
}

// newTestApp writes host.json, one folder per function and local.settings.json.
func newTestApp(t testing.TB, hostJSON string, functions map[string]string, values map[string]string) *testApp {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "app")
	must(t, os.MkdirAll(dir, 0o755))
	exe := testHandler(t)
	raw, err := os.ReadFile(exe)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "handler"), raw, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "host.json"), []byte(hostJSON), 0o644))
	for name, def := range functions {
		must(t, os.MkdirAll(filepath.Join(dir, name), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, name, "function.json"), []byte(def), 0o644))
	}
	a := &testApp{Dir: dir, Settings: filepath.Join(root, "local.settings.json"), Record: filepath.Join(root, "invocations.jsonl")}
	v := map[string]string{"FUNCTIONS_WORKER_RUNTIME": "custom", "TESTHANDLER_RECORD": a.Record}
	for k, x := range values {
		v[k] = x
	}
	b, _ := json.Marshal(map[string]any{"IsEncrypted": false, "Values": v})
	must(t, os.WriteFile(a.Settings, b, 0o644))
	return a
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testLogger logs through t until the test ends.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && testing.Verbose() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func loadApp(t testing.TB, a *testApp, env ...string) *funchost.App {
	t.Helper()
	app, err := funchost.Load(a.Dir, funchost.Options{
		SettingsFile: a.Settings, Env: append([]string{"PATH=" + os.Getenv("PATH")}, env...),
		Logger: testLogger(t), TimerLockPoll: 200 * time.Millisecond, StartupTimeout: 20 * time.Second,
	})
	must(t, err)
	return app
}

// startHost runs a host on a free port until the test ends.
func startHost(t testing.TB, apps []*funchost.App, setup func(*funchost.Host)) (*funchost.Host, context.CancelFunc) {
	t.Helper()
	h, err := funchost.NewHost(apps, funchost.HostOptions{HTTPAddr: "127.0.0.1:0", Logger: testLogger(t), DrainTimeout: 5 * time.Second})
	must(t, err)
	if setup != nil {
		setup(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("host run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("host stopped before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("host not ready after 30s")
	}
	return h, stop
}

// invocation is one line of the test handler's record.
type invocation struct {
	Fn           string          `json:"fn"`
	InvocationID string          `json:"invocationId"`
	Action       string          `json:"action"`
	Key          string          `json:"key"`
	Outcome      string          `json:"outcome"`
	PID          int             `json:"pid"`
	Tag          string          `json:"tag"`
	UserAgent    string          `json:"userAgent"`
	HostVersion  string          `json:"hostVersion"`
	Request      json.RawMessage `json:"request"`
	Path         string          `json:"path"`
	At           string          `json:"at"`
	ChildPID     int             `json:"childPid"`
}

func readRecord(t testing.TB, path string) []invocation {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	must(t, err)
	defer f.Close()
	var out []invocation
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var inv invocation
		must(t, json.Unmarshal(sc.Bytes(), &inv))
		out = append(out, inv)
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// functionKey is the default host key of the host's first app, for
// function-level routes.
func functionKey(t testing.TB, h *funchost.Host) string {
	t.Helper()
	keys := h.Keys()
	if len(keys) == 0 || keys[0].FunctionKeys["default"] == "" {
		t.Fatalf("no function keys: %+v", keys)
	}
	return keys[0].FunctionKeys["default"]
}

func readAll(t testing.TB, r io.Reader) string {
	b, err := io.ReadAll(r)
	must(t, err)
	return string(b)
}

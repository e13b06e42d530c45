package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"meterline/functions/internal/demo"
	"meterline/infra/funchost"
	"meterline/shared/azurite"
)

// TestAssembledAppRunsOnTheLocalHost assembles the demo app, builds its handler and runs the
// folder on the local Functions host (infra/funchost) with Azurite as AzureWebJobsStorage:
// the host must accept every function.json, forward HTTP requests (and, with forwarding off,
// send them as JSON invocations) and fire the timer on start-up.
func TestAssembledAppRunsOnTheLocalHost(t *testing.T) {
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "handler")
	build := exec.Command("go", "build", "-o", bin, "./functions/internal/demo/handler")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build demo handler: %v\n%s", err, out)
	}
	storage := azuritetest.Start(t)

	for _, forwarding := range []bool{true, false} {
		name := map[bool]string{true: "forwarding", false: "json-mode"}[forwarding]
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			var host map[string]any
			if err := json.Unmarshal(repoHostJSON(t), &host); err != nil {
				t.Fatal(err)
			}
			host["customHandler"].(map[string]any)["enableForwardingHttpRequest"] = forwarding
			hostJSON, _ := json.Marshal(host)
			if err := assemble(demo.App(), hostJSON, dir); err != nil {
				t.Fatal(err)
			}
			if err := copyFile(bin, filepath.Join(dir, "handler")); err != nil {
				t.Fatal(err)
			}
			heartbeat := filepath.Join(t.TempDir(), "heartbeat")
			settings, _ := json.Marshal(map[string]any{"IsEncrypted": false, "Values": map[string]string{
				"FUNCTIONS_WORKER_RUNTIME": "custom",
				"AzureWebJobsStorage":      storage.ConnectionString(),
				"DEMO_HEARTBEAT_FILE":      heartbeat,
			}})
			settingsFile := filepath.Join(dir, "local.settings.json")
			if err := os.WriteFile(settingsFile, settings, 0o644); err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if testing.Verbose() {
				log = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			app, err := funchost.Load(dir, funchost.Options{
				SettingsFile: settingsFile, Env: []string{"PATH=" + os.Getenv("PATH")},
				Logger: log, StartupTimeout: 30 * time.Second, HostID: "demo-" + name,
			})
			if err != nil {
				t.Fatalf("the local host refuses the assembled app: %v", err)
			}
			h, err := funchost.NewHost([]*funchost.App{app}, funchost.HostOptions{HTTPAddr: "127.0.0.1:0", Logger: log, DrainTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- h.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("host: %v", err)
				}
			}()
			select {
			case <-h.Ready():
			case err := <-done:
				t.Fatalf("host stopped: %v", err)
			case <-time.After(60 * time.Second):
				t.Fatal("host not ready after 60s")
			}

			req, _ := http.NewRequest("GET", h.URL()+"/api/demo/hello/w%C3%B6rld?lang=de", nil)
			req.Header.Set("X-Correlation-ID", "corr-e2e")
			var hello map[string]string
			if status := doJSON(t, req, &hello); status != 200 || hello["hello"] != "wörld" || hello["lang"] != "de" || hello["correlation"] != "corr-e2e" {
				t.Errorf("GET hello: %d %v", status, hello)
			}
			// The host matches literal segments ignoring case and forwards the path as sent.
			req, _ = http.NewRequest("GET", h.URL()+"/api/Demo/HELLO/Ann", nil)
			if status := doJSON(t, req, &hello); status != 200 || hello["hello"] != "Ann" {
				t.Errorf("GET with another case: %d %v", status, hello)
			}
			req, _ = http.NewRequest("POST", h.URL()+"/api/demo/echo", strings.NewReader(`{"units":5}`))
			req.Header.Set("Content-Type", "application/json")
			var echo map[string]any
			if status := doJSON(t, req, &echo); status != http.StatusAccepted || echo["units"] != float64(5) {
				t.Errorf("POST echo: %d %v", status, echo)
			}
			req, _ = http.NewRequest("POST", h.URL()+"/api/demo/echo", strings.NewReader(`not json`))
			var bad map[string]any
			if status := doJSON(t, req, &bad); status != http.StatusBadRequest || bad["error"] != "invalid" {
				t.Errorf("POST echo with a bad body: %d %v", status, bad)
			}

			deadline := time.Now().Add(30 * time.Second)
			for {
				b, _ := os.ReadFile(heartbeat)
				if len(strings.TrimSpace(string(b))) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the runOnStartup timer did not run within 30s")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func doJSON(t *testing.T, req *http.Request, v any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Errorf("%s %s: body %q is not JSON", req.Method, req.URL.Path, b)
	}
	return resp.StatusCode
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

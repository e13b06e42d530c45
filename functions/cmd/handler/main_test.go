package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	emulator "meterline/infra/servicebus-emulator"
)

// TestHandlerProcessStartsAndStops runs the built handler as the host does: it must answer the
// readiness probe on FUNCTIONS_CUSTOMHANDLER_PORT and exit cleanly on SIGTERM.
func TestHandlerProcessStartsAndStops(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "handler")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	// The contexts connect to their storage account and Service Bus namespace at start-up.
	storage := azuritetest.Start(t)
	bus := emulator.ForTest(t, nil)
	cmd := exec.Command(bin, "-app", "all")
	cmd.Env = append(os.Environ(), fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port), "FUNCTIONS_CUSTOMHANDLER_WORKER_ID=test",
		"AzureWebJobsStorage="+storage.ConnectionString(), "ServiceBusConnection="+bus.ConnectionString())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var resp *http.Response
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("handler never answered GET /: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("handler did not exit cleanly on SIGTERM: %v", err)
	}

	if err := exec.Command(bin, "-app", "no-such-context").Run(); err == nil {
		t.Error("an unknown -app started")
	}
	// Without its settings a context refuses to start, naming what is missing.
	missing := exec.Command(bin, "-app", "subscriptions")
	missing.Env = []string{fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port)}
	if out, err := missing.CombinedOutput(); err == nil || !strings.Contains(string(out), "AzureWebJobsStorage") {
		t.Errorf("started without settings or did not name them: %v\n%s", err, out)
	}
}

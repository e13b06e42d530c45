package main

// Hooks for funchost's parity tests (parity_test.go). They are registered in
// init, before main registers "/", as more specific patterns on
// http.DefaultServeMux, so main.go's behaviour is unchanged:
//
//   - TESTHANDLER_STDERR_LINES: lines (separated by "|") written to stderr at start;
//   - TESTHANDLER_EXIT_FILE: when that file appears, the process removes it
//     and exits with TESTHANDLER_EXIT_CODE (default 0);
//   - GET /api/parity/redirect answers 302 to /api/parity/target, which
//     records "followed" if anything ever follows the redirect;
//   - POST /ParityFail answers 500 with an invocation response carrying Logs;
//   - POST /ParityFlaky fails (500) while Metadata.RetryContext.RetryCount < 2.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func init() {
	if v := os.Getenv("TESTHANDLER_STDERR_LINES"); v != "" {
		for _, line := range strings.Split(v, "|") {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	if f := os.Getenv("TESTHANDLER_EXIT_FILE"); f != "" {
		code, _ := strconv.Atoi(os.Getenv("TESTHANDLER_EXIT_CODE"))
		go func() {
			for {
				if os.Remove(f) == nil {
					record(map[string]any{"fn": "exit", "outcome": "exit " + strconv.Itoa(code)})
					os.Exit(code)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	http.HandleFunc("/api/parity/redirect", func(w http.ResponseWriter, r *http.Request) {
		record(map[string]any{"fn": "redirect", "path": r.URL.Path, "outcome": "ok"})
		w.Header().Set("Location", "/api/parity/target?from=redirect")
		w.WriteHeader(http.StatusFound)
	})
	http.HandleFunc("/api/parity/target", func(w http.ResponseWriter, r *http.Request) {
		record(map[string]any{"fn": "followed", "path": r.URL.Path, "outcome": "ok"})
		_, _ = io.WriteString(w, "followed")
	})
	http.HandleFunc("/ParityFail", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		record(map[string]any{"fn": "ParityFail", "invocationId": r.Header.Get("X-Azure-Functions-InvocationId"), "outcome": "failed", "request": json.RawMessage(body)})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]any{"Outputs": map[string]any{}, "Logs": []string{"parity secret log line"}, "ReturnValue": "parity secret body"})
	})
	http.HandleFunc("/ParityFlaky", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Metadata struct {
				RetryContext *struct{ RetryCount int } `json:"RetryContext"`
			} `json:"Metadata"`
		}
		_ = json.Unmarshal(body, &req)
		fail := req.Metadata.RetryContext == nil || req.Metadata.RetryContext.RetryCount < 2
		outcome := "ok"
		if fail {
			outcome = "failed"
		}
		record(map[string]any{"fn": "ParityFlaky", "invocationId": r.Header.Get("X-Azure-Functions-InvocationId"), "outcome": outcome, "request": json.RawMessage(body)})
		if fail {
			http.Error(w, "flaky", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"Outputs":{},"Logs":[],"ReturnValue":null}`)
	})
}

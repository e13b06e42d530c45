// Command testhandler is a custom handler for funchost's tests. It speaks the
// protocol by hand (no shared runtime), records every invocation as one JSON
// line in $TESTHANDLER_RECORD, and obeys commands carried in the trigger's
// message: {"action": "ok" | "fail" | "crash" | "crashonce" | "sleep", "ms": N, "key": "..."}.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var recordMu sync.Mutex

func record(v map[string]any) {
	path := os.Getenv("TESTHANDLER_RECORD")
	if path == "" {
		return
	}
	v["pid"] = os.Getpid()
	v["tag"] = os.Getenv("TESTHANDLER_TAG")
	v["at"] = time.Now().UTC().Format(time.RFC3339Nano)
	line, _ := json.Marshal(v)
	recordMu.Lock()
	defer recordMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testhandler: record:", err)
		return
	}
	_, _ = f.Write(append(line, '\n'))
	_ = f.Close()
}

type command struct {
	Action string `json:"action"`
	MS     int    `json:"ms"`
	Key    string `json:"key"`
}

// decodeCommand finds the command in a trigger value: a double-encoded string
// (dataType string) or base64 (dataType binary).
func decodeCommand(raw json.RawMessage) command {
	var c command
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return c
	}
	var inner string
	if json.Unmarshal([]byte(s), &inner) == nil {
		s = inner // double-encoded string
	} else if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		s = string(b)
	}
	_ = json.Unmarshal([]byte(s), &c)
	return c
}

func main() {
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if port == "" {
		fmt.Fprintln(os.Stderr, "testhandler: FUNCTIONS_CUSTOMHANDLER_PORT not set")
		os.Exit(2)
	}
	if os.Getenv("TESTHANDLER_EXIT_AT_START") != "" {
		fmt.Fprintln(os.Stderr, "testhandler: told to exit at start")
		os.Exit(4)
	}
	if ms, _ := strconv.Atoi(os.Getenv("TESTHANDLER_START_DELAY_MS")); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if os.Getenv("TESTHANDLER_IGNORE_SIGTERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	}
	if os.Getenv("TESTHANDLER_SPAWN_CHILD") != "" {
		// A grandchild of the host, to check that stopping reaches the whole group.
		child := exec.Command("sleep", "300")
		if err := child.Start(); err == nil {
			record(map[string]any{"fn": "spawned", "childPid": child.Process.Pid, "outcome": "ok"})
		}
	}
	fmt.Println("testhandler listening on", port, "worker", os.Getenv("FUNCTIONS_CUSTOMHANDLER_WORKER_ID"))
	http.HandleFunc("/", serve)
	if err := http.ListenAndServe("127.0.0.1:"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.URL.Path == "/" {
		w.WriteHeader(http.StatusOK)
		return
	}
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("X-Azure-Functions-InvocationId")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		forwarded(w, r, body, id)
		return
	}
	fn := strings.TrimPrefix(r.URL.Path, "/")
	var req struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad invocation body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var cmd command
	for _, v := range req.Data {
		if c := decodeCommand(v); c.Action != "" {
			cmd = c
		}
	}
	rec := map[string]any{
		"fn": fn, "invocationId": id, "action": cmd.Action, "key": cmd.Key,
		"userAgent": r.UserAgent(), "hostVersion": r.Header.Get("X-Azure-Functions-HostVersion"),
		"request": json.RawMessage(body),
	}
	switch cmd.Action {
	case "fail":
		rec["outcome"] = "failed"
		record(rec)
		http.Error(w, "told to fail", http.StatusInternalServerError)
		return
	case "crash":
		rec["outcome"] = "crashed"
		record(rec)
		os.Exit(3)
	case "crashonce":
		marker := filepath.Join(filepath.Dir(os.Getenv("TESTHANDLER_RECORD")), "crashed-"+cmd.Key)
		if _, err := os.Stat(marker); err != nil {
			_ = os.WriteFile(marker, nil, 0o644)
			rec["outcome"] = "crashed"
			record(rec)
			os.Exit(3)
		}
	case "sleep":
		time.Sleep(time.Duration(cmd.MS) * time.Millisecond)
	}
	outputs := map[string]any{}
	if cmd.Action == "emit" { // for serviceBus output bindings named out and outMany
		outputs["out"] = "emitted " + cmd.Key
		outputs["outMany"] = []any{map[string]any{"n": 1, "key": cmd.Key}, map[string]any{"n": 2, "key": cmd.Key}}
	}
	rec["outcome"] = "ok"
	record(rec)

	resp := map[string]any{"Outputs": outputs, "Logs": []string{"handled " + fn}, "ReturnValue": nil}
	if req.Data["req"] != nil { // JSON-mode httpTrigger: echo the request
		var reqData any
		_ = json.Unmarshal(req.Data["req"], &reqData)
		res := map[string]any{
			"statusCode": "201",
			"body":       map[string]any{"req": reqData, "metadataKeys": keys(req.Metadata)},
			"headers":    map[string]any{"X-Echo": "yes"},
		}
		if strings.HasPrefix(fn, "Return") { // functions whose http output is $return
			resp["ReturnValue"] = res
		} else {
			resp["Outputs"] = map[string]any{"res": res}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Handler-Duration-Ns", strconv.FormatInt(int64(time.Since(start)), 10))
	_ = json.NewEncoder(w).Encode(resp)
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// forwarded answers a request proxied as is (enableForwardingHttpRequest).
func forwarded(w http.ResponseWriter, r *http.Request, body []byte, id string) {
	record(map[string]any{"fn": "forwarded", "invocationId": id, "path": r.URL.Path, "outcome": "ok"})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Forwarded-By-Host", "yes")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body),
		"invocationId": id, "contentType": r.Header.Get("Content-Type"), "userAgent": r.UserAgent(),
	})
}

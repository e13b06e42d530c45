package funchost_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"meterline/infra/funchost"
)

const forwardedFn = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["get","post"],"route":"customers/{id:int}","authLevel":"anonymous"},
  {"type":"http","direction":"out","name":"res"}]}`

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	return do(t, http.MethodGet, url, "", header...)
}

func do(t *testing.T, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	must(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	return resp, readAll(t, resp.Body)
}

func TestHTTPForwardingMode(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{
		"GetCustomer": forwardedFn,
		"Special":     `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"customers/special"},{"type":"http","direction":"out","name":"res"}]}`,
	}, nil)
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)

	resp, body := do(t, http.MethodPost, h.URL()+"/api/customers/42?y=%C3%A9", `{"a":1}`, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Forwarded-By-Host") != "yes" {
		t.Fatalf("forwarded answer not relayed: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	var got map[string]string
	must(t, json.Unmarshal([]byte(body), &got))
	if got["path"] != "/api/customers/42" || got["query"] != "y=%C3%A9" || got["body"] != `{"a":1}` ||
		got["method"] != "POST" || got["contentType"] != "application/json" {
		t.Errorf("handler saw %v", got)
	}
	if got["invocationId"] == "" || !strings.HasSuffix(got["userAgent"], " Azure-Functions-Host/4.0.0-funchost") {
		t.Errorf("invocation headers missing: %v", got)
	}

	// Literal segments win over parameters, whatever the folder order.
	// Special has no authLevel, which means function (HttpTriggerAttribute's
	// default): without a key it is 401, and the handler never sees it.
	if resp, _ := get(t, h.URL()+"/api/customers/special"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("special route without a key: %d, want 401", resp.StatusCode)
	}
	if _, body := get(t, h.URL()+"/api/customers/special", "x-functions-key", functionKey(t, h)); !strings.Contains(body, `"path":"/api/customers/special"`) {
		t.Errorf("special route: %s", body)
	}
	recs := readRecord(t, a.Record)
	if len(recs) != 2 || recs[0].Path != "/api/customers/42" || recs[1].Path != "/api/customers/special" {
		t.Errorf("handler record: %+v", recs)
	}

	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/customers/abc"}, // {id:int}
		{http.MethodDelete, "/api/customers/42"},
		{http.MethodGet, "/api/nothing"},
		{http.MethodGet, "/customers/42"}, // no prefix
	} {
		resp, body := do(t, c.method, h.URL()+c.path, "")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %s, want a JSON 404", c.method, c.path, resp.StatusCode, body)
		}
	}
}

func TestHTTPJSONMode(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{
		"Echo": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["post"],"route":"echo/{name}/{n:int?}","authLevel":"anonymous"},
		  {"type":"http","direction":"out","name":"res"}]}`,
	}, nil)
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)

	resp, body := do(t, http.MethodPost, h.URL()+"/api/echo/bob/7?q=1&q=2", `{"hello":"world"}`, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Echo") != "yes" {
		t.Fatalf("http output not applied: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	var echo struct {
		Req struct {
			URL, Method, Body string
			Query             map[string]string
			Headers           map[string][]string
			Params            map[string]string
			Identities        []any
		}
		MetadataKeys []string
	}
	must(t, json.Unmarshal([]byte(body), &echo))
	r := echo.Req
	if r.Method != "POST" || r.Body != `{"hello":"world"}` || r.Query["q"] != "1,2" ||
		r.Params["name"] != "bob" || r.Params["n"] != "7" || r.URL != h.URL()+"/api/echo/bob/7?q=1&q=2" ||
		len(r.Headers["Content-Type"]) != 1 || r.Identities == nil {
		t.Errorf("Data.req = %+v", r)
	}
	for _, k := range []string{"sys", "Query", "Headers", "name", "n", "hello"} {
		if !slices.Contains(echo.MetadataKeys, k) {
			t.Errorf("Metadata lacks %q: %v", k, echo.MetadataKeys)
		}
	}

	// Optional parameter left out.
	resp, body = do(t, http.MethodPost, h.URL()+"/api/echo/alice", "")
	echo.Req.Params = nil
	must(t, json.Unmarshal([]byte(body), &echo))
	if resp.StatusCode != http.StatusCreated || echo.Req.Params["name"] != "alice" || echo.Req.Params["n"] != "" {
		t.Errorf("optional parameter: %d %s", resp.StatusCode, body)
	}
	// Method not in the list.
	if resp, _ := get(t, h.URL()+"/api/echo/bob"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET on a POST-only function: %d", resp.StatusCode)
	}
}

func TestHTTPFunctionKey(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{
		"Secured": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"secured","authLevel":"function"},{"type":"http","direction":"out","name":"res"}]}`,
		"Admin":   `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"admin-only","authLevel":"admin"},{"type":"http","direction":"out","name":"res"}]}`,
		"Open":    `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"open","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"}]}`,
	}, map[string]string{"FUNCHOST_FUNCTION_KEY": "fn-key-for-test", "FUNCHOST_MASTER_KEY": "master-key-for-test"})
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	cases := []struct {
		path   string
		header []string
		want   int
	}{
		{"/api/secured", nil, http.StatusUnauthorized},
		{"/api/secured?code=wrong", nil, http.StatusUnauthorized},
		{"/api/secured?code=fn-key-for-test", nil, http.StatusAccepted},
		{"/api/secured", []string{"x-functions-key", "fn-key-for-test"}, http.StatusAccepted},
		{"/api/secured?code=master-key-for-test", nil, http.StatusAccepted},
		{"/api/admin-only?code=fn-key-for-test", nil, http.StatusUnauthorized},
		{"/api/admin-only?code=master-key-for-test", nil, http.StatusAccepted},
		{"/api/open", nil, http.StatusAccepted},
	}
	for _, c := range cases {
		if resp, body := get(t, h.URL()+c.path, c.header...); resp.StatusCode != c.want {
			t.Errorf("GET %s %v: %d %s, want %d", c.path, c.header, resp.StatusCode, body, c.want)
		}
	}
}

func TestSeveralAppsShareOneListener(t *testing.T) {
	fn := func(route string) string {
		return `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"` + route + `","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"}]}`
	}
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"PingA": fn("a/ping")}, nil)
	b := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"PingB": fn("b/ping")}, nil)
	h, stop := startHost(t, []*funchost.App{loadApp(t, a), loadApp(t, b)}, nil)
	pids := funchost.HandlerPIDs(h)
	if len(pids) != 2 || pids[0] == pids[1] || pids[0] == 0 {
		t.Fatalf("want one handler process per app, got %v", pids)
	}
	for _, p := range []string{"/api/a/ping", "/api/b/ping"} {
		if resp, body := get(t, h.URL()+p); resp.StatusCode != http.StatusAccepted {
			t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
		}
	}
	ra, rb := readRecord(t, a.Record), readRecord(t, b.Record)
	if len(ra) != 1 || len(rb) != 1 || ra[0].PID != pids[0] || rb[0].PID != pids[1] {
		t.Errorf("each app's handler must serve its own routes: %+v %+v (pids %v)", ra, rb, pids)
	}

	// Shutdown leaves no handler behind.
	stop()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("handler %d still exists after shutdown (kill 0: %v)", pid, err)
		}
	}

	// The same route in two apps is refused, naming both.
	c := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"Other": fn("A/{x}")}, nil)
	d := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"Mine": fn("a/{y}")}, nil)
	_, err := funchost.NewHost([]*funchost.App{loadApp(t, c), loadApp(t, d)}, funchost.HostOptions{HTTPAddr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "Other/function.json") || !strings.Contains(err.Error(), "Mine/function.json") {
		t.Fatalf("route conflict not reported: %v", err)
	}
}

func TestHandlerRestartedWhenItDies(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"Ping": forwardedFn}, nil)
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	first := funchost.HandlerPIDs(h)[0]
	must(t, syscall.Kill(first, syscall.SIGKILL))
	waitFor(t, 20*time.Second, "a new handler process", func() bool {
		p := funchost.HandlerPIDs(h)[0]
		return p != 0 && p != first
	})
	// Requests wait for the restarted handler rather than failing.
	if resp, body := get(t, h.URL()+"/api/customers/1"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("after restart: %d %s", resp.StatusCode, body)
	}
}

func TestShutdownKillsHandlerThatIgnoresSIGTERMAndItsChildren(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"Ping": forwardedFn}, nil)
	app := loadApp(t, a, "TESTHANDLER_IGNORE_SIGTERM=1", "TESTHANDLER_SPAWN_CHILD=1")
	h, stop := startHost(t, []*funchost.App{app}, nil)
	pid := funchost.HandlerPIDs(h)[0]
	var child int
	waitFor(t, 10*time.Second, "the handler's child", func() bool {
		for _, inv := range readRecord(t, a.Record) {
			if inv.Fn == "spawned" {
				child = inv.ChildPID
			}
		}
		return child != 0
	})
	stop() // SIGTERM is ignored: the host must escalate to SIGKILL
	for _, p := range []int{pid, child} {
		waitFor(t, 5*time.Second, fmt.Sprintf("process %d to be gone", p), func() bool { return !alive(p) })
	}
}

// alive: the process exists and is not a zombie waiting for its reaper (the
// orphaned grandchild is reaped by whatever init the machine runs).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Field 3, after "pid (comm)", is the state.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

func TestHostFailsWhenHandlerNeverStarts(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{"Ping": forwardedFn}, nil)
	h, err := funchost.NewHost([]*funchost.App{loadApp(t, a, "TESTHANDLER_EXIT_AT_START=1")},
		funchost.HostOptions{HTTPAddr: "127.0.0.1:0", Logger: testLogger(t)})
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- h.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Exceeded http worker restart retry count") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run kept restarting a handler that never starts")
	}
}

func TestHTTPJSONModeBinaryBodyReturnValueAndCatchAll(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{
		"ReturnFiles": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["put"],"route":"files/{*path}","authLevel":"anonymous"},
		  {"type":"http","direction":"out","name":"$return"}]}`,
	}, nil)
	h, _ := startHost(t, []*funchost.App{loadApp(t, a)}, nil)
	resp, body := do(t, http.MethodPut, h.URL()+"/api/files/a/b/c.bin", "\x00\x01\x02\xff", "Content-Type", "application/octet-stream")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	var echo struct {
		Req struct {
			Body   string
			Params map[string]string
		}
	}
	must(t, json.Unmarshal([]byte(body), &echo))
	if echo.Req.Body != "AAEC/w==" || echo.Req.Params["path"] != "a/b/c.bin" {
		t.Errorf("binary body must arrive as base64 and the catch-all take the rest: %+v", echo.Req)
	}
}

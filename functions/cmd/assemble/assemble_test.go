package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"meterline/functions/internal/apps"
	"meterline/infra/funchost"
	"meterline/shared/azurite"
	"meterline/shared/funcapp"
)

// hits records which registered handler served a request, by function name.
type hits struct {
	mu    sync.Mutex
	names []string
}

func (h *hits) add(name string) {
	h.mu.Lock()
	h.names = append(h.names, name)
	h.mu.Unlock()
}

func (h *hits) last() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.names) == 0 {
		return ""
	}
	return h.names[len(h.names)-1]
}

// testApp has every trigger shape; each handler records its own name. A message whose body
// is "poison" is poisoned, so the outputs the runtime produces can be checked too.
func testApp(h *hits) *funcapp.App {
	app := funcapp.New("billing")
	httpFn := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.add(name); w.WriteHeader(http.StatusNoContent) })
	}
	msgFn := func(name string) funcapp.MessageHandler {
		return func(_ context.Context, m *funcapp.Message) error {
			h.add(name)
			if string(m.Body) == "poison" {
				return funcapp.Poison("test", nil)
			}
			return nil
		}
	}
	app.HTTP("GetInvoice", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "billing/invoices/{invoiceId}"}, httpFn("GetInvoice"))
	app.HTTP("PayInvoice", funcapp.HTTPTrigger{Methods: []string{"POST", "PUT"}, Route: "billing/invoices/{invoiceId:guid}/payments", AuthLevel: "anonymous"}, httpFn("PayInvoice"))
	app.HTTP("Ping", funcapp.HTTPTrigger{}, httpFn("Ping"))
	app.HTTP("Docs", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "billing/docs/{*path}"}, httpFn("Docs"))
	app.ServiceBus("OnUsage", funcapp.ServiceBusTrigger{Topic: "cloudapi", Subscription: "billing"}, msgFn("OnUsage"))
	app.ServiceBus("OnCommand", funcapp.ServiceBusTrigger{Queue: "billing-commands", Connection: "OtherBus"}, msgFn("OnCommand"))
	app.Timer("CloseDay", funcapp.TimerTrigger{Schedule: "%CloseDaySchedule%", RunOnStartup: true}, func(context.Context, funcapp.TimerInfo) error {
		h.add("CloseDay")
		return nil
	})
	return app
}

func repoHostJSON(t *testing.T) []byte {
	t.Helper()
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type binding struct {
	Type, Direction, Name, Route string
	Methods                      []string
}

// readFunctions reads every OUT/<folder>/function.json.
func readFunctions(t *testing.T, out string) map[string][]binding {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(out, "*", "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string][]binding{}
	for _, f := range files {
		var def struct{ Bindings []binding }
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &def); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		defs[filepath.Base(filepath.Dir(f))] = def.Bindings
	}
	return defs
}

var routeParam = regexp.MustCompile(`\{\*?([^}:]+)(:[^}]*)?\}`)

// TestFunctionFoldersMatchWhatTheRuntimeServes is the drift test: every registered function has
// a folder, and every folder's function.json is served by its own handler, through the
// invocation path, the forwarded HTTP route the host would use, and the output names declared.
func TestFunctionFoldersMatchWhatTheRuntimeServes(t *testing.T) {
	h := &hits{}
	app := testApp(h)
	out := t.TempDir()
	if err := assemble(app, repoHostJSON(t), out); err != nil {
		t.Fatal(err)
	}
	defs := readFunctions(t, out)

	var registered, folders []string
	for _, f := range app.Functions() {
		registered = append(registered, f.Name)
	}
	for name := range defs {
		folders = append(folders, name)
	}
	sort.Strings(registered)
	sort.Strings(folders)
	if !slices.Equal(registered, folders) {
		t.Fatalf("function folders %v, registered %v", folders, registered)
	}

	var host struct {
		Extensions struct{ HTTP struct{ RoutePrefix string } }
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(out, "host.json")), &host); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()

	for name, bindings := range defs {
		trigger := bindings[0]
		outputs := map[string]bool{}
		for _, b := range bindings[1:] {
			if b.Direction != "out" {
				t.Errorf("%s: unexpected binding %+v", name, b)
			}
			outputs[b.Name] = true
		}
		switch trigger.Type {
		case "httpTrigger":
			route := trigger.Route
			if route == "" {
				route = name
			}
			path := "/" + host.Extensions.HTTP.RoutePrefix + "/" + routeParam.ReplaceAllString(route, "x")
			methods := trigger.Methods
			if len(methods) == 0 {
				methods = []string{"get", "delete"}
			}
			for _, m := range methods {
				status := send(t, strings.ToUpper(m), srv.URL+path, nil)
				if status != http.StatusNoContent || h.last() != name {
					t.Errorf("%s: forwarded %s %s -> %d, served by %q", name, m, path, status, h.last())
				}
			}
			if !outputs["res"] || trigger.Name != "req" {
				t.Errorf("%s: bindings %+v, want req in and res out", name, bindings)
			}
			payload := fmt.Sprintf(`{"Data":{"%s":{"Url":"http://localhost%s","Method":"%s","Headers":{},"Params":{}}},"Metadata":{}}`, trigger.Name, path, methods[0])
			checkInvocation(t, srv, name, payload, outputs, h)
		case "serviceBusTrigger":
			for _, body := range []string{"ok", "poison"} {
				payload := fmt.Sprintf(`{"Data":{"%s":%q},"Metadata":{"DeliveryCount":"1"}}`, trigger.Name, b64(body))
				checkInvocation(t, srv, name, payload, outputs, h)
			}
		case "timerTrigger":
			payload := fmt.Sprintf(`{"Data":{"%s":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`, trigger.Name)
			checkInvocation(t, srv, name, payload, outputs, h)
		default:
			t.Errorf("%s: unknown trigger %q", name, trigger.Type)
		}
	}
}

// checkInvocation posts an invocation as the host would and checks that the function's own
// handler ran and that every output it returned is declared in function.json.
func checkInvocation(t *testing.T, srv *httptest.Server, name, payload string, declared map[string]bool, h *hits) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/"+name, "application/json", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || h.last() != name {
		t.Fatalf("%s: invocation -> %d %s, served by %q", name, resp.StatusCode, body, h.last())
	}
	var result struct{ Outputs map[string]json.RawMessage }
	if err := json.Unmarshal(body, &result); err != nil {
		t.Fatal(err)
	}
	for out := range result.Outputs {
		if !declared[out] {
			t.Errorf("%s: output %q is not declared in function.json", name, out)
		}
	}
}

func send(t *testing.T, method, url string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func b64(s string) string {
	b, _ := json.Marshal([]byte(s))
	var out string
	json.Unmarshal(b, &out)
	return out
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHostJSONSelectsTheApp(t *testing.T) {
	out := t.TempDir()
	src := repoHostJSON(t)
	if err := assemble(testApp(&hits{}), src, out); err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	json.Unmarshal(mustRead(t, filepath.Join(out, "host.json")), &got)
	json.Unmarshal(src, &want)
	desc := want["customHandler"].(map[string]any)["description"].(map[string]any)
	desc["arguments"] = []any{"-app", "billing"}
	desc["defaultExecutablePath"] = "handler"
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Errorf("host.json\n got %s\nwant %s", gb, wb)
	}

	app := testApp(&hits{})
	app.RoutePrefix = "v1"
	if err := assemble(app, src, t.TempDir()); err == nil || !strings.Contains(err.Error(), "routePrefix") {
		t.Errorf("route prefix mismatch: err = %v", err)
	}
	if err := assemble(testApp(&hits{}), []byte(`{"version":"2.0"}`), t.TempDir()); err == nil {
		t.Error("host.json without customHandler accepted")
	}
}

func TestStaleFunctionFoldersAreRemoved(t *testing.T) {
	out := t.TempDir()
	for _, dir := range []string{"Gone", "assets"} {
		os.MkdirAll(filepath.Join(out, dir), 0o755)
	}
	os.WriteFile(filepath.Join(out, "Gone", "function.json"), []byte(`{"bindings":[]}`), 0o644)
	if err := assemble(testApp(&hits{}), repoHostJSON(t), out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "Gone")); !os.IsNotExist(err) {
		t.Error("the folder of an unregistered function survived")
	}
	if _, err := os.Stat(filepath.Join(out, "assets")); err != nil {
		t.Error("a folder without function.json was removed")
	}
}

func TestHandlerBinaryIsLinuxAMD64(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross-compiling the handler takes a while")
	}
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "handler")
	if err := buildHandler(root, dst); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(dst)
	if err != nil {
		t.Fatalf("handler is not an ELF binary: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("machine %v, want x86-64", f.Machine)
	}
	if interp := f.Section(".interp"); interp != nil {
		t.Error("handler is dynamically linked (CGO_ENABLED=0 expected)")
	}
	if st, _ := os.Stat(dst); st.Mode()&0o111 == 0 {
		t.Error("handler is not executable")
	}
}

// TestRegisteredContextsAssemble assembles every selectable app from the real registry.
func TestRegisteredContextsAssemble(t *testing.T) {
	names := apps.Names()
	if len(names) == 1 {
		t.Fatal("no bounded context is registered in functions/cmd/internal/apps/contexts.go")
	}
	total := 0
	for _, name := range names {
		app, err := apps.Define(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := t.TempDir()
		if err := assemble(app, repoHostJSON(t), out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		app.Handler() // panics on conflicting routes
		// What is published carries the extension bundle: without it Azure registers no
		// Service Bus binding (and the local host refuses the app, as Azure would).
		var host struct {
			ExtensionBundle struct{ ID, Version string } `json:"extensionBundle"`
		}
		if err := json.Unmarshal(mustRead(t, filepath.Join(out, "host.json")), &host); err != nil {
			t.Fatalf("%s: host.json: %v", name, err)
		}
		if b := host.ExtensionBundle; b.ID != "Microsoft.Azure.Functions.ExtensionBundle" || b.Version != "[4.*, 5.0.0)" {
			t.Errorf("%s: host.json extensionBundle %+v, want Microsoft.Azure.Functions.ExtensionBundle [4.*, 5.0.0)", name, b)
		}
		// The local host loads the folder with the repository's local.settings.json: every
		// %Setting% the functions name is defined there, every binding is one it supports.
		root, err := azurite.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		// Load only checks the handler exists; the real binary is built by TestHandlerBinaryIsLinuxAMD64.
		if err := os.WriteFile(filepath.Join(out, "handler"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := funchost.Load(out, funchost.Options{SettingsFile: filepath.Join(root, "local.settings.json"), Env: []string{}}); err != nil {
			t.Errorf("%s: the local host refuses the assembled app: %v", name, err)
		}
		if n := len(readFunctions(t, out)); n != len(app.Functions()) {
			t.Errorf("%s: %d folders for %d functions", name, n, len(app.Functions()))
		}
		if name != apps.All {
			total += len(app.Functions())
		} else if len(app.Functions()) != total {
			t.Errorf("all has %d functions, the contexts %d", len(app.Functions()), total)
		}
	}
}

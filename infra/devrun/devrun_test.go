package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// devrunUnderTest is devrun running in the background for a test.
type devrunUnderTest struct {
	info      readyInfo
	out, logs lockedBuffer
	cancel    context.CancelFunc
	done      chan error
}

// startDevrun runs devrun with s on the test's behalf and waits up to within
// for it to be ready; its output and logs are shown if it is not.
func startDevrun(t *testing.T, s settings, within time.Duration) *devrunUnderTest {
	t.Helper()
	dr := &devrunUnderTest{done: make(chan error, 1)}
	ready := make(chan readyInfo, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dr.cancel = cancel
	s.onReady = func(r readyInfo) { ready <- r }
	s.Logger = slog.New(slog.NewTextHandler(&dr.logs, nil))
	go func() { dr.done <- run(ctx, s, &dr.out) }()
	select {
	case dr.info = <-ready:
	case err := <-dr.done:
		t.Fatalf("devrun stopped: %v\n%s\n%s", err, dr.out.String(), dr.logs.String())
	case <-time.After(within):
		t.Fatalf("devrun not ready\n%s\n%s", dr.out.String(), dr.logs.String())
	}
	return dr
}

// stop is Ctrl-C: devrun must return without error within 30s.
func (dr *devrunUnderTest) stop(t *testing.T) {
	t.Helper()
	dr.cancel()
	select {
	case err := <-dr.done:
		if err != nil {
			t.Fatalf("devrun: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("devrun did not stop within 30s")
	}
}

// TestDevrunStartsEverythingAndStopsCleanly runs devrun on free ports with a
// small assembled app: HTTP through the host, a Service Bus message through
// the emulator to the handler, then Ctrl-C (context cancel) leaves nothing behind.
func TestDevrunStartsEverythingAndStopsCleanly(t *testing.T) {
	root := t.TempDir()
	app := filepath.Join(root, ".build", "demo")
	must(t, os.MkdirAll(filepath.Join(app, "Ping"), 0o755))
	must(t, os.MkdirAll(filepath.Join(app, "OnUsage"), 0o755))
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", filepath.Join(app, "handler"), "../funchost/testdata/testhandler")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build handler: %v\n%s", err, out)
	}
	files := map[string]string{
		"host.json": `{"version":"2.0","extensionBundle":{"id":"Microsoft.Azure.Functions.ExtensionBundle","version":"[4.*, 5.0.0)"},
		  "extensions":{"http":{"routePrefix":"api"}},
		  "customHandler":{"description":{"defaultExecutablePath":"handler"},"enableForwardingHttpRequest":true}}`,
		"Ping/function.json":    `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["get"],"route":"ping"},{"type":"http","direction":"out","name":"res"}]}`,
		"OnUsage/function.json": `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","topicName":"usage","subscriptionName":"billing","connection":"ServiceBusConnection"}]}`,
	}
	for name, body := range files {
		must(t, os.WriteFile(filepath.Join(app, name), []byte(body), 0o644))
	}
	record := filepath.Join(root, "invocations.jsonl")
	settingsFile := filepath.Join(root, "local.settings.json")
	// The settings name the default local endpoints; devrun must redirect them.
	must(t, os.WriteFile(settingsFile, []byte(`{"IsEncrypted":false,"Values":{"FUNCTIONS_WORKER_RUNTIME":"custom",
	  "AzureWebJobsStorage":"UseDevelopmentStorage=true",
	  "ServiceBusConnection":"Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=local-emulator-placeholder;UseDevelopmentEmulator=true;",
	  "TESTHANDLER_RECORD":"`+record+`"}}`), 0o644))
	sbConfig := filepath.Join(root, "config.json")
	must(t, os.WriteFile(sbConfig, []byte(`{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns","Queues":[],
	  "Topics":[{"Name":"usage","Properties":{},"Subscriptions":[{"Name":"billing","Properties":{"MaxDeliveryCount":3},
	  "Rules":[{"Name":"all","Properties":{"FilterType":"Sql","SqlFilter":{"SqlExpression":"1=1"}}}]}]}]}],"Logging":{"Type":"Console"}}}`), 0o644))

	dr := startDevrun(t, settings{
		Build: filepath.Join(root, ".build"), Mode: "contexts", Settings: settingsFile, DataDir: filepath.Join(root, "azurite"),
		SBAddr: "127.0.0.1:0", SBConfig: sbConfig, HTTPPort: 0,
	}, 90*time.Second)
	info, out := dr.info, &dr.out
	if !strings.Contains(out.String(), "\nmeterline is ready\n") || !strings.Contains(out.String(), "demo/Ping: [GET] "+info.HTTP+"/api/ping") {
		t.Errorf("devrun output:\n%s", out.String())
	}

	// Ping has no authLevel, so function: devrun prints the key that lets a developer in.
	resp, err := http.Get(info.HTTP + "/api/ping")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /api/ping without a key: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, info.HTTP+"/api/ping", nil)
	req.Header.Set("x-functions-key", printedKey(t, out.String(), "demo"))
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("GET /api/ping with the printed key: %d", resp.StatusCode)
	}

	client, err := azservicebus.NewClientFromConnectionString(info.ServiceBusConnection, nil)
	must(t, err)
	defer client.Close(context.Background())
	sender, err := client.NewSender("usage", nil)
	must(t, err)
	must(t, sender.SendMessage(context.Background(), &azservicebus.Message{Body: []byte(`{"action":"ok","key":"through-devrun"}`)}, nil))
	sender.Close(context.Background())

	var handlerPID int
	deadline := time.Now().Add(30 * time.Second)
	for handlerPID == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the Service Bus message never reached the handler\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
		f, err := os.Open(record)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			var inv struct {
				Key string
				PID int
			}
			_ = json.Unmarshal(sc.Bytes(), &inv)
			if inv.Key == "through-devrun" {
				handlerPID = inv.PID
			}
		}
		f.Close()
	}

	dr.stop(t) // Ctrl-C
	if err := syscall.Kill(handlerPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("handler %d still exists after devrun stopped (%v)", handlerPID, err)
	}
	for _, u := range []string{info.HTTP} {
		pu, _ := url.Parse(u)
		if c, err := net.DialTimeout("tcp", pu.Host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after devrun stopped", u)
		}
	}
	storageBlob := ""
	for _, part := range strings.Split(info.StorageConnection, ";") {
		if k, v, _ := strings.Cut(part, "="); k == "BlobEndpoint" {
			storageBlob = v
		}
	}
	if pu, err := url.Parse(storageBlob); err == nil && pu.Host != "" {
		if c, err := net.DialTimeout("tcp", pu.Host, time.Second); err == nil {
			c.Close()
			t.Errorf("Azurite still listening on %s after devrun stopped", pu.Host)
		}
	} else {
		t.Errorf("no BlobEndpoint in %q", info.StorageConnection)
	}
}

func TestAppFoldersByMode(t *testing.T) {
	root := t.TempDir()
	for _, app := range []string{"all", "cloudapi", "product", "subscriptions"} {
		must(t, os.MkdirAll(filepath.Join(root, app), 0o755))
		must(t, os.WriteFile(filepath.Join(root, app, "host.json"), []byte("{}"), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(root, "not-an-app"), 0o755))
	got, err := appFolders(settings{Build: root, Mode: "all"})
	must(t, err)
	if len(got) != 1 || filepath.Base(got[0]) != "all" {
		t.Errorf("mode all: %v", got)
	}
	got, err = appFolders(settings{Build: root, Mode: "contexts"})
	must(t, err)
	if len(got) != 3 || filepath.Base(got[0]) != "cloudapi" || filepath.Base(got[2]) != "subscriptions" {
		t.Errorf("mode contexts: %v", got)
	}
	if _, err := appFolders(settings{Build: root, Mode: "some"}); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := appFolders(settings{Build: filepath.Join(root, "missing"), Mode: "all"}); err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing build folder: %v", err)
	}
}

func TestDevrunEmulatorsOnly(t *testing.T) {
	root := t.TempDir()
	dr := startDevrun(t, settings{
		EmulatorsOnly: true, DataDir: filepath.Join(root, "azurite"), SBAddr: "127.0.0.1:0",
		SBConfig: "../servicebus-emulator/config.json",
	}, 60*time.Second)
	info, out := dr.info, &dr.out
	// The shipped config's topics are there.
	client, err := azservicebus.NewClientFromConnectionString(info.ServiceBusConnection, nil)
	must(t, err)
	defer client.Close(context.Background())
	sender, err := client.NewSender("subscriptions", nil)
	must(t, err)
	must(t, sender.SendMessage(context.Background(), &azservicebus.Message{Body: []byte("{}")}, nil))
	sender.Close(context.Background())
	dr.stop(t)
	if !strings.Contains(out.String(), "emulators are ready") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestDevrunRunsTheAssembledAllInOneApp is the end-to-end path through the real
// system: the all-in-one app assembled from functions/, run by devrun on free
// ports. An HTTP request appends an event, the outbox publishes it to the
// emulator, the host invokes the Service Bus receptor, and the view is readable
// over HTTP.
func TestDevrunRunsTheAssembledAllInOneApp(t *testing.T) {
	root := t.TempDir()
	repo, err := filepath.Abs("../..")
	must(t, err)
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "run", "./functions/cmd/assemble", "-app", "all", "-out", filepath.Join(root, ".build", "all"))
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("assemble the all-in-one app: %v\n%s", err, out)
	}
	settingsFile := filepath.Join(root, "local.settings.json")
	must(t, os.WriteFile(settingsFile, appSettings(t, filepath.Join(root, ".build", "all")), 0o644))

	dr := startDevrun(t, settings{
		Build: filepath.Join(root, ".build"), Mode: "all", Settings: settingsFile, DataDir: filepath.Join(root, "azurite"),
		SBAddr: "127.0.0.1:0", SBConfig: filepath.Join(repo, "infra/servicebus-emulator/config.json"),
	}, 120*time.Second)
	info, logs := dr.info, &dr.logs

	// The back office is authLevel function: the key devrun printed lets the caller in.
	req, _ := http.NewRequest(http.MethodPost, info.HTTP+"/api/subscriptions/customers",
		strings.NewReader(`{"name":"Acme Metering","email":"ops@acme.test","plan":"starter"}`))
	req.Header.Set("Content-Type", "application/json")
	key := printedKey(t, dr.out.String(), "all")
	req.Header.Set("x-functions-key", key)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || location == "" {
		t.Fatalf("POST customer: %d, Location %q\n%s", resp.StatusCode, location, logs.String())
	}
	req, _ = http.NewRequest(http.MethodGet, info.HTTP+location, nil)
	req.Header.Set("x-functions-key", key)
	resp, err = http.DefaultClient.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Acme Metering") {
		t.Fatalf("GET %s: %d %s", location, resp.StatusCode, body)
	}
	// The event went out through the outbox and came back through the host, to the Cloud
	// API's projection of customers.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs.String(), "Executed 'Functions.ReplicateCustomerLocks' (Succeeded") {
		if time.Now().After(deadline) {
			t.Fatalf("ReplicateCustomerLocks never ran through the host\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	dr.stop(t)
}

// printedKey is the function key devrun printed for app.
func printedKey(t *testing.T, out, app string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(app) + `: function key (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("devrun did not print the function key of %s:\n%s", app, out)
	}
	return m[1]
}

// appSettings is the repository's local.settings.json plus a yearly schedule
// for every %Setting% the app's timer schedules name and the file lacks, so
// that the test does not depend on the file being complete.
func appSettings(t *testing.T, app string) []byte {
	raw, err := os.ReadFile("../../local.settings.json")
	must(t, err)
	var file struct {
		IsEncrypted bool
		Values      map[string]string
	}
	must(t, json.Unmarshal(raw, &file))
	defs, err := filepath.Glob(filepath.Join(app, "*", "function.json"))
	must(t, err)
	for _, d := range defs {
		b, err := os.ReadFile(d)
		must(t, err)
		var fn struct{ Bindings []map[string]any }
		must(t, json.Unmarshal(b, &fn))
		for _, bd := range fn.Bindings {
			sch, _ := bd["schedule"].(string)
			if name, ok := strings.CutPrefix(sch, "%"); ok {
				name = strings.TrimSuffix(name, "%")
				if _, set := file.Values[name]; !set {
					file.Values[name] = "0 0 0 1 1 *"
				}
			}
		}
	}
	out, err := json.Marshal(file)
	must(t, err)
	return out
}

// TestLocalEndpointsRedirectsWhatTheHostWouldExpand: every form of the
// UseDevelopmentStorage shorthand the host expands (azurite.ExpandConnectionString)
// goes to the started Azurite; full connection strings are left alone.
func TestLocalEndpointsRedirectsWhatTheHostWouldExpand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "local.settings.json")
	must(t, os.WriteFile(file, []byte(`{"Values":{
	  "Plain":"UseDevelopmentStorage=true",
	  "WithProxy":" usedevelopmentstorage=TRUE ;DevelopmentStorageProxyUri=http://127.0.0.1",
	  "Full":"DefaultEndpointsProtocol=http;AccountName=x;AccountKey=eQ==;BlobEndpoint=http://127.0.0.1:1/x;",
	  "Bus":"Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;",
	  "Off":"UseDevelopmentStorage=false"}}`), 0o644))
	env, err := localEndpoints(file, "STORAGE", "BUS")
	must(t, err)
	want := []string{"AzureWebJobsStorage=STORAGE", "Bus=BUS", "Plain=STORAGE", "WithProxy=STORAGE"}
	if strings.Join(env, "\n") != strings.Join(want, "\n") {
		t.Errorf("overrides %q, want %q", env, want)
	}
}

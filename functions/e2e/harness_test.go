package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/infra/funchost"
	emulator "meterline/infra/servicebus-emulator"
	"meterline/shared/azurite"
	"meterline/shared/blocks"
)

// The bounded-context apps, each assembled into its own folder and run by its own host.
const (
	subscriptionsApp = "subscriptions"
	cloudapiApp      = "cloudapi"
	productApp       = "product"
	journalApp       = "journal"
)

var appNames = []string{subscriptionsApp, cloudapiApp, productApp, journalApp}

// usageInbox is the subscription on topic cloudapi where Subscriptions' ApplyUsage receives the
// usage reports; named as the kit names every receptor's subscription.
var usageInbox = blocks.SubscriptionName(subscriptionsApp, "ApplyUsage")

// reportPeriod is the Cloud API's usage reporting period in these tests
// (UsageReportSchedule below); "within one report period" is measured against it.
const reportPeriod = 2 * time.Second

// schedules are the fast timer schedules (and the Journal's short grace period) the tests run
// with (the defaults are minutes to months).
var schedules = map[string]string{
	"UsageReportSchedule":      "*/2 * * * * *",
	"OutboxSweepSchedule":      "*/3 * * * * *",
	"InvoiceExpirySchedule":    "*/10 * * * * *",
	"MonthlyInvoicingSchedule": "*/10 * * * * *",
	// The Journal's projections every 2 s, over what was received until 3 s ago.
	"JournalProjectionSchedule": "*/2 * * * * *",
	"JournalGracePeriod":        "3s",
}

// sys is the running system every test uses; TestMain starts it once.
var sys *system

type system struct {
	storage *azurite.Instance
	bus     *emulator.Server
	apps    map[string]*appHost
}

// appHost runs one assembled app on its own local Functions host, so that one
// context can be stopped and started while the others keep running.
type appHost struct {
	name string
	dir  string
	env  []string
	logs *logBook

	mu     sync.Mutex
	addr   string // the HTTP address, kept across restarts
	url    string
	key    string // the app's default host key (function level), kept in Azurite across restarts
	cancel context.CancelFunc
	done   chan error
}

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run()) // listing needs no running system
	}
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	build, err := os.MkdirTemp("", "meterline-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(build)
	started := time.Now()
	if err := assembleApps(build); err != nil {
		return 0, err
	}
	assembled := time.Since(started)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	storage, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		return 0, fmt.Errorf("azurite: %w", err)
	}
	defer storage.Stop()
	bus, err := emulator.Start(ctx, emulator.Options{}) // the shipped config.json
	if err != nil {
		return 0, fmt.Errorf("servicebus emulator: %w", err)
	}
	defer bus.Close()

	s := &system{storage: storage, bus: bus, apps: map[string]*appHost{}}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"AzureWebJobsStorage=" + storage.ConnectionString(),
		"ServiceBusConnection=" + bus.ConnectionString(),
	}
	for k, v := range schedules {
		env = append(env, k+"="+v)
	}
	for _, name := range appNames {
		a := &appHost{name: name, dir: filepath.Join(build, name), env: env, logs: newLogBook(), addr: "127.0.0.1:0"}
		if err := a.start(); err != nil {
			s.stop()
			return 0, err
		}
		s.apps[name] = a
	}
	defer s.stop()
	fmt.Fprintf(os.Stderr, "e2e: apps assembled in %s, system ready in %s\n",
		assembled.Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
	sys = s
	return m.Run(), nil
}

// assembleApps lays out the four apps with the project's own assembly tool.
// The handler binary is the same for every app (host.json's arguments select
// the context), so it is built once and copied.
func assembleApps(build string) error {
	root, err := azurite.RepoRoot()
	if err != nil {
		return err
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	for i, name := range appNames {
		args := []string{"run", "./functions/cmd/assemble", "-app", name, "-out", filepath.Join(build, name)}
		if i > 0 {
			args = append(args, "-no-binary")
		}
		cmd := exec.Command(goTool, args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("assemble %s: %v\n%s", name, err, out)
		}
	}
	handler, err := os.ReadFile(filepath.Join(build, appNames[0], "handler"))
	if err != nil {
		return err
	}
	for _, name := range appNames[1:] {
		if err := os.WriteFile(filepath.Join(build, name, "handler"), handler, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (s *system) stop() {
	for _, a := range s.apps {
		a.stop()
	}
}

// url is the base URL of an app's HTTP listener.
func (s *system) url(app string) string {
	a := s.apps[app]
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.url
}

// functionKey is the default host key of the app listening on addr (host:port), "" if none.
func (s *system) functionKey(addr string) string {
	for _, a := range s.apps {
		a.mu.Lock()
		key, own := a.key, a.addr == addr
		a.mu.Unlock()
		if own {
			return key
		}
	}
	return ""
}

// withFunctionKeys sends the app's function key (x-functions-key, as a back-office caller
// does) with every request to one of the apps, so that authLevel function endpoints let the
// tests in; a request that already carries a key keeps it.
type withFunctionKeys struct{ next http.RoundTripper }

func (k withFunctionKeys) RoundTrip(r *http.Request) (*http.Response, error) {
	if key := sys.functionKey(r.URL.Host); key != "" && r.Header.Get("x-functions-key") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("x-functions-key", key)
	}
	return k.next.RoundTrip(r)
}

// start loads the assembled app and runs it on a new host, on the address it
// had before (a restart), and waits until its handler answers and every
// trigger listens.
func (a *appHost) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return fmt.Errorf("%s is already running", a.name)
	}
	log := slog.New(a.logs.handler(a.name))
	app, err := funchost.Load(a.dir, funchost.Options{
		SettingsFile: filepath.Join(a.dir, "local.settings.json"), Env: a.env, Logger: log,
		TimerLockPoll: time.Second, StartupTimeout: time.Minute,
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", a.name, err)
	}
	h, err := funchost.NewHost([]*funchost.App{app}, funchost.HostOptions{HTTPAddr: a.addr, Logger: log, DrainTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("host %s: %w", a.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-done:
		cancel()
		return fmt.Errorf("%s stopped before it was ready: %v\n%s", a.name, err, a.logs.tail(40))
	case <-time.After(90 * time.Second):
		cancel()
		<-done
		return fmt.Errorf("%s not ready after 90s\n%s", a.name, a.logs.tail(40))
	}
	a.url = h.URL()
	a.addr = strings.TrimPrefix(a.url, "http://")
	for _, k := range h.Keys() {
		a.key = k.FunctionKeys["default"]
	}
	if a.key == "" {
		cancel()
		<-done
		return fmt.Errorf("%s: the host has no function key", a.name)
	}
	a.cancel, a.done = cancel, done
	return nil
}

func (a *appHost) running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cancel != nil
}

// stop shuts the app's host down (its handler process with it) and waits.
func (a *appHost) stop() error {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.cancel, a.done = nil, nil
	a.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s did not stop within 30s", a.name)
	}
}

// handlerPID is the process id of the app's running handler, as the host logged it.
func (a *appHost) handlerPID() int {
	l, ok := a.logs.last(func(l logLine) bool { return l.msg == "custom handler ready" })
	if !ok {
		return 0
	}
	pid, _ := strconv.Atoi(l.attrs["pid"])
	return pid
}

// logBook keeps an app's host and handler logs, for tests that wait on what the
// host did (an invocation running, a handler restarted) and for failure reports.
type logBook struct {
	mu    sync.Mutex
	lines []logLine
	seq   int // lines ever added; positions survive trimming
	echo  io.Writer
}

type logLine struct {
	seq   int
	at    time.Time
	level slog.Level
	msg   string
	attrs map[string]string
}

const maxLogLines = 50_000

func newLogBook() *logBook {
	b := &logBook{}
	if os.Getenv("E2E_LOG") != "" {
		b.echo = os.Stderr
	}
	return b
}

func (b *logBook) add(l logLine) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	l.seq = b.seq
	if len(b.lines) >= maxLogLines {
		b.lines = append(b.lines[:0], b.lines[maxLogLines/2:]...)
	}
	b.lines = append(b.lines, l)
	if b.echo != nil {
		fmt.Fprintln(b.echo, l.String())
	}
}

// mark is the position of the next line, for "after this point" searches.
func (b *logBook) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq + 1
}

// since returns the lines from position from on that match.
func (b *logBook) since(from int, match func(logLine) bool) []logLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []logLine
	for _, l := range b.lines {
		if l.seq >= from && match(l) {
			out = append(out, l)
		}
	}
	return out
}

// executions counts the host's "Executed 'Functions.<function>' (<outcome>" lines from position
// from on; outcome is "Succeeded" or "Failed".
func (b *logBook) executions(from int, function, outcome string) int {
	prefix := "Executed 'Functions." + function + "' (" + outcome
	return len(b.since(from, func(l logLine) bool { return strings.HasPrefix(l.msg, prefix) }))
}

func (b *logBook) last(match func(logLine) bool) (logLine, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.lines) - 1; i >= 0; i-- {
		if match(b.lines[i]) {
			return b.lines[i], true
		}
	}
	return logLine{}, false
}

func (b *logBook) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := b.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString(l.String())
		sb.WriteByte('\n')
	}
	return sb.String()
}

func (l logLine) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s %s", l.at.Format("15:04:05.000"), l.level, l.msg)
	for k, v := range l.attrs {
		fmt.Fprintf(&sb, " %s=%q", k, v)
	}
	return sb.String()
}

func (b *logBook) handler(app string) slog.Handler {
	return &bookHandler{book: b, attrs: []slog.Attr{slog.String("host", app)}}
}

// bookHandler is a slog.Handler writing into a logBook; groups are flattened.
type bookHandler struct {
	book  *logBook
	attrs []slog.Attr
}

func (h *bookHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *bookHandler) Handle(_ context.Context, r slog.Record) error {
	l := logLine{at: r.Time, level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		l.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = a.Value.String()
		return true
	})
	h.book.add(l)
	return nil
}

func (h *bookHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &bookHandler{book: h.book, attrs: append(append([]slog.Attr{}, h.attrs...), attrs...)}
}

func (h *bookHandler) WithGroup(string) slog.Handler { return h }

// dumpLogsOnFailure prints the end of every app's log when t fails.
func dumpLogsOnFailure(t testing.TB) {
	from := map[string]int{}
	for _, name := range appNames {
		from[name] = sys.apps[name].logs.mark()
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, name := range appNames {
			t.Logf("--- last log lines of %s ---\n%s", name, sys.apps[name].logs.tail(40))
			// What crossed Service Bus during the test, and anything that went wrong: the
			// HTTP polling and timer ticks above drown it.
			var b strings.Builder
			lines := sys.apps[name].logs.since(from[name], func(l logLine) bool {
				return l.level >= slog.LevelWarn || strings.Contains(l.msg, "ServiceBus message") ||
					strings.Contains(l.msg, "message handled") || strings.Contains(l.msg, "(Failed")
			})
			for _, l := range lines[max(0, len(lines)-300):] {
				b.WriteString(l.String() + "\n")
			}
			t.Logf("--- messages and problems of %s during the test ---\n%s", name, b.String())
		}
	})
}

// eventually polls cond every interval until it holds or timeout passes; it
// returns how long it took and whether it held.
func eventually(timeout, interval time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(interval)
	}
}

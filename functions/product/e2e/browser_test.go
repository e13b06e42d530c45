package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

const (
	viewportWidth, viewportHeight = 1000, 1200

	// testBudget is what one browser test may take for its actions, generous for a busy
	// 2-core machine; every wait polls until this deadline instead of sleeping.
	testBudget = 60 * time.Second
	// shotBudget is the time for the screenshot of a failed test, on top of testBudget so a
	// test that failed by running out of time still gets one.
	shotBudget = 30 * time.Second
	// browserLife bounds the browser process: its start, the test, and the screenshot.
	browserLife = 2*testBudget + shotBudget
)

// browserOptions are the flags of a test's Chromium. With no UserDataDir, chromedp gives it
// a fresh profile in a temporary directory and removes it when the browser is gone.
func browserOptions(output io.Writer) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless, no first run, no background networking
		chromedp.ExecPath(chromiumPath),
		chromedp.WindowSize(viewportWidth, viewportHeight),
		chromedp.Flag("disable-gpu", true), // these machines have none
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		// No network but loopback: Chromium never sends loopback through a proxy, so only
		// other hosts go to this one, where nothing listens; and no host but localhost and
		// 127.0.0.1 (the rules apply to address literals too) resolves, so not even a DNS
		// query leaves the machine.
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.CombinedOutput(output),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to start its sandbox as root, and the project's machines and CI
		// run as root: that is the only reason to turn the sandbox off.
		return append(opts, chromedp.NoSandbox)
	}
	// Any other user keeps the sandbox (false also stops chromedp from adding the flag).
	return append(opts, chromedp.Flag("no-sandbox", false))
}

// newPage starts a headless Chromium for t and returns the context of its one tab, which
// ends after testBudget. Every browser test opens its page here, so every one of them gets,
// when it fails, a screenshot of the page, Chromium's output and the page's console in its
// log (see keepFailure).
func newPage(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		// Never skip: the browser is part of the project's set-up, which `make deps` installs.
		t.Fatalf("chromium is not installed at %s: run `make deps` (or `make chromium`, which runs functions/product/e2e/install-chromium.sh)", chromiumPath)
	}
	output := new(lockedBuffer)
	life, endLife := context.WithTimeout(context.Background(), browserLife)
	allocCtx, endAlloc := chromedp.NewExecAllocator(life, browserOptions(output)...)
	browserCtx, endBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(func(format string, args ...any) {
		fmt.Fprintf(output, "chromedp: "+format+"\n", args...)
	}))
	t.Cleanup(func() {
		endBrowser()
		endAlloc() // waits for the browser to exit and its profile to be removed
		endLife()
	})

	// The first action starts the browser and ties it to the context it runs on, so it runs
	// on browserCtx and not on the test's shorter deadline.
	if err := chromedp.Do(browserCtx, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatalf("start chromium: %v\nchromium output:\n%s", err, output)
	}
	console := new(lockedBuffer)
	go func() {
		for m, err := range chromedp.Console(browserCtx) {
			if err != nil {
				return // the browser is gone
			}
			fmt.Fprintln(console, m)
		}
	}()

	ctx, cancel := context.WithTimeout(browserCtx, testBudget)
	// Registered after the browser's cleanup, so it runs first, while the page is still there.
	t.Cleanup(func() {
		cancel()
		if t.Failed() {
			keepFailure(t, browserCtx, output, console)
		}
	})
	return ctx
}

// keepFailure saves a screenshot of the failed test's page and names it in the failure, with
// Chromium's output and the page's console.
func keepFailure(t *testing.T, browserCtx context.Context, output, console *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(browserCtx, shotBudget)
	defer cancel()
	if path, err := failureScreenshot(ctx, t.Name()); err != nil {
		t.Errorf("screenshot of the failure: %v", err)
	} else {
		t.Errorf("screenshot of the page at the failure: %s", path)
	}
	t.Logf("page console:\n%s\nchromium output (less its D-Bus complaints):\n%s", console, withoutDBus(output.String()))
}

// failureScreenshot writes the whole page, beyond the viewport too, as a PNG file in a new
// directory named after the test under the system's temp dir, which outlives the test
// (t.TempDir does not), and returns the file's path.
func failureScreenshot(ctx context.Context, testName string) (string, error) {
	dir, err := os.MkdirTemp("", safeName(testName)+"-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "failure.png")
	if err := saveScreenshot(ctx, path); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return path, nil
}

// saveScreenshot writes the whole page as a PNG file.
func saveScreenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// withoutDBus drops the lines where Chromium says it finds no D-Bus, which a headless run on
// these machines never has: dozens of them, hiding what matters.
func withoutDBus(log string) string {
	var kept []string
	for line := range strings.Lines(log) {
		if !strings.Contains(line, ":ERROR:dbus/") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "")
}

var unsafeInName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// safeName makes a test's name (subtests have slashes) a file name.
func safeName(name string) string {
	return unsafeInName.ReplaceAllString(name, "_")
}

// lockedBuffer collects text from the browser's goroutines for a failure's log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

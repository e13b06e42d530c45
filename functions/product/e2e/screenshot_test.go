package e2e_test

import (
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestFailureScreenshotIsPNG takes the screenshot a failed browser test gets, on a page
// taller than the viewport, and reads it back: a PNG of the whole page, in the page's colour,
// in a directory named after the test that is still there after the test.
func TestFailureScreenshotIsPNG(t *testing.T) {
	const pageHeight = 2000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body style="margin:0;background:rgb(0,128,255)">
			<div id="tall" style="height:%dpx">tall</div></body></html>`, pageHeight)
	}))
	t.Cleanup(srv.Close)

	ctx := newPage(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.ID("tall"))); err != nil {
		t.Fatal(err)
	}
	path, err := failureScreenshot(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	t.Cleanup(func() { os.RemoveAll(dir) }) // this one is not a failure's: do not keep it
	if !strings.HasPrefix(filepath.Base(dir), "TestFailureScreenshotIsPNG-") || filepath.Dir(dir) != filepath.Clean(os.TempDir()) {
		t.Errorf("screenshot in %s, want a directory named after the test in %s", dir, os.TempDir())
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() != viewportWidth || b.Dy() < pageHeight {
		t.Errorf("screenshot is %dx%d, want the whole page: %d wide, at least %d high", b.Dx(), b.Dy(), viewportWidth, pageHeight)
	}
	// Below the viewport, so only a full-page screenshot has the page's colour there.
	r, g, bl, _ := img.At(b.Dx()/2, pageHeight-10).RGBA()
	if r>>8 > 10 || g>>8 < 118 || g>>8 > 138 || bl>>8 < 245 {
		t.Errorf("pixel below the viewport is rgb(%d,%d,%d), want the page's rgb(0,128,255)", r>>8, g>>8, bl>>8)
	}
}

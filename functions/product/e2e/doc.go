// Package e2e holds the Product portal's end-to-end tests in a real headless Chromium
// (Debian's chromium package, installed by install-chromium.sh through `make deps`), driven
// with chromedp. The package has no code of its own: everything is in its tests.
package e2e

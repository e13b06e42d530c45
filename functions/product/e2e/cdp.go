// Package e2e drives the Product portal in a real headless Chromium (Debian's chromium
// package; install it with install-chromium.sh) over the Chrome DevTools Protocol.
//
// The DevTools protocol runs over a WebSocket, which the standard library lacks and go.mod
// does not bring in, so this package has a minimal client: the opening handshake, masked
// client frames, fragmented server messages, ping/pong and close (RFC 6455). Calls are
// synchronous: one request at a time, events in between are dropped.
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ChromiumPath is where Debian's chromium package puts the browser.
const ChromiumPath = "/usr/bin/chromium"

// ErrNoChromium: the browser is not installed.
var ErrNoChromium = errors.New("e2e: chromium is not installed at " + ChromiumPath + ": run `make chromium` (functions/product/e2e/install-chromium.sh)")

// Browser is a headless Chromium with one page under control.
type Browser struct {
	cmd  *exec.Cmd
	page *conn

	mu     sync.Mutex
	stderr strings.Builder
}

// Launch starts a headless Chromium with a throw-away profile in dir (a fresh empty
// directory) and a viewport of width x height CSS pixels.
func Launch(ctx context.Context, dir string, width, height int) (*Browser, error) {
	if _, err := os.Stat(ChromiumPath); err != nil {
		return nil, ErrNoChromium
	}
	cmd := exec.Command(ChromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--no-first-run", "--no-default-browser-check", "--mute-audio",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+dir, fmt.Sprintf("--window-size=%d,%d", width, height), "about:blank")
	// Its own process group: Close stops the renderers and helpers too, so none of them is
	// still writing into dir when the caller removes it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("e2e: start chromium: %w", err)
	}
	b := &Browser{cmd: cmd}
	found := make(chan string, 1)
	go func() {
		listening := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.stderr.WriteString(line + "\n")
			b.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-ctx.Done():
		b.Close()
		return nil, fmt.Errorf("e2e: chromium did not open DevTools: %w\n%s", ctx.Err(), b.Log())
	}
	u, err := url.Parse(browserURL)
	if err != nil {
		b.Close()
		return nil, err
	}
	pageURL, err := firstPage(ctx, u.Host)
	if err != nil {
		b.Close()
		return nil, err
	}
	if b.page, err = dial(ctx, pageURL); err != nil {
		b.Close()
		return nil, err
	}
	if _, err := b.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// firstPage finds the WebSocket URL of the browser's page target.
func firstPage(ctx context.Context, host string) (string, error) {
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+host+"/json/list", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var targets []struct{ Type, WebSocketDebuggerURL string }
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, t := range targets {
				if t.Type == "page" && t.WebSocketDebuggerURL != "" {
					return t.WebSocketDebuggerURL, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("e2e: no page target: %v (%w)", err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Log is what Chromium wrote on stderr.
func (b *Browser) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// Close stops the browser.
func (b *Browser) Close() {
	if b.page != nil {
		b.page.close()
	}
	if b.cmd.Process != nil {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		b.cmd.Wait()
	}
}

// Call sends one DevTools command to the page and returns its result.
func (b *Browser) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	return b.page.call(ctx, method, params)
}

// Navigate loads url and waits until the document is complete.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	if _, err := b.Call(ctx, "Page.navigate", map[string]any{"url": url}); err != nil {
		return err
	}
	return b.WaitFor(ctx, `document.readyState === "complete"`)
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise) and decodes its
// value into out (which may be nil).
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	res, err := b.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
	if err != nil {
		return err
	}
	var r struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("e2e: %s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// WaitFor polls a JavaScript condition until it is true or ctx ends.
func (b *Browser) WaitFor(ctx context.Context, condition string) error {
	for {
		var ok bool
		err := b.Eval(ctx, "!!("+condition+")", &ok)
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			var text string
			b.Eval(context.Background(), "document.body ? document.body.innerText : ''", &text)
			return fmt.Errorf("e2e: waiting for %s: %v (last error %v); page text:\n%s", condition, ctx.Err(), err, text)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Type focuses the element matched by selector, clears it and types text as keyboard input.
func (b *Browser) Type(ctx context.Context, selector, text string) error {
	sel, _ := json.Marshal(selector)
	if err := b.Eval(ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.focus(); e.select && e.select(); return true; })()`, sel), nil); err != nil {
		return err
	}
	if _, err := b.Call(ctx, "Input.dispatchKeyEvent", map[string]any{"type": "keyDown", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8}); err != nil {
		return err
	}
	if _, err := b.Call(ctx, "Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8}); err != nil {
		return err
	}
	_, err := b.Call(ctx, "Input.insertText", map[string]any{"text": text})
	return err
}

// Click clicks with the mouse in the middle of the element matched by selector.
func (b *Browser) Click(ctx context.Context, selector string) error {
	sel, _ := json.Marshal(selector)
	var at struct{ X, Y float64 }
	err := b.Eval(ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`, sel), &at)
	if err != nil {
		return err
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		if _, err := b.Call(ctx, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": at.X, "y": at.Y, "button": "left", "clickCount": 1}); err != nil {
			return err
		}
	}
	return nil
}

// Screenshot saves the whole page as a PNG file.
func (b *Browser) Screenshot(ctx context.Context, path string) error {
	res, err := b.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
	if err != nil {
		return err
	}
	var r struct{ Data string }
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// conn is a DevTools WebSocket connection.
type conn struct {
	c      net.Conn
	r      *bufio.Reader
	nextID int64
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dial opens a WebSocket to a ws:// URL (the opening handshake of RFC 6455, section 4).
func dial(ctx context.Context, wsURL string) (*conn, error) {
	u, err := url.Parse(wsURL)
	if err != nil || u.Scheme != "ws" {
		return nil, fmt.Errorf("e2e: not a ws:// URL: %q", wsURL)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	key := base64.StdEncoding.EncodeToString(nonce)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", u.RequestURI(), u.Host, key)
	r := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("e2e: websocket handshake: %w", err)
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		c.Close()
		return nil, fmt.Errorf("e2e: websocket handshake refused: %s", resp.Status)
	}
	return &conn{c: c, r: r}, nil
}

func (c *conn) close() {
	c.writeFrame(0x8, nil)
	c.c.Close()
}

func (c *conn) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c.nextID++
	id := c.nextID
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	c.c.SetDeadline(deadline)
	if err := c.writeFrame(0x1, msg); err != nil {
		return nil, err
	}
	for {
		data, err := c.readMessage()
		if err != nil {
			return nil, fmt.Errorf("e2e: %s: %w", method, err)
		}
		var reply struct {
			ID     int64
			Result json.RawMessage
			Error  *struct {
				Code    int
				Message string
			}
		}
		if err := json.Unmarshal(data, &reply); err != nil {
			return nil, err
		}
		if reply.ID != id {
			continue // an event, or the answer to an abandoned call
		}
		if reply.Error != nil {
			return nil, fmt.Errorf("e2e: %s: %s (%d)", method, reply.Error.Message, reply.Error.Code)
		}
		return reply.Result, nil
	}
}

// writeFrame sends one unfragmented frame, masked as a client must (RFC 6455, 5.3).
func (c *conn) writeFrame(opcode byte, payload []byte) error {
	header := []byte{0x80 | opcode, 0}
	switch n := len(payload); {
	case n < 126:
		header[1] = byte(n)
	case n <= 0xFFFF:
		header[1] = 126
		header = binary.BigEndian.AppendUint16(header, uint16(n))
	default:
		header[1] = 127
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	header[1] |= 0x80
	mask := make([]byte, 4)
	rand.Read(mask)
	frame := append(header, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	_, err := c.c.Write(frame)
	return err
}

// readMessage reads one whole data message, joining fragments and answering pings.
func (c *conn) readMessage() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return nil, err
		}
		fin, opcode, masked := h[0]&0x80 != 0, h[0]&0x0F, h[1]&0x80 != 0
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(c.r, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(c.r, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(c.r, mask[:]); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return nil, err
		}
		if masked {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch opcode {
		case 0x8:
			return nil, errors.New("websocket closed by the browser")
		case 0x9:
			if err := c.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
			continue
		case 0xA:
			continue
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}

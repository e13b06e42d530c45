package funcapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"meterline/shared/eventstore"
)

type ctxKey struct{}

// call is what the runtime knows about the invocation a handler runs in.
type call struct {
	function      string
	invocationID  string
	correlationID string
	logger        *slog.Logger
	logs          *logLines // nil for forwarded HTTP requests, which have no Logs field
}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(ctxKey{}).(*call)
	return c
}

// InvocationID is the host's id of the running invocation ("" outside one).
func InvocationID(ctx context.Context) string {
	if c := callFrom(ctx); c != nil {
		return c.invocationID
	}
	return ""
}

// CorrelationID is the business flow the running invocation belongs to: the message's
// correlation id, the request's X-Correlation-ID header (or its W3C trace id), else the
// invocation id.
func CorrelationID(ctx context.Context) string {
	if c := callFrom(ctx); c != nil {
		return c.correlationID
	}
	return ""
}

// Logger returns a logger tagged with the function, invocation id and correlation id. For
// trigger invocations its records also go back to the host in the response's Logs, so they
// show up with the invocation in the Functions monitor.
func Logger(ctx context.Context) *slog.Logger {
	if c := callFrom(ctx); c != nil {
		return c.logger
	}
	return slog.Default()
}

func (a *App) newCall(ctx context.Context, function, invocationID, correlationID string, collect bool) (context.Context, *call) {
	if correlationID == "" {
		correlationID = invocationID
	}
	if correlationID == "" {
		correlationID = newID()
	}
	c := &call{function: function, invocationID: invocationID, correlationID: correlationID}
	h := a.logger().Handler()
	if collect {
		c.logs = &logLines{}
		h = &teeHandler{Handler: h, lines: c.logs}
	}
	c.logger = slog.New(h).With(
		slog.String("function", function),
		slog.String("invocation_id", invocationID),
		slog.String("correlation_id", correlationID),
	)
	// Events appended by the handler carry the flow's correlation id (see eventstore.NewEvents).
	ctx = eventstore.WithCorrelation(ctx, correlationID)
	return withCall(ctx, c), c
}

func (a *App) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// HeaderIdempotencyKey names the client's idempotency key for an HTTP command.
const HeaderIdempotencyKey = "Idempotency-Key"

// httpCorrelationID picks the caller's correlation id: X-Correlation-ID, else the trace id of
// a W3C traceparent header.
func httpCorrelationID(h http.Header) string {
	if id := strings.TrimSpace(h.Get("X-Correlation-ID")); id != "" && len(id) <= 128 {
		return id
	}
	// traceparent: version-traceid-parentid-flags
	if parts := strings.Split(h.Get("traceparent"), "-"); len(parts) == 4 && len(parts[1]) == 32 {
		return parts[1]
	}
	return ""
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// logLines collects an invocation's log lines for the response's Logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *logLines) all() []string {
	if l == nil {
		return []string{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.lines...)
}

// teeHandler writes records to the process log and keeps a one-line copy for the host.
type teeHandler struct {
	slog.Handler
	lines *logLines
}

func (t *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindString {
			fmt.Fprintf(&b, " %s=%q", a.Key, v.String())
		} else {
			fmt.Fprintf(&b, " %s=%s", a.Key, v.String())
		}
		return true
	})
	t.lines.add(b.String())
	return t.Handler.Handle(ctx, r)
}

func (t *teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &teeHandler{Handler: t.Handler.WithAttrs(attrs), lines: t.lines}
}

func (t *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{Handler: t.Handler.WithGroup(name), lines: t.lines}
}

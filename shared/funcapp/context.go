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

// Logger returns a logger tagged with the function, invocation id and correlation id. In
// trigger invocations its Info and Debug records go back to the host in the response's Logs
// (Information, with the invocation) instead of the process log; Warn and Error records go to
// the process log (stderr), which the host keeps at their level even when the invocation fails.
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
		h = &logsHandler{next: h, lines: c.logs}
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

// logsHandler is the logger of a trigger invocation: records below Warn go, as one line each,
// to the invocation's Logs only; Warn and above to the process log only (see logging.go).
type logsHandler struct {
	next   slog.Handler // the process log
	lines  *logLines
	prefix []slog.Attr // from WithAttrs, for the Logs line
}

func (t *logsHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || t.next.Enabled(ctx, l)
}

func (t *logsHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		return t.next.Handle(ctx, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	write := func(a slog.Attr) bool {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindString {
			fmt.Fprintf(&b, " %s=%q", a.Key, v.String())
		} else {
			fmt.Fprintf(&b, " %s=%s", a.Key, v.String())
		}
		return true
	}
	for _, a := range t.prefix {
		write(a)
	}
	r.Attrs(write)
	t.lines.add(b.String())
	return nil
}

func (t *logsHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logsHandler{next: t.next.WithAttrs(attrs), lines: t.lines, prefix: append(append([]slog.Attr{}, t.prefix...), attrs...)}
}

func (t *logsHandler) WithGroup(name string) slog.Handler {
	return &logsHandler{next: t.next.WithGroup(name), lines: t.lines, prefix: t.prefix}
}

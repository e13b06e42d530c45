package funcapp

import (
	"context"
	"io"
	"log/slog"
)

// Where logs go, as the Functions host files them (azure-functions-host WorkerProcess with
// UseStdErrorStreamForErrorsOnly, which HttpWorkerDescription turns on; DefaultHttpWorkerService
// for Logs): a custom handler's stdout lines are Information and its stderr lines Error (Warning
// when they say "warn"), both under category Host.Function.Console; the Logs of a trigger
// invocation are Information, with the invocation, and dropped when it fails. So every record
// is written once, where its level survives: Warn and above on stderr (kept even when the
// invocation fails), the rest in the invocation's Logs, or on stdout outside trigger
// invocations (forwarded HTTP requests, start-up).

// NewLogger is the handler process's logger: JSON records, Info and Debug on stdout, Warn and
// Error on stderr.
func NewLogger(stdout, stderr io.Writer) *slog.Logger {
	return slog.New(&splitHandler{
		low:  slog.NewJSONHandler(stdout, nil),
		high: slog.NewJSONHandler(stderr, nil),
	})
}

// splitHandler sends records below Warn to low and the others to high.
type splitHandler struct{ low, high slog.Handler }

func (s *splitHandler) pick(l slog.Level) slog.Handler {
	if l >= slog.LevelWarn {
		return s.high
	}
	return s.low
}

func (s *splitHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.pick(l).Enabled(ctx, l)
}

func (s *splitHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.pick(r.Level).Handle(ctx, r)
}

func (s *splitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &splitHandler{low: s.low.WithAttrs(attrs), high: s.high.WithAttrs(attrs)}
}

func (s *splitHandler) WithGroup(name string) slog.Handler {
	return &splitHandler{low: s.low.WithGroup(name), high: s.high.WithGroup(name)}
}

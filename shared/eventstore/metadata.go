package eventstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Metadata travels in the context, from the incoming request or message to the events the
// command makes, so that command code never threads ids by hand.
type ctxKey int

const (
	correlationKey ctxKey = iota
	causationKey
	commandIDKey
)

// WithCorrelation returns ctx carrying the id of the business flow (seed 003's correlation_id).
func WithCorrelation(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey, id)
}

// WithCausation returns ctx carrying the id of the message (command or event) being handled.
func WithCausation(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, causationKey, id)
}

// WithCommandID returns ctx carrying the idempotency key of the incoming request or message.
// Events made under a command id get ids derived from it (see EventID), so running the same
// command again appends nothing new.
func WithCommandID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, commandIDKey, id)
}

// Correlation returns the correlation id in ctx, or "".
func Correlation(ctx context.Context) string { s, _ := ctx.Value(correlationKey).(string); return s }

// Causation returns the causation id in ctx, or "".
func Causation(ctx context.Context) string { s, _ := ctx.Value(causationKey).(string); return s }

// CommandID returns the command id in ctx, or "".
func CommandID(ctx context.Context) string { s, _ := ctx.Value(commandIDKey).(string); return s }

// HandlingEvent returns ctx for the work caused by e (a receptor reacting to it): same flow,
// caused by e.
func HandlingEvent(ctx context.Context, e Event) context.Context {
	if e.CorrelationID != "" {
		ctx = WithCorrelation(ctx, e.CorrelationID)
	}
	return WithCausation(ctx, e.ID)
}

// NewID returns a random UUID (version 4) for an event made without a command id.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// EventID is the id of the index-th event (from 0) that the command commandID makes on stream.
// It is a name-based UUID (SHA-256, version 8 layout), the same every time for the same inputs.
func EventID(commandID, stream string, index int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d:%s|%d:%s|%d", len(commandID), commandID, len(stream), stream, index))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewEvents encodes payloads (values of types registered in r) into events for stream, stamped
// with source, the time now (at the stores' microsecond precision) and the metadata in ctx
// (correlation, causation, and the trace of the span in ctx). With a command id in ctx the ids are
// EventID(commandID, stream, i); otherwise random. The correlation id defaults to the command id,
// then to the first event's id (a new flow starts here); the causation id defaults to the
// command id.
func (r *Registry) NewEvents(ctx context.Context, source, stream string, now time.Time, payloads ...any) ([]Event, error) {
	cmd := CommandID(ctx)
	corr, cause := Correlation(ctx), Causation(ctx)
	if corr == "" {
		corr = cmd
	}
	if cause == "" {
		cause = cmd
	}
	events := make([]Event, 0, len(payloads))
	for i, p := range payloads {
		typ, sv, data, err := r.Encode(p)
		if err != nil {
			return nil, err
		}
		id := NewID()
		if cmd != "" {
			id = EventID(cmd, stream, i)
		}
		if corr == "" {
			corr = id
		}
		events = append(events, Event{
			ID: id, Type: typ, SchemaVersion: sv, Stream: stream, Source: source,
			CreatedAt: now.UTC().Truncate(time.Microsecond), CorrelationID: corr, CausationID: cause,
			TraceParent: traceParent(ctx), Data: data,
		})
	}
	return events, nil
}

// traceParent is the W3C traceparent of the span in ctx, so that whoever handles the event later
// (another context, or a sweep after a crash) continues the trace that made it.
func traceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

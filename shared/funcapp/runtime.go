package funcapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"meterline/shared/eventstore"
	"meterline/shared/telemetry"
)

const (
	// HeaderInvocationID is set by the host on every request to the handler.
	HeaderInvocationID = "X-Azure-Functions-InvocationId"
	// HeaderCorrelationID carries a caller's correlation id in and every HTTP answer's out.
	HeaderCorrelationID = "X-Correlation-ID"
)

// maxPayload bounds an invocation body: a 100 MB Service Bus message (Premium), base64.
const maxPayload = 140 << 20

// Handler returns the custom handler's HTTP surface: the readiness probe, POST /{FunctionName}
// invocations, and forwarded HTTP requests under /{RoutePrefix}/, matched as the host matches
// them. It panics if two HTTP functions claim the same method and route.
func (a *App) Handler() http.Handler {
	rt := &runtime{app: a}
	for _, f := range a.functions {
		if f.Kind == KindHTTP {
			rt.http.add(a.RoutePrefix, f, a.forwarded(f))
		}
	}
	return rt
}

type runtime struct {
	app  *App
	http router
}

func (rt *runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// The host polls this until it answers; any answer means ready.
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready", "app": rt.app.Name})
		return
	}
	if r.Method == http.MethodPost && strings.Count(r.URL.Path, "/") == 1 {
		if f, ok := rt.app.byName[r.URL.Path[1:]]; ok {
			rt.app.invoke(w, r, f)
			return
		}
	}
	rt.http.ServeHTTP(w, r)
}

// Serve answers the host on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT until ctx ends, then
// lets running invocations finish (up to 30 s).
func (a *App) Serve(ctx context.Context) error {
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if port == "" {
		return errors.New("funcapp: FUNCTIONS_CUSTOMHANDLER_PORT is not set (the Functions host sets it)")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return fmt.Errorf("funcapp: listen: %w", err)
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener is Serve on a given listener.
func (a *App) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		// Invocations outlive a shutdown request: Shutdown waits for them.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	a.logger().Info("custom handler listening", slog.String("app", a.Name), slog.String("addr", ln.Addr().String()), slog.Int("functions", len(a.functions)))
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return err
}

// result is the answer to an invocation.
type result struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// invoke runs one POST /{FunctionName} invocation.
func (a *App) invoke(w http.ResponseWriter, r *http.Request, f *Function) {
	start := time.Now()
	invocationID := r.Header.Get(HeaderInvocationID)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge, "payload_too_large", err.Error())
			return
		}
		WriteError(w, http.StatusBadRequest, "unreadable_payload", err.Error())
		return
	}
	inv, err := decodeInvocation(body)
	if err != nil {
		a.refuse(w, f, invocationID, err)
		return
	}
	switch f.Kind {
	case KindServiceBus:
		a.invokeMessage(w, r, f, inv, invocationID, start)
	case KindTimer:
		a.invokeTimer(w, r, f, inv, invocationID, start)
	case KindHTTP:
		a.invokeHTTP(w, r, f, inv, invocationID, start)
	}
}

// refuse answers an invocation whose payload the handler cannot read: 400, and a warning.
func (a *App) refuse(w http.ResponseWriter, f *Function, invocationID string, err error) {
	a.logger().Warn("invalid invocation payload", slog.String("function", f.Name), slog.String("invocation_id", invocationID), slog.String("error", err.Error()))
	WriteError(w, http.StatusBadRequest, "invalid_payload", err.Error())
}

func (a *App) invokeMessage(w http.ResponseWriter, r *http.Request, f *Function, inv *invocation, invocationID string, start time.Time) {
	m, err := inv.message()
	if err != nil {
		a.refuse(w, f, invocationID, err)
		return
	}
	correlation := m.CorrelationID
	if correlation == "" {
		correlation = m.Property("correlationId")
	}
	if correlation == "" {
		correlation = m.MessageID
	}
	ctx, c := a.newCall(r.Context(), f.Name, invocationID, correlation, true)
	if m.MessageID != "" {
		// A redelivered message re-runs the same command: the event store derives the same
		// event ids from the message id and appends nothing twice.
		ctx = eventstore.WithCommandID(eventstore.WithCausation(ctx, m.MessageID), m.MessageID)
	}
	log := c.logger.With(slog.String("message_id", m.MessageID), slog.Int("delivery_count", m.DeliveryCount))
	// The message continues the trace of the work that published it.
	ctx = telemetry.WithRemoteParent(ctx, m.traceParent())
	ctx, span := telemetry.Start(ctx, "servicebus "+f.Name, trace.SpanKindConsumer,
		attribute.String("messaging.system", "servicebus"), attribute.String("messaging.message.id", m.MessageID),
		attribute.Int("messaging.servicebus.message.delivery_count", m.DeliveryCount))
	err = protect(func() error { return f.messageHandler(ctx, m) })
	var poison *PoisonError
	if errors.As(err, &poison) {
		span.SetAttributes(attribute.String("meterline.deadletter.reason", poison.Reason))
		telemetry.Count(ctx, "meterline.deadletters", attribute.String("app", f.App), attribute.String("function", f.Name),
			attribute.String("reason", poison.Reason))
		telemetry.End(span, nil)
	} else {
		telemetry.End(span, err)
	}
	switch {
	case err == nil:
		log.Info("message handled", durationAttr(start))
		WriteJSON(w, http.StatusOK, result{Outputs: map[string]any{}, Logs: c.logs.all()})
	case errors.As(err, &poison):
		dl := DeadLetter{
			Reason: poison.Reason, App: f.App, Function: f.Name, InvocationID: invocationID,
			MessageID: m.MessageID, CorrelationID: m.CorrelationID, Subject: m.Subject, ContentType: m.ContentType,
			DeliveryCount: m.DeliveryCount, EnqueuedTime: m.EnqueuedTime, ApplicationProperties: m.ApplicationProperties,
			Body: m.Body, DeadLetteredAt: time.Now().UTC(),
		}
		if poison.Err != nil {
			dl.Error = poison.Err.Error()
		}
		text, merr := json.Marshal(dl)
		if merr != nil {
			// Application properties that do not marshal cannot be lost silently: retry instead.
			log.Error("dead letter not encodable", slog.String("error", merr.Error()))
			WriteError(w, http.StatusInternalServerError, "dead_letter_failed", merr.Error())
			return
		}
		log.Warn("poison message sent to the dead-letter queue", slog.String("reason", poison.Reason), slog.String("error", err.Error()),
			slog.String("queue", DeadLetterQueue(f.App)), durationAttr(start))
		// A JSON text, not an object: the host passes strings to the Service Bus output as the
		// message body (it only base64-decodes strings that are valid base64, which "{..." is not).
		WriteJSON(w, http.StatusOK, result{Outputs: map[string]any{bindingDeadLetter: string(text)}, Logs: c.logs.all()})
	default:
		a.fail(w, log, c, err, start)
	}
}

func (a *App) invokeTimer(w http.ResponseWriter, r *http.Request, f *Function, inv *invocation, invocationID string, start time.Time) {
	t, err := inv.timer()
	if err != nil {
		a.refuse(w, f, invocationID, err)
		return
	}
	ctx, c := a.newCall(r.Context(), f.Name, invocationID, "", true)
	log := c.logger.With(slog.Bool("past_due", t.IsPastDue))
	ctx, span := telemetry.Start(ctx, "timer "+f.Name, trace.SpanKindInternal, attribute.Bool("meterline.timer.past_due", t.IsPastDue))
	err = protect(func() error { return f.timerHandler(ctx, t) })
	telemetry.End(span, err)
	if err != nil {
		a.fail(w, log, c, err, start)
		return
	}
	log.Info("timer run done", durationAttr(start))
	WriteJSON(w, http.StatusOK, result{Outputs: map[string]any{}, Logs: c.logs.all()})
}

// fail answers a failed invocation with 500, so that the host fails it (and abandons a message).
func (a *App) fail(w http.ResponseWriter, log *slog.Logger, c *call, err error, start time.Time) {
	var p *panicError
	if errors.As(err, &p) {
		log.Error("handler panicked", slog.String("error", err.Error()), slog.String("stack", p.stack), durationAttr(start))
		WriteError(w, http.StatusInternalServerError, "panic", err.Error())
		return
	}
	log.Error("handler failed", slog.String("error", err.Error()), durationAttr(start))
	WriteError(w, http.StatusInternalServerError, "handler_failed", err.Error())
}

func durationAttr(start time.Time) slog.Attr {
	return slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000)
}

type panicError struct {
	value any
	stack string
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// protect runs fn, turning a panic into a *panicError.
func protect(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: string(debug.Stack())}
		}
	}()
	return fn()
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal","message":"response not encodable"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// ProblemContentType is the media type of every error answer (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is the body of every error answer: an RFC 9457 problem detail. Its type is a URN
// per stable code (urn:meterline:problem:<code>); the code itself, and the detail once more,
// stay as the extension members "error" and "message", the shape of earlier answers, so that
// their clients keep working.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
	Error    string `json:"error"`
	Message  string `json:"message"`
}

// ProblemType is the type URI of the problems with code.
func ProblemType(code string) string { return "urn:meterline:problem:" + code }

// WriteProblem answers status with the problem code and detail; instance is the request's
// path, or "".
func WriteProblem(w http.ResponseWriter, status int, code, detail, instance string) {
	b, _ := json.Marshal(Problem{Type: ProblemType(code), Title: http.StatusText(status), Status: status,
		Detail: detail, Instance: instance, Error: code, Message: detail}) // strings and an int: cannot fail
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError answers status with a problem of code and message (no instance).
func WriteError(w http.ResponseWriter, status int, code, message string) {
	WriteProblem(w, status, code, message, "")
}

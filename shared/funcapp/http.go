package funcapp

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"meterline/shared/telemetry"
)

// forwarded wraps an HTTP function for requests the host forwards as they came
// (enableForwardingHttpRequest): invocation and correlation ids in ctx, panics answered 500,
// one log line per request.
func (a *App) forwarded(f *Function) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, c := a.newCall(r.Context(), f.Name, r.Header.Get(HeaderInvocationID), httpCorrelationID(r.Header), false)
		w.Header().Set(HeaderCorrelationID, c.correlationID)
		sw := &statusWriter{ResponseWriter: w}
		ctx, span := startHTTPSpan(ctx, f, r)
		err := protect(func() error { f.httpHandler.ServeHTTP(sw, r.WithContext(ctx)); return nil })
		endHTTPSpan(span, sw.status(), err)
		a.logHTTP(c, r, sw.status(), err, start)
		if err != nil && !sw.wrote {
			WriteError(w, http.StatusInternalServerError, "panic", "internal error")
		}
	})
}

// startHTTPSpan starts the server span of a request, continuing the caller's trace
// (traceparent header) if it has one.
func startHTTPSpan(ctx context.Context, f *Function, r *http.Request) (context.Context, trace.Span) {
	ctx = telemetry.WithRemoteParent(ctx, r.Header.Get("traceparent"))
	route := f.HTTP.Route
	if route == "" {
		route = f.Name
	}
	return telemetry.Start(ctx, r.Method+" "+route, trace.SpanKindServer,
		attribute.String("http.request.method", r.Method), attribute.String("http.route", route), attribute.String("faas.name", f.Name))
}

func endHTTPSpan(span trace.Span, status int, err error) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if err == nil && status >= 500 {
		err = fmt.Errorf("HTTP %d", status)
	}
	telemetry.End(span, err)
}

func (a *App) logHTTP(c *call, r *http.Request, status int, err error, start time.Time) {
	attrs := []any{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status), durationAttr(start)}
	if p, ok := err.(*panicError); ok {
		c.logger.Error("handler panicked", append(attrs, slog.String("error", p.Error()), slog.String("stack", p.stack))...)
		return
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	c.logger.Log(context.Background(), level, "http request", attrs...)
}

// statusWriter remembers whether and what the handler answered.
type statusWriter struct {
	http.ResponseWriter
	wrote bool
	code  int
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.wrote, s.code = true, code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.wrote, s.code = true, http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int {
	if !s.wrote {
		return http.StatusInternalServerError // a panic before any answer
	}
	return s.code
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// invokeHTTP serves an HTTP trigger that arrived as a JSON invocation (forwarding off):
// Data.req becomes an *http.Request and the answer goes back as the "res" output object.
func (a *App) invokeHTTP(w http.ResponseWriter, r *http.Request, f *Function, inv *invocation, invocationID string, start time.Time) {
	req, err := inv.httpRequest(r.Context())
	if err != nil {
		a.refuse(w, f, invocationID, err)
		return
	}
	ctx, c := a.newCall(r.Context(), f.Name, invocationID, httpCorrelationID(req.Header), true)
	rec := &recorder{header: http.Header{}}
	rec.header.Set(HeaderCorrelationID, c.correlationID)
	ctx, span := startHTTPSpan(ctx, f, req)
	err = protect(func() error { f.httpHandler.ServeHTTP(rec, req.WithContext(ctx)); return nil })
	endHTTPSpan(span, cmp.Or(rec.code, http.StatusOK), err)
	if err != nil {
		a.logHTTP(c, req, http.StatusInternalServerError, err, start)
		a.fail(w, c.logger, c, err, start)
		return
	}
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	a.logHTTP(c, req, rec.code, nil, start)
	headers := map[string]string{}
	for k, vs := range rec.header {
		headers[k] = strings.Join(vs, ", ")
	}
	code := strconv.Itoa(rec.code)
	// The host requires all four fields (statusCode and status as strings).
	res := map[string]any{"statusCode": code, "status": code, "body": rec.body.String(), "headers": headers}
	WriteJSON(w, http.StatusOK, result{Outputs: map[string]any{bindingResponse: res}, Logs: c.logs.all()})
}

// recorder is an http.ResponseWriter that keeps the answer for the "res" output.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// httpRequest rebuilds the request from Data.req:
// {Url, Method, Query: {k: v} (or that object serialized as a string), Headers: {k: [v...]},
// Params: {k: v}, Identities, Body}. Body is text, base64 for octet-stream and multipart.
func (inv *invocation) httpRequest(ctx context.Context) (*http.Request, error) {
	raw, err := inv.binding(bindingRequest)
	if err != nil {
		return nil, err
	}
	obj, err := objectOrQuoted(raw)
	if err != nil || obj == nil {
		return nil, invalid("req: expected an object")
	}
	var v struct {
		URL     string `json:"Url"`
		Method  string
		Query   json.RawMessage
		Headers map[string]json.RawMessage
		Params  map[string]json.RawMessage
		Body    json.RawMessage
	}
	if err := json.Unmarshal(obj, &v); err != nil {
		return nil, invalid("req: %v", err)
	}
	if v.Method == "" || strings.ContainsFunc(v.Method, func(r rune) bool { return r <= ' ' || r > '~' || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) }) {
		return nil, invalid("req.Method %q is not an HTTP method", v.Method)
	}
	u, err := url.Parse(v.URL)
	if err != nil || u.Path == "" && u.Host == "" {
		return nil, invalid("req.Url %q is not a URL", v.URL)
	}
	header := http.Header{}
	for k, hv := range v.Headers {
		vals, err := stringList(hv)
		if err != nil {
			return nil, invalid("req.Headers.%s: %v", k, err)
		}
		for _, s := range vals {
			header.Add(k, s)
		}
	}
	if u.RawQuery == "" {
		q, err := objectOrQuoted(v.Query)
		if err != nil {
			return nil, invalid("req.Query: %v", err)
		}
		var m map[string]json.RawMessage
		if q != nil {
			if err := json.Unmarshal(q, &m); err != nil {
				return nil, invalid("req.Query: %v", err)
			}
		}
		values := url.Values{}
		for k, qv := range m {
			vals, err := stringList(qv)
			if err != nil {
				return nil, invalid("req.Query.%s: %v", k, err)
			}
			values[k] = vals
		}
		u.RawQuery = values.Encode()
	}
	body, err := requestBody(v.Body, header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(v.Method), u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, invalid("req: %v", err)
	}
	req.Header = header
	req.ContentLength = int64(len(body))
	req.RequestURI = u.RequestURI()
	for k, pv := range v.Params {
		s, err := plainText(pv)
		if err != nil {
			return nil, invalid("req.Params.%s: %v", k, err)
		}
		req.SetPathValue(k, s)
	}
	return req, nil
}

func requestBody(raw json.RawMessage, contentType string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return []byte{}, nil
	}
	if raw[0] != '"' {
		if !json.Valid(raw) {
			return nil, invalid("req.Body is not valid JSON")
		}
		return append([]byte(nil), raw...), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, invalid("req.Body: %v", err)
	}
	if isBinaryMediaType(contentType) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, invalid("req.Body: %s body is not base64: %v", contentType, err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// stringList reads a header or query value: a string or an array of strings.
func stringList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, err := plainText(it)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := plainText(raw)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// plainText reads a JSON scalar as text without undoing a second serialization: header values
// such as ETags legitimately contain quotes.
func plainText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "", nil
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case raw[0] == '{' || raw[0] == '[':
		return "", errors.New("expected a scalar")
	case !json.Valid(raw):
		return "", errors.New("invalid JSON")
	}
	return string(raw), nil
}

// Package openapitest holds a context's HTTP answers to its OpenAPI document in tests: wrap the
// app's handler with Check and every answer a test provokes is validated against the document
// (kin-openapi), so that the description and the code cannot drift apart unnoticed.
package openapitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"meterline/shared/funcapp"
	"meterline/shared/openapi"
)

// Load generates the document of app's functions of context and lints it: it must be a valid
// OpenAPI 3.1 document.
func Load(t testing.TB, app *funcapp.App, ctxName string) *openapi3.T {
	t.Helper()
	raw, err := openapi.Document(app, ctxName, openapi.Info{Title: ctxName})
	if err != nil {
		t.Fatalf("openapi document of %s: %v", ctxName, err)
	}
	doc, err := Lint(raw)
	if err != nil {
		t.Fatalf("openapi document of %s: %v", ctxName, err)
	}
	return doc
}

// Lint parses and validates an OpenAPI document.
func Lint(raw []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return doc, nil
}

// Check wraps h, the handler of app: each answer is checked against the document of context's
// functions: its route and method are documented, its status is one the operation lists, and
// its headers and body match what the operation says. A mismatch fails t. The host's trigger
// invocations (outside the route prefix) pass unchecked.
func Check(t testing.TB, app *funcapp.App, ctxName string, h http.Handler) http.Handler {
	doc := Load(t, app, ctxName)
	doc.Servers = nil // route on paths alone; the document's server is the host's prefix
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi router of %s: %v", ctxName, err)
	}
	prefix := "/" + app.RoutePrefix
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())

		check(t, router, prefix, r.Clone(context.Background()), body, rec.Result())
	})
}

func check(t testing.TB, router routers.Router, prefix string, r *http.Request, body []byte, resp *http.Response) {
	t.Helper()
	u := *r.URL
	if !strings.HasPrefix(u.Path, prefix+"/") {
		return // a trigger invocation from the host (POST /FunctionName), not an HTTP request
	}
	// Route on the escaped path, so that an escaped slash stays inside its segment
	// (streams/payment%2F23), as the host's router keeps it.
	u.Path = strings.TrimPrefix(u.EscapedPath(), prefix)
	u.RawPath = ""
	r.URL = &u
	r.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(r)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return // the runtime refused a route nobody registered, as the host would
		}
		t.Errorf("openapi: %s %s answered %d but is not documented: %v", r.Method, u.Path, resp.StatusCode, err)
		return
	}
	answer, _ := io.ReadAll(resp.Body)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(answer)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("openapi: %s %s answered %d, which its document does not describe: %v\nbody: %.300s",
			r.Method, u.Path, resp.StatusCode, err, answer)
	}
}

func init() {
	// Problems are JSON.
	openapi3filter.RegisterBodyDecoder(funcapp.ProblemContentType, openapi3filter.RegisteredBodyDecoder("application/json"))
	// The portal's pages and assets are text, checked by media type only.
	for _, t := range []string{"text/html", "text/css", "text/javascript"} {
		openapi3filter.RegisterBodyDecoder(t, openapi3filter.RegisteredBodyDecoder("text/plain"))
	}
}

package funchost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// httpRoute is one httpTrigger function on the shared listener.
type httpRoute struct {
	app     *appRuntime
	fn      *Function
	methods map[string]bool // empty: every method
}

type httpRouter struct {
	routes []*httpRoute
	apps   []*appRuntime
	admin  *adminAPI
}

// newHTTPRouter orders every app's routes by precedence and rejects two
// functions that would answer the same requests.
func newHTTPRouter(apps []*appRuntime) (*httpRouter, error) {
	r := &httpRouter{apps: apps}
	for _, a := range apps {
		for _, f := range a.Functions {
			if f.Route == nil {
				continue
			}
			rt := &httpRoute{app: a, fn: f, methods: map[string]bool{}}
			for _, m := range f.Trigger.Methods {
				rt.methods[strings.ToUpper(m)] = true
			}
			r.routes = append(r.routes, rt)
		}
	}
	var conflicts []string
	for i, x := range r.routes {
		for _, y := range r.routes[i+1:] {
			if x.fn.Route.shape() == y.fn.Route.shape() && methodsOverlap(x.methods, y.methods) {
				conflicts = append(conflicts, fmt.Sprintf("route %q of %s (%s) and route %q of %s (%s)",
					x.fn.Route.Template, x.fn.File, x.app.Dir, y.fn.Route.Template, y.fn.File, y.app.Dir))
			}
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("funchost: HTTP route conflict: %s", strings.Join(conflicts, "; "))
	}
	sort.SliceStable(r.routes, func(i, j int) bool {
		return r.routes[i].fn.Route.precedence() > r.routes[j].fn.Route.precedence()
	})
	return r, nil
}

func methodsOverlap(a, b map[string]bool) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for m := range a {
		if b[m] {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (r *httpRouter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// The host keeps /admin for itself, whatever the route prefix.
	if p := strings.ToLower(req.URL.Path); p == "/admin" || strings.HasPrefix(p, "/admin/") {
		r.admin.serve(w, req)
		return
	}
	path := strings.TrimPrefix(req.URL.Path, "/")
	for _, rt := range r.routes {
		params, ok := rt.fn.Route.match(path)
		if !ok || (len(rt.methods) > 0 && !rt.methods[req.Method]) {
			continue
		}
		if !rt.authorized(req) {
			// The authorization policy's challenge: 401 and no body.
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if rt.fn.Forwarded {
			rt.forward(w, req)
		} else {
			rt.invokeJSON(w, req, params)
		}
		return
	}
	// The real host answers 404 for an unknown route and for a known route
	// with a method it does not accept.
	writeJSON(w, http.StatusNotFound, map[string]any{"error": "no function matches this route and method", "method": req.Method, "path": req.URL.Path})
}

// authorized applies the function's authLevel: anonymous lets everyone in;
// function needs the function's own key, a host key or the master key;
// admin needs the master key.
func (rt *httpRoute) authorized(req *http.Request) bool {
	level := strings.ToLower(rt.fn.Trigger.AuthLevel)
	if level == "anonymous" {
		return true
	}
	keys := rt.app.keys
	if keys == nil {
		return false
	}
	got := keys.level(presentedKey(req), rt.fn.Name)
	if level == "admin" {
		return got == levelAdmin
	}
	return got >= levelFunction
}

// forward sends the request to the handler at its original path
// (enableForwardingHttpRequest) and relays the answer. The handler's status
// is relayed as is: only a transport failure or the timeout fail the
// invocation (ProcessHttpInAndOutInvocationRequest does not check it).
func (rt *httpRoute) forward(w http.ResponseWriter, req *http.Request) {
	fn := rt.fn
	a := rt.app
	id := newGUID()
	log := a.log.With("app", a.Name, "function", "Functions."+fn.Name, "invocationId", id)
	log.Info(fmt.Sprintf("Executing 'Functions.%s' (Reason='This function was programmatically called via the host APIs.', Id=%s)", fn.Name, id))
	start := time.Now()
	ans, err := a.await(fn, id, func() answer {
		base, err := a.worker.endpoint(req.Context())
		if err != nil {
			return answer{err: err}
		}
		out, err := forwardRequest(req.Context(), base, req, id)
		if err != nil {
			return answer{err: err}
		}
		resp, err := a.worker.client.Do(out)
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		// HttpClient.SendAsync reads the whole response before the
		// invocation completes.
		body, err := io.ReadAll(resp.Body)
		return answer{status: resp.StatusCode, header: resp.Header, body: body, err: err}
	})
	if err == nil {
		err = ans.err
	}
	d := time.Since(start)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		log.Error(fmt.Sprintf("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", fn.Name, id, d.Milliseconds()),
			"outcome", "Failed", "duration", d, "err", err)
		return
	}
	for k, v := range ans.header {
		if !isHopHeader(k) {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
	log.Info(fmt.Sprintf("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", fn.Name, id, d.Milliseconds()),
		"outcome", "Succeeded", "duration", d, "status", ans.status)
}

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade"}

func isHopHeader(k string) bool {
	for _, h := range hopHeaders {
		if strings.EqualFold(h, k) {
			return true
		}
	}
	return false
}

// contentHeaders are .NET's HttpContentHeaders: HttpRequestHeaders.
// TryAddWithoutValidation refuses them, so the host's copy of the request
// drops them all, and sets only Content-Length and Content-Type again, with
// the body.
var contentHeaders = map[string]bool{
	"Allow": true, "Content-Disposition": true, "Content-Encoding": true, "Content-Language": true,
	"Content-Length": true, "Content-Location": true, "Content-Md5": true, "Content-Range": true,
	"Content-Type": true, "Expires": true, "Last-Modified": true,
}

// errChunkedWithoutContent is HttpClient's refusal of a request that says
// Transfer-Encoding: chunked but has no content.
var errChunkedWithoutContent = errors.New("An error occurred while sending the request: 'Transfer-Encoding: chunked' header can not be used when content object is not specified.")

// forwardRequest rebuilds the caller's request the way the host does before
// sending it to the handler (HttpRequestExtensions.ToHttpRequestMessage and
// DefaultHttpWorkerService.AddHeaders):
//   - the query is rebuilt from the parsed query collection: each key once,
//     its values joined with "," (x=1&x=2 arrives as x=1%2C2), everything
//     re-encoded;
//   - the body is copied only when Content-Length is more than 0; a chunked
//     body has no Content-Length, and HttpClient then refuses the request,
//     because the copied Transfer-Encoding: chunked has no content;
//   - content headers are dropped except Content-Type and Content-Length with
//     a body;
//   - X-Azure-Functions-HostVersion and -InvocationId are added, and the
//     host's product token is appended to the caller's User-Agent.
func forwardRequest(ctx context.Context, base string, req *http.Request, id string) (*http.Request, error) {
	if req.ContentLength < 0 {
		return nil, errChunkedWithoutContent
	}
	target := base + req.URL.EscapedPath()
	if q := rebuildQuery(req.URL.RawQuery); q != "" {
		target += "?" + q
	}
	var body io.Reader
	if req.ContentLength > 0 {
		body = req.Body
	}
	out, err := http.NewRequestWithContext(ctx, req.Method, target, body)
	if err != nil {
		return nil, err
	}
	for k, v := range req.Header {
		if contentHeaders[http.CanonicalHeaderKey(k)] || isHopHeader(k) || strings.EqualFold(k, "User-Agent") {
			continue
		}
		out.Header[k] = append([]string(nil), v...)
	}
	if req.ContentLength > 0 {
		out.ContentLength = req.ContentLength
		if ct := req.Header.Get("Content-Type"); ct != "" {
			out.Header.Set("Content-Type", ct)
		}
	}
	out.Host = req.Host
	setInvocationHeaders(out.Header, id)
	ua := userAgent
	if caller := strings.Join(req.Header.Values("User-Agent"), " "); caller != "" {
		ua = caller + " " + userAgent
	}
	out.Header.Set("User-Agent", ua)
	return out, nil
}

// rebuildQuery is QueryHelpers.AddQueryString over Request.Query: ASP.NET
// groups keys case-insensitively (keeping the first spelling), joins a key's
// values with "," (StringValues.ToString) and UrlEncoder.Default encodes
// everything but ASCII letters, digits and -._~ as %XX.
func rebuildQuery(raw string) string {
	type entry struct {
		key  string
		vals []string
	}
	var order []*entry
	byKey := map[string]*entry{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		if k == "" {
			continue
		}
		e := byKey[strings.ToLower(k)]
		if e == nil {
			e = &entry{key: k}
			byKey[strings.ToLower(k)] = e
			order = append(order, e)
		}
		e.vals = append(e.vals, v)
	}
	var b strings.Builder
	for i, e := range order {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(dotnetURLEncode(e.key))
		b.WriteByte('=')
		b.WriteString(dotnetURLEncode(strings.Join(e.vals, ",")))
	}
	return b.String()
}

func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ") // a bad escape stays as written
}

func dotnetURLEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// invokeJSON is the non-forwarding mode: Data.<trigger> is the request as
// JSON, and the http output binding's {statusCode, body, headers} is the answer.
func (rt *httpRoute) invokeJSON(w http.ResponseWriter, req *http.Request, params map[string]string) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	url := scheme + "://" + req.Host + req.URL.RequestURI()
	query := map[string][]string(req.URL.Query())
	header := map[string][]string(req.Header)
	data := httpRequestData(url, req.Method, query, header, params, body, req.Header.Get("Content-Type"))
	payload := &invocationRequest{
		Data:     map[string]any{rt.fn.Trigger.Name: data},
		Metadata: httpMetadata(rt.fn, query, header, params, body),
	}
	res, err := rt.app.invoke(req.Context(), rt.fn, "This HTTP triggered function executed.", payload)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var raw json.RawMessage
	if name := rt.fn.HTTPOutput; name == "$return" {
		raw = res.Response.ReturnValue
	} else if name != "" {
		raw = res.Response.Outputs[name]
	}
	if len(raw) == 0 || string(raw) == "null" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	out, err := parseHTTPOutput(raw)
	if err != nil {
		rt.app.log.Error("bad http output", "function", "Functions."+rt.fn.Name, "invocationId", res.ID, "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	for k, v := range out.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(out.StatusCode)
	_, _ = w.Write(out.Body)
}

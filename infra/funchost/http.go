package funchost

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// httpRoute is one httpTrigger function on the shared listener.
type httpRoute struct {
	app     *appRuntime
	fn      *Function
	methods map[string]bool // empty: every method
	// fnKey and masterKey are the app's local keys, looked up once rather
	// than per request (Lookup scans every setting on a miss).
	fnKey, masterKey string
}

type httpRouter struct {
	routes []*httpRoute
}

// newHTTPRouter orders every app's routes by precedence and rejects two
// functions that would answer the same requests.
func newHTTPRouter(apps []*appRuntime) (*httpRouter, error) {
	r := &httpRouter{}
	for _, a := range apps {
		for _, f := range a.Functions {
			if f.Route == nil {
				continue
			}
			rt := &httpRoute{app: a, fn: f, methods: map[string]bool{}}
			rt.fnKey, _ = a.Settings.Lookup("FUNCHOST_FUNCTION_KEY")
			rt.masterKey, _ = a.Settings.Lookup("FUNCHOST_MASTER_KEY")
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
	if req.URL.Path == "/admin/host/status" {
		writeJSON(w, http.StatusOK, map[string]any{"state": "Running", "version": hostVersion})
		return
	}
	path := strings.TrimPrefix(req.URL.Path, "/")
	for _, rt := range r.routes {
		params, ok := rt.fn.Route.match(path)
		if !ok || (len(rt.methods) > 0 && !rt.methods[req.Method]) {
			continue
		}
		if !rt.authorized(req) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "a valid function key is required (code query parameter or x-functions-key header)"})
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

// authorized checks function keys when the app has them configured.
func (rt *httpRoute) authorized(req *http.Request) bool {
	level := strings.ToLower(rt.fn.Trigger.AuthLevel)
	if level == "" || level == "anonymous" {
		return true
	}
	fnKey, masterKey := rt.fnKey, rt.masterKey
	if fnKey == "" && masterKey == "" {
		return true // keys not configured: like func start, no check
	}
	given := req.Header.Get("x-functions-key")
	if given == "" {
		given = req.URL.Query().Get("code")
	}
	eq := func(k string) bool { return k != "" && subtle.ConstantTimeCompare([]byte(given), []byte(k)) == 1 }
	if level == "admin" {
		return eq(masterKey)
	}
	return eq(fnKey) || eq(masterKey)
}

// forward proxies the original request to the handler at its original path
// (enableForwardingHttpRequest) and relays the answer as is.
func (rt *httpRoute) forward(w http.ResponseWriter, req *http.Request) {
	fn := rt.fn
	a := rt.app
	id := newGUID()
	log := a.log.With("app", a.Name, "function", "Functions."+fn.Name, "invocationId", id)
	log.Info(fmt.Sprintf("Executing 'Functions.%s' (Reason='This function was programmatically called via the host APIs.', Id=%s)", fn.Name, id))
	start := time.Now()
	status, err := rt.proxy(w, req, id)
	d := time.Since(start)
	if err != nil || status >= 500 {
		log.Error(fmt.Sprintf("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", fn.Name, id, d.Milliseconds()),
			"outcome", "Failed", "duration", d, "status", status, "err", err)
		return
	}
	log.Info(fmt.Sprintf("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", fn.Name, id, d.Milliseconds()),
		"outcome", "Succeeded", "duration", d, "status", status)
}

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade"}

func (rt *httpRoute) proxy(w http.ResponseWriter, req *http.Request, id string) (int, error) {
	ctx := req.Context()
	if t := rt.app.Config.FunctionTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	base, err := rt.app.worker.endpoint(ctx)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return 500, err
	}
	target := base + req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		target += "?" + req.URL.RawQuery
	}
	out, err := http.NewRequestWithContext(ctx, req.Method, target, req.Body)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return 500, err
	}
	out.Header = req.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.ContentLength = req.ContentLength
	out.Host = req.Host
	setInvocationHeaders(out.Header, id)
	resp, err := rt.app.worker.client.Do(out)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return 500, err
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.WriteHeader(resp.StatusCode)
	_, err = io.Copy(w, resp.Body)
	return resp.StatusCode, err
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

package funcapp

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The host routes forwarded requests like ASP.NET does and passes the original path on, so
// the runtime must match the same way: literal segments ignore case, a trailing slash is
// ignored, {name} takes one segment, {*name} the rest (possibly nothing). http.ServeMux is
// case-sensitive, hence this small router.

type segment struct {
	literal string // lower case; "" for a parameter
	param   string
	rest    bool // {*param}: every remaining segment
}

// parseRoute reads a function.json route template: "customers/{customerId}",
// "items/{id:int}" (the host checks constraints before forwarding, so they are dropped),
// "files/{*path}". Templates the runtime cannot serve (optional, defaulted or partial-segment
// parameters) are refused.
func parseRoute(route string) ([]segment, error) {
	route = strings.Trim(route, "/")
	if route == "" {
		return nil, nil
	}
	parts := strings.Split(route, "/")
	segs := make([]segment, 0, len(parts))
	seen := map[string]bool{}
	for i, s := range parts {
		if !strings.ContainsAny(s, "{}") {
			if s == "" {
				return nil, fmt.Errorf("route %q: empty segment", route)
			}
			segs = append(segs, segment{literal: strings.ToLower(s)})
			continue
		}
		if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") || strings.Count(s, "{") != 1 {
			return nil, fmt.Errorf("route %q: a parameter must be a whole segment", route)
		}
		p := s[1 : len(s)-1]
		if j := strings.IndexByte(p, ':'); j >= 0 {
			p = p[:j]
		}
		switch {
		case strings.Contains(p, "="):
			return nil, fmt.Errorf("route %q: default values are not supported", route)
		case strings.HasSuffix(p, "?"):
			return nil, fmt.Errorf("route %q: optional parameters are not supported", route)
		}
		seg := segment{}
		if strings.HasPrefix(p, "*") {
			if i != len(parts)-1 {
				return nil, fmt.Errorf("route %q: a catch-all parameter must be last", route)
			}
			p, seg.rest = strings.TrimLeft(p, "*"), true
		}
		if p == "" || strings.ContainsAny(p, "{}*?.") {
			return nil, fmt.Errorf("route %q: invalid parameter %q", route, s)
		}
		if seen[strings.ToLower(p)] {
			return nil, fmt.Errorf("route %q: parameter %q twice", route, p)
		}
		seen[strings.ToLower(p)] = true
		seg.param = p
		segs = append(segs, seg)
	}
	return segs, nil
}

type route struct {
	fn      *Function
	methods []string // upper case; empty means any
	segs    []segment
	handler http.Handler
}

// match returns the route parameters if parts (unescaped path segments) fit the template.
func (r *route) match(parts []string) (map[string]string, bool) {
	params := map[string]string{}
	for i, s := range r.segs {
		if s.rest {
			params[s.param] = strings.Join(parts[min(i, len(parts)):], "/")
			return params, true
		}
		if i >= len(parts) {
			return nil, false
		}
		switch {
		case s.param != "":
			params[s.param] = parts[i]
		case !strings.EqualFold(s.literal, parts[i]):
			return nil, false
		}
	}
	return params, len(parts) == len(r.segs)
}

// outranks says whether r is more specific than o, segment by segment: a literal beats a
// parameter, which beats a catch-all.
func (r *route) outranks(o *route) bool {
	rank := func(s segment) int {
		switch {
		case s.literal != "":
			return 3
		case !s.rest:
			return 2
		}
		return 1
	}
	for i := 0; i < min(len(r.segs), len(o.segs)); i++ {
		if a, b := rank(r.segs[i]), rank(o.segs[i]); a != b {
			return a > b
		}
	}
	return len(r.segs) > len(o.segs)
}

func (r *route) allows(method string) bool {
	return len(r.methods) == 0 || slices.Contains(r.methods, method)
}

// shape is the route with parameter names erased, to find two functions on one route.
func (r *route) shape() string {
	var b strings.Builder
	for _, s := range r.segs {
		switch {
		case s.rest:
			b.WriteString("/{*}")
		case s.param != "":
			b.WriteString("/{}")
		default:
			b.WriteString("/" + s.literal)
		}
	}
	return b.String()
}

type router struct {
	routes []*route
}

// add registers an HTTP function under prefix; it panics when another function already
// serves the same route for one of its methods.
func (rt *router) add(prefix string, f *Function, h http.Handler) {
	template := f.HTTP.Route
	if template == "" {
		template = f.Name
	}
	if p := strings.Trim(prefix, "/"); p != "" {
		template = p + "/" + strings.Trim(template, "/")
	}
	segs, err := parseRoute(template)
	if err != nil {
		panic(fmt.Sprintf("funcapp: %s: %v", f.Name, err)) // checked at registration already
	}
	r := &route{fn: f, methods: f.HTTP.Methods, segs: segs, handler: h}
	for _, o := range rt.routes {
		if o.shape() != r.shape() {
			continue
		}
		if len(r.methods) == 0 || len(o.methods) == 0 || slices.ContainsFunc(r.methods, o.allows) {
			panic(fmt.Sprintf("funcapp: %s and %s serve the same route %q", o.fn.Name, f.Name, template))
		}
	}
	rt.routes = append(rt.routes, r)
}

func (rt *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts, err := pathSegments(req.URL)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "invalid_path", err.Error())
		return
	}
	var best *route
	var bestParams map[string]string
	var allowed []string
	for _, r := range rt.routes {
		params, ok := r.match(parts)
		if !ok {
			continue
		}
		if !r.allows(req.Method) {
			allowed = append(allowed, r.methods...)
			continue
		}
		if best == nil || r.outranks(best) {
			best, bestParams = r, params
		}
	}
	if best == nil {
		if len(allowed) > 0 {
			slices.Sort(allowed)
			w.Header().Set("Allow", strings.Join(slices.Compact(allowed), ", "))
			WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", req.Method+" is not allowed here")
			return
		}
		WriteError(w, http.StatusNotFound, "not_found", "no function serves "+req.URL.Path)
		return
	}
	for k, v := range bestParams {
		req.SetPathValue(k, v)
	}
	best.handler.ServeHTTP(w, req)
}

// pathSegments splits the escaped path and unescapes each segment, so that an encoded slash
// stays inside its segment.
func pathSegments(u *url.URL) ([]string, error) {
	p := strings.Trim(u.EscapedPath(), "/")
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		v, err := url.PathUnescape(s)
		if err != nil {
			return nil, err
		}
		parts[i] = v
	}
	return parts, nil
}

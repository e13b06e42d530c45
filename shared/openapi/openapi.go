// Package openapi writes the OpenAPI 3.1 document of a context's HTTP functions from their
// registrations (funcapp.HTTPTrigger and its Doc), so that the description cannot drift from
// what is served: the paths and methods are the routes, the security is the host's auth level
// and the function's own (Doc.Security), the bodies' schemas are read off the Go types by
// reflection, and every documented error status answers an RFC 9457 problem.
package openapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"meterline/shared/funcapp"
)

// Info names the document.
type Info struct {
	Title       string
	Version     string
	Description string
}

// Document returns the OpenAPI 3.1 document of the HTTP functions of app that belong to
// context (all of app's when context is "").
func Document(app *funcapp.App, context string, info Info) ([]byte, error) {
	g := &generator{schemas: map[string]any{}, names: map[reflect.Type]string{}}
	g.schema(reflect.TypeFor[funcapp.Problem]()) // a component: every error answers one
	paths := map[string]map[string]any{}
	for _, f := range app.Functions() {
		if f.Kind != funcapp.KindHTTP || (context != "" && f.App != context) {
			continue
		}
		path, params := pathOf(f.HTTP.Route, f.Name)
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		methods := f.HTTP.Methods
		if len(methods) == 0 {
			methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
		}
		for _, m := range methods {
			paths[path][strings.ToLower(m)] = g.operation(f, params)
		}
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": info.Title, "version": cmpOr(info.Version, "1.0.0"), "description": info.Description},
		"servers": []any{map[string]any{"url": "/" + app.RoutePrefix}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": g.schemas,
			"securitySchemes": map[string]any{
				"functionKey":      map[string]any{"type": "apiKey", "in": "header", "name": "x-functions-key", "description": "a function or host key of the Functions app (the master key for admin operations)"},
				"functionKeyQuery": map[string]any{"type": "apiKey", "in": "query", "name": "code", "description": "the same key as a query parameter"},
				"bearer":           map[string]any{"type": "http", "scheme": "bearer", "description": "an API key issued by Subscriptions"},
				"session":          map[string]any{"type": "apiKey", "in": "cookie", "name": "meterline_session", "description": "the portal's session cookie (POST signin)"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// route parameters of function.json: {name}, {name:constraint}, {*name} (catch-all), {name?}.
var routeParam = regexp.MustCompile(`\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\?)?(:[^}]*)?\}`)

// pathOf turns a function.json route into an OpenAPI path and its parameters.
func pathOf(route, name string) (string, []map[string]any) {
	if route == "" {
		route = name
	}
	var params []map[string]any
	path := routeParam.ReplaceAllStringFunc(route, func(m string) string {
		sub := routeParam.FindStringSubmatch(m)
		schema := map[string]any{"type": "string"}
		switch strings.TrimPrefix(sub[4], ":") {
		case "guid":
			schema["format"] = "uuid"
		case "int", "long":
			schema = map[string]any{"type": "integer"}
		}
		p := map[string]any{"name": sub[2], "in": "path", "required": true, "schema": schema}
		if sub[1] == "*" {
			p["description"] = "the rest of the path, slashes included"
		}
		params = append(params, p)
		return "{" + sub[2] + "}"
	})
	return "/" + path, params
}

type generator struct {
	schemas map[string]any
	names   map[reflect.Type]string
}

func (g *generator) operation(f funcapp.Function, params []map[string]any) map[string]any {
	doc := f.HTTP.Doc
	if doc == nil {
		doc = &funcapp.Operation{}
	}
	op := map[string]any{"operationId": f.Name, "tags": []string{f.App}}
	if doc.Summary != "" {
		op["summary"] = doc.Summary
	}
	var parameters []any
	for _, p := range params {
		parameters = append(parameters, p)
	}
	for _, q := range doc.Query {
		parameters = append(parameters, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
	}
	for _, h := range doc.Headers {
		parameters = append(parameters, map[string]any{"name": h, "in": "header", "required": false, "schema": map[string]any{"type": "string"}})
	}
	if len(parameters) > 0 {
		op["parameters"] = parameters
	}
	if doc.Request != nil {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(doc.Request))}}}
	}
	successes := doc.Success
	if len(successes) == 0 {
		successes = []int{http.StatusOK}
	}
	responses := map[string]any{}
	for _, status := range successes {
		ok := map[string]any{"description": http.StatusText(status)}
		switch {
		case status == http.StatusNoContent || status == http.StatusNotModified:
		case doc.Content != "":
			ok["content"] = map[string]any{doc.Content: map[string]any{"schema": map[string]any{"type": "string"}}}
		case doc.Response != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(doc.Response))}}
		}
		responses[strconv.Itoa(status)] = ok
	}
	problem := map[string]any{funcapp.ProblemContentType: map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}
	for _, status := range doc.Errors {
		responses[strconv.Itoa(status)] = map[string]any{"description": http.StatusText(status), "content": problem}
	}
	// What the runtime itself may answer to any request.
	responses["500"] = map[string]any{"description": "a failure of ours; retry later", "content": problem}
	var security []any
	switch f.HTTP.AuthLevel {
	case "function", "admin":
		security = append(security, map[string]any{"functionKey": []string{}}, map[string]any{"functionKeyQuery": []string{}})
		// The host answers a missing or wrong key itself, with an empty body.
		responses["401"] = map[string]any{"description": "no valid key of the Functions app"}
	}
	switch doc.Security {
	case "bearer":
		security = []any{map[string]any{"bearer": []string{}}}
	case "cookie":
		security = []any{map[string]any{"session": []string{}}}
	}
	if security == nil {
		security = []any{} // explicitly public
	}
	op["security"] = security
	op["responses"] = responses
	return op
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawJSONType = reflect.TypeFor[json.RawMessage]()
)

// schema is the JSON Schema of t as encoding/json writes it: named struct types become
// components, referenced.
func (g *generator) schema(t reflect.Type) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s map[string]any
	switch {
	case t == timeType:
		s = map[string]any{"type": "string", "format": "date-time"}
	case t == rawJSONType:
		return map[string]any{} // any JSON
	case t.Kind() == reflect.Struct && t.Name() != "":
		name := g.name(t)
		if _, done := g.schemas[name]; !done {
			g.schemas[name] = map[string]any{} // a placeholder breaks recursion
			g.schemas[name] = g.object(t)
		}
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		if nullable {
			return map[string]any{"oneOf": []any{ref, map[string]any{"type": "null"}}}
		}
		return ref
	case t.Kind() == reflect.Struct:
		s = g.object(t)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		s = map[string]any{"type": "string", "contentEncoding": "base64"}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		s = map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem())} // a nil slice is null
	case t.Kind() == reflect.Map:
		s = map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem())}
	case t.Kind() == reflect.String:
		s = map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		s = map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s = map[string]any{"type": "number"}
	default:
		s = map[string]any{} // interfaces: anything
	}
	if nullable {
		switch typ := s["type"].(type) {
		case string:
			s["type"] = []string{typ, "null"}
		}
	}
	return s
}

// object is the schema of a struct's JSON object; embedded structs' fields are its own. A field
// without omitempty is always written, so it is required.
func (g *generator) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var fields func(t reflect.Type)
	fields = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || f.Tag.Get("openapi") == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					fields(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
			if !slices.Contains(strings.Split(opts, ","), "omitempty") && !slices.Contains(strings.Split(opts, ","), "omitzero") {
				required = append(required, name)
			}
		}
	}
	fields(t)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}

// name is t's component name: its Go name, prefixed with its package's when another type
// took that name already.
func (g *generator) name(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	n, _, _ := strings.Cut(t.Name(), "[") // generic instantiations
	for _, other := range g.names {
		if other == n {
			pkg := t.PkgPath()[strings.LastIndexByte(t.PkgPath(), '/')+1:]
			n = strings.ToUpper(pkg[:1]) + pkg[1:] + n
			break
		}
	}
	g.names[t] = n
	return n
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

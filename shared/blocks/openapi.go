package blocks

import (
	"net/http"
	"strings"
	"sync"

	"meterline/shared/funcapp"
	"meterline/shared/openapi"
)

// OpenAPI serves the context's OpenAPI 3.1 document at GET /api/{Context}/openapi.json, made
// from the app's registrations when first asked (package openapi).
type OpenAPI struct {
	Context string // the app name, e.g. "subscriptions"
	// Route is where the document is served, next to the context's routes; empty means
	// "{Context}/openapi.json".
	Route string
	Info  openapi.Info
}

// Register registers the document's HTTP function, named after the route's first segment:
// SubscriptionsOpenAPI, CloudOpenAPI.
func (o OpenAPI) Register(a *funcapp.App) {
	var once sync.Once
	var doc []byte
	var err error
	route := o.Route
	if route == "" {
		route = o.Context + "/openapi.json"
	}
	first, _, _ := strings.Cut(route, "/")
	name := strings.ToUpper(first[:1]) + first[1:] + "OpenAPI"
	a.HTTP(name, funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: route, AuthLevel: "anonymous",
		Doc: &funcapp.Operation{Summary: "this document", Content: "application/json"}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { doc, err = openapi.Document(a, o.Context, o.Info) })
			if err != nil {
				WriteError(w, r, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(doc)
		}))
}

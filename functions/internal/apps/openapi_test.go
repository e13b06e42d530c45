package apps

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"meterline/shared/funcapp"
	"meterline/shared/openapi/openapitest"
)

// Every context serves its OpenAPI document, and the document describes exactly the HTTP
// functions its function.json files declare: each route and method, the key the host asks for
// (authLevel), and a problem for every error.
func TestEveryContextServesTheOpenAPIDocumentOfItsFunctionJSON(t *testing.T) {
	for _, c := range contexts {
		t.Run(c.Name, func(t *testing.T) {
			app := c.Define()
			dir := t.TempDir()
			if err := app.WriteFunctionJSON(dir); err != nil {
				t.Fatal(err)
			}
			declared := httpFunctions(t, dir)
			var docRoute string
			for name, f := range declared {
				if strings.HasSuffix(name, "OpenAPI") {
					docRoute = f.Route
				}
			}
			if docRoute == "" {
				t.Fatalf("no OpenAPI function among %d HTTP functions", len(declared))
			}
			if first := strings.Split(docRoute, "/")[0]; first != c.Name && !(c.Name == "cloudapi" && first == "cloud") {
				t.Errorf("the document is served at %s, not next to the context's routes", docRoute)
			}

			rec := httptest.NewRecorder()
			app.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/"+docRoute, nil))
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("GET /api/%s: %d %s", docRoute, rec.Code, rec.Header().Get("Content-Type"))
			}
			body, _ := io.ReadAll(rec.Body)
			doc, err := openapitest.Lint(body)
			if err != nil {
				t.Fatalf("the served document does not lint: %v", err)
			}
			if doc.OpenAPI != "3.1.0" {
				t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
			}

			operations := 0
			for _, item := range doc.Paths.Map() {
				operations += len(item.Operations())
			}
			want := 0
			for name, f := range declared {
				path := "/" + routeParam.ReplaceAllString(f.Route, "{$1}")
				item := doc.Paths.Value(path)
				if item == nil {
					t.Errorf("%s: route %s is not in the document", name, path)
					continue
				}
				for _, m := range f.Methods {
					want++
					op := item.GetOperation(strings.ToUpper(m))
					if op == nil {
						t.Errorf("%s: %s %s is not in the document", name, m, path)
						continue
					}
					checkOperation(t, doc, name, f, op)
				}
			}
			if operations != want {
				t.Errorf("the document has %d operations, function.json declares %d", operations, want)
			}
		})
	}
}

// routeParam matches {name}, {*name} and {name:constraint} in a function.json route.
var routeParam = regexp.MustCompile(`\{\*?([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}`)

func checkOperation(t *testing.T, doc *openapi3.T, name string, f httpBinding, op *openapi3.Operation) {
	t.Helper()
	if op.OperationID != name {
		t.Errorf("%s: operationId %q", name, op.OperationID)
	}
	keyed := false
	if op.Security != nil {
		for _, req := range *op.Security {
			if _, ok := req["functionKey"]; ok {
				keyed = true
			}
			for scheme := range req {
				if doc.Components.SecuritySchemes[scheme] == nil {
					t.Errorf("%s: security scheme %q is not defined", name, scheme)
				}
			}
		}
	}
	switch f.AuthLevel {
	case "function", "admin":
		if !keyed || op.Responses.Status(http.StatusUnauthorized) == nil {
			t.Errorf("%s: auth level %s, but the document asks no function key or lists no 401", name, f.AuthLevel)
		}
	case "anonymous":
		if keyed {
			t.Errorf("%s: anonymous, but the document asks a function key", name)
		}
	default:
		t.Errorf("%s: auth level %q", name, f.AuthLevel)
	}
	for code, resp := range op.Responses.Map() {
		if code[0] == '4' || code[0] == '5' {
			if code == "401" && keyed {
				continue // the host's own refusal, without a body
			}
			if resp.Value.Content.Get(funcapp.ProblemContentType) == nil {
				t.Errorf("%s: status %s does not answer a problem", name, code)
			}
		}
	}
	if op.Responses.Status(http.StatusInternalServerError) == nil {
		t.Errorf("%s: no 500", name)
	}
}

type httpBinding struct {
	Route     string
	Methods   []string
	AuthLevel string
}

// httpFunctions reads the httpTrigger bindings of the function.json files under dir, by function.
func httpFunctions(t *testing.T, dir string) map[string]httpBinding {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "function.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no function.json under %s (%v)", dir, err)
	}
	out := map[string]httpBinding{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var def struct {
			Bindings []struct {
				Type      string   `json:"type"`
				Route     string   `json:"route"`
				Methods   []string `json:"methods"`
				AuthLevel string   `json:"authLevel"`
			} `json:"bindings"`
		}
		if err := json.Unmarshal(raw, &def); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, b := range def.Bindings {
			if b.Type == "httpTrigger" {
				out[filepath.Base(filepath.Dir(file))] = httpBinding{Route: b.Route, Methods: b.Methods, AuthLevel: b.AuthLevel}
			}
		}
	}
	return out
}

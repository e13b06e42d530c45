package openapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"meterline/shared/funcapp"
	"meterline/shared/openapi"
	"meterline/shared/openapi/openapitest"
)

type bookkeeping struct {
	Applied map[string]int `json:"applied,omitempty"`
}

type thing struct {
	ID          string     `json:"id"`
	Note        string     `json:"note,omitempty"`
	At          time.Time  `json:"at"`
	Until       *time.Time `json:"until,omitempty"`
	Tags        []string   `json:"tags"`
	Secret      string     `json:"-"`
	private     int
	bookkeeping `openapi:"-"`
}

func TestDocumentReadsSchemasRoutesAndSecurityOffTheRegistrations(t *testing.T) {
	a := funcapp.New("all")
	things := funcapp.New("things")
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	things.HTTP("GetThing", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "things/{id:guid}", AuthLevel: "function",
		Doc: &funcapp.Operation{Summary: "a thing", Response: thing{}, Errors: []int{404}}}, ok)
	things.HTTP("Files", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "things/files/{*path}", AuthLevel: "anonymous",
		Doc: &funcapp.Operation{Content: "text/*", Security: "cookie"}}, ok)
	other := funcapp.New("others")
	other.HTTP("Elsewhere", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "others", AuthLevel: "anonymous"}, ok)
	a.Include(things)
	a.Include(other)

	raw, err := openapi.Document(a, "things", openapi.Info{Title: "Things"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openapitest.Lint(raw); err != nil {
		t.Fatalf("lint: %v\n%s", err, raw)
	}
	var doc struct {
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Required   []string                  `json:"required"`
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Paths["/others"]; ok || len(doc.Paths) != 2 {
		t.Fatalf("paths %v: want only the things context's two", keys(doc.Paths))
	}
	get := doc.Paths["/things/{id}"]["get"]
	if get == nil {
		t.Fatalf("no GET /things/{id} in %v", keys(doc.Paths))
	}
	for _, status := range []string{"200", "401", "404", "500"} {
		if get["responses"].(map[string]any)[status] == nil {
			t.Errorf("GetThing: no %s response", status)
		}
	}
	if sec, _ := json.Marshal(get["security"]); !strings.Contains(string(sec), "functionKey") {
		t.Errorf("GetThing: security %s, want the function key", sec)
	}
	if params, _ := json.Marshal(get["parameters"]); !strings.Contains(string(params), `"format":"uuid"`) {
		t.Errorf("GetThing: parameters %s, want the guid constraint as uuid", params)
	}
	files := doc.Paths["/things/files/{path}"]["get"]
	if sec, _ := json.Marshal(files["security"]); string(sec) != `[{"session":[]}]` {
		t.Errorf("Files: security %s, want the session cookie only", sec)
	}

	s := doc.Components.Schemas["thing"]
	if strings.Join(s.Required, ",") != "at,id,tags" {
		t.Errorf("required %v, want the fields without omitempty", s.Required)
	}
	for _, hidden := range []string{"Secret", "private", "applied", "note"} {
		if _, ok := s.Properties[hidden]; ok != (hidden == "note") {
			t.Errorf("property %s: present=%v", hidden, ok)
		}
	}
	if s.Properties["at"]["format"] != "date-time" {
		t.Errorf("at: %v, want a date-time string", s.Properties["at"])
	}
	if _, ok := doc.Components.Schemas["Problem"]; !ok {
		t.Error("no Problem component")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

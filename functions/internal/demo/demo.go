// Package demo is a tiny Functions app for end-to-end tests of the runtime, the assembly and
// the local host: an HTTP query, an HTTP command and a timer. It belongs to no bounded context.
package demo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"

	"meterline/shared/funcapp"
)

// App registers the demo functions. The timer appends a line to the file named by the
// DEMO_HEARTBEAT_FILE setting, so that a test can see it ran.
func App() *funcapp.App {
	app := funcapp.New("demo")
	app.HTTP("Hello", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "demo/hello/{name}", AuthLevel: "anonymous"},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			funcapp.WriteJSON(w, http.StatusOK, map[string]string{
				"hello":       r.PathValue("name"),
				"lang":        r.URL.Query().Get("lang"),
				"correlation": funcapp.CorrelationID(r.Context()),
			})
		}))
	app.HTTP("Echo", funcapp.HTTPTrigger{Methods: []string{"POST"}, Route: "demo/echo", AuthLevel: "anonymous"},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil || !json.Valid(body) {
				funcapp.WriteError(w, http.StatusBadRequest, "invalid", "the body must be JSON")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			w.Write(body)
		}))
	app.Timer("Heartbeat", funcapp.TimerTrigger{Schedule: "0 0 0 1 1 *", RunOnStartup: true}, func(ctx context.Context, t funcapp.TimerInfo) error {
		f, err := os.OpenFile(os.Getenv("DEMO_HEARTBEAT_FILE"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(funcapp.InvocationID(ctx) + "\n")
		return err
	})
	return app
}

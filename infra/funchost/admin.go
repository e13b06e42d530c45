package funchost

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// adminAPI is the part of the host's admin API that is useful locally, with
// the real host's authorization (HostController, FunctionsController):
//
//	GET      /admin/host/status       master key; the host's status
//	GET|POST /admin/host/ping         anonymous; 200
//	POST     /admin/functions/{name}  master key; runs a non-HTTP function now
//	                                  with body {"input": "..."}; 202
//
// With several apps on one listener, the master key of any app opens
// /admin/host/status, and only the owning app's opens /admin/functions/{name}.
type adminAPI struct {
	host    *Host
	started time.Time
}

// manualReason is what the host logs for a run through the admin API.
const manualReason = "This function was programmatically called via the host APIs."

func (ad *adminAPI) serve(w http.ResponseWriter, req *http.Request) {
	path := strings.TrimSuffix(req.URL.Path, "/")
	lower := strings.ToLower(path)
	key := presentedKey(req)
	switch {
	case lower == "/admin/host/ping":
		if req.Method != http.MethodGet && req.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	case lower == "/admin/host/status":
		if req.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		a := ad.masterOf(key)
		if a == nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		status := map[string]any{
			"id":             a.HostID,
			"state":          "Running",
			"version":        hostVersion,
			"versionDetails": hostVersion,
			"processUptime":  time.Since(ad.started).Milliseconds(),
		}
		if b := a.Config.ExtensionBundle; b != nil {
			status["extensionBundle"] = map[string]any{"id": b.ID, "version": b.Version}
		}
		writeJSON(w, http.StatusOK, status)
	case strings.HasPrefix(lower, "/admin/functions/") && !strings.Contains(lower[len("/admin/functions/"):], "/"):
		if req.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		ad.invoke(w, req, path[len("/admin/functions/"):], key)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// masterOf returns the app whose master key is key.
func (ad *adminAPI) masterOf(key string) *appRuntime {
	for _, a := range ad.host.apps {
		if a.keys != nil && a.keys.level(key, "") == levelAdmin {
			return a
		}
	}
	return nil
}

// invoke is FunctionsController.Invoke: 400 without a body, 404 for an
// unknown function, 202 once the run is started.
func (ad *adminAPI) invoke(w http.ResponseWriter, req *http.Request, name, key string) {
	var app *appRuntime
	var fn *Function
	for _, a := range ad.host.apps {
		for _, f := range a.Functions {
			if strings.EqualFold(f.Name, name) {
				app, fn = a, f
			}
		}
	}
	switch {
	case fn == nil && ad.masterOf(key) != nil:
		w.WriteHeader(http.StatusNotFound)
		return
	case fn == nil || app.keys == nil || app.keys.level(key, "") != levelAdmin:
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	var body struct {
		Input json.RawMessage `json:"input"`
	}
	if err != nil || json.Unmarshal(raw, &body) != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": `the body must be {"input": "..."}`})
		return
	}
	input := string(body.Input)
	var s string
	if json.Unmarshal(body.Input, &s) == nil {
		input = s
	} else if input == "null" {
		input = ""
	}
	if fn.Route != nil {
		// Not something to run without its request: call its route instead.
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": fn.Name + " is an httpTrigger function; call its route " + fn.Route.Template})
		return
	}
	ad.host.runOnDemand(app, fn, input)
	w.WriteHeader(http.StatusAccepted)
}

// runOnDemand invokes a function outside its trigger, in the background, as
// a POST /admin/functions/{name} does: a timer gets its current schedule
// status (IsPastDue false) and the status is not advanced; a Service Bus
// function gets a message made of the input, which nothing settles.
func (h *Host) runOnDemand(a *appRuntime, fn *Function, input string) {
	ctx := h.invokeCtx
	if ctx == nil {
		ctx = context.Background()
	}
	h.onDemand.Add(1)
	go func() {
		defer h.onDemand.Done()
		now := time.Now()
		var req *invocationRequest
		switch strings.ToLower(fn.Trigger.Type) {
		case "timertrigger":
			var status *ScheduleStatus
			if fn.UseMonitor {
				if t, err := newTimerListener(a, fn); err == nil {
					status, _ = t.readStatus(ctx)
				}
			}
			req = timerPayload(fn, status, false, now)
		case "servicebustrigger":
			one := int64(0)
			enq := now.UTC()
			msg := &azservicebus.ReceivedMessage{MessageID: newGUID(), Body: []byte(input), DeliveryCount: 1, SequenceNumber: &one, EnqueuedTime: &enq}
			req = serviceBusPayload(fn, msg, namespaceOf(fn.ServiceBusConnection), "", now)
		default:
			return
		}
		_, _ = a.invoke(ctx, fn, manualReason, req)
	}()
}

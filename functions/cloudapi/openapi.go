package cloudapi

import (
	"net/http"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	"meterline/shared/funcapp"
)

// The public API's OpenAPI descriptions (served at /api/cloud/openapi.json; the context's
// tests check every answer against them).

// forecastRequest is the body DecodeForecastRequest reads.
type forecastRequest struct {
	Series  []float64 `json:"series"`  // the observations, oldest first
	Horizon int       `json:"horizon"` // how many points to forecast; each is one unit of consumption
}

// An API call may be refused for a missing or unknown key (401), a locked user or customer (403).
var callErrors = []int{http.StatusUnauthorized, http.StatusForbidden}

var (
	forecastDoc = &funcapp.Operation{Summary: "forecast a series; metered at one unit per point, once per Idempotency-Key",
		Request: forecastRequest{}, Response: app.ForecastAnswer{}, Security: "bearer",
		Headers: []string{funcapp.HeaderIdempotencyKey},
		Errors:  append([]int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}, callErrors...)}
	usageDoc = &funcapp.Operation{Summary: "the caller's customer's consumption, reported and not yet reported",
		Response: domain.Usage{}, Security: "bearer", Errors: callErrors}
)

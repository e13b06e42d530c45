package journal

import (
	"encoding/json"
	"net/http"
	"time"

	"meterline/functions/journal/domain"
	"meterline/functions/journal/store"
	"meterline/shared/funcapp"
)

// The Journal's OpenAPI descriptions (served at /api/journal/openapi.json; the context's tests
// check every answer against them).

type (
	// envelopeRequest is what POST events reads (domain.ParseEnvelope): the integration
	// envelope or a CloudEvent in the JSON format; a time is required, createdAt or time.
	envelopeRequest struct {
		ID              string          `json:"id"`
		Type            string          `json:"type"`
		Source          string          `json:"source"`
		Stream          string          `json:"stream,omitempty"`
		Version         int64           `json:"version,omitempty"`
		SchemaVersion   int             `json:"schemaVersion,omitempty"`
		CreatedAt       *time.Time      `json:"createdAt,omitempty"`
		Time            *time.Time      `json:"time,omitempty"`
		SpecVersion     string          `json:"specversion,omitempty"`
		DataContentType string          `json:"datacontenttype,omitempty"`
		CorrelationID   string          `json:"correlationId,omitempty"`
		CausationID     string          `json:"causationId,omitempty"`
		TraceParent     string          `json:"traceparent,omitempty"`
		Data            json.RawMessage `json:"data,omitempty"`
	}
	recorded struct {
		ID         string    `json:"id"`
		ReceivedAt time.Time `json:"receivedAt"`
		Status     string    `json:"status"` // "stored"
	}
	// page is a page of events, with the continuation of the next page when there is one.
	page struct {
		Events       []store.RecordJSON `json:"events"`
		Continuation string             `json:"continuation,omitempty"`
	}
	// monthlyReport is the report as of the projection's horizon: every event received
	// before asOf is counted.
	monthlyReport struct {
		domain.MonthlyReport
		AsOf time.Time `json:"asOf"`
	}
)

var paged = []string{"limit", "continuation"}

var docs = map[string]*funcapp.Operation{
	"RecordEvent": {Summary: "record one event: 200 stored, 409 stored already with the same content",
		Request: envelopeRequest{}, Response: recorded{},
		Errors: []int{http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}},
	"ListEvents": {Summary: "the events of some types received in [from, to), in received order",
		Response: page{}, Query: append([]string{"type", "from", "to"}, paged...), Errors: []int{http.StatusBadRequest}},
	"ReadStream": {Summary: "one aggregate's events in version order, archived ones included",
		Response: page{}, Query: paged, Errors: []int{http.StatusBadRequest}},
	"MonthlyReport": {Summary: "a customer's revenue and usage in a month (YYYY-MM)",
		Response: monthlyReport{}, Errors: []int{http.StatusBadRequest, http.StatusNotFound}},
}

// Package contracts is the Cloud API's published language: the integration events it stores in
// its own event store and publishes on the "cloudapi" topic. Other contexts may import this
// package (and only this one) to read them. Never rename a field; add new ones freely.
package contracts

import (
	"time"

	"meterline/shared/eventstore"
)

// Source is the bounded context name stamped on every event of this context.
const Source = "cloudapi"

// UsageReportedType is the registered name of UsageReported.
const UsageReportedType = "cloudapi.UsageReported"

// UsageReported says that a customer consumed units of the metered API during [PeriodFrom,
// PeriodTo]. ReportID is stable: a retried report carries the same id (and the same event id),
// so Subscriptions applies each report exactly once. Stream: UsageStream(customerId).
type UsageReported struct {
	ReportID   string    `json:"reportId"`
	CustomerID string    `json:"customerId"`
	Units      int64     `json:"units"`    // one unit per forecast point
	Requests   int64     `json:"requests"` // metered requests covered by the report
	PeriodFrom time.Time `json:"periodFrom"`
	PeriodTo   time.Time `json:"periodTo"`
}

// UsageStream is the stream that holds a customer's usage reports.
func UsageStream(customerID string) string { return "usage-" + customerID }

// Register adds the events of this context to r.
func Register(r *eventstore.Registry) {
	eventstore.Register[UsageReported](r, UsageReportedType, 1)
}

// Package acl is the anti-corruption layer of the Subscriptions context: it translates the
// events other contexts publish into Subscriptions' own terms, so that a change in another
// context's language touches only this package.
package acl

import (
	"fmt"
	"time"

	cloudapi "meterline/functions/cloudapi/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

// ErrMalformed: an event of a handled type whose content can never be used (missing ids, bad
// JSON). Its message is dead-lettered with the reason.
var ErrMalformed = fmt.Errorf("acl: %w", blocks.ErrMalformed)

// CloudAPITopic is where the Cloud API publishes.
const CloudAPITopic = cloudapi.Source

// UsageTypes are the Cloud API events Subscriptions bills.
var UsageTypes = []string{cloudapi.UsageReportedType}

// Usage is consumption of the Cloud API to bill, as Subscriptions understands it.
type Usage struct {
	ReportID   string // stable: the same report is billed once
	CustomerID string
	Units      int64
	From, To   time.Time
}

var foreign = func() *eventstore.Registry {
	r := eventstore.NewRegistry()
	cloudapi.Register(r)
	return r
}()

// UsageFrom translates a cloudapi.UsageReported event.
func UsageFrom(e eventstore.Event) (Usage, error) {
	v, err := foreign.Decode(e)
	if err != nil {
		return Usage{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r, ok := v.(cloudapi.UsageReported)
	if !ok || r.ReportID == "" || r.CustomerID == "" {
		return Usage{}, fmt.Errorf("%w: usage report %s without reportId or customerId", ErrMalformed, e.ID)
	}
	return Usage{ReportID: r.ReportID, CustomerID: r.CustomerID, Units: r.Units, From: r.PeriodFrom, To: r.PeriodTo}, nil
}

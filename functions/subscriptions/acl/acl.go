// Package acl is the anti-corruption layer of the Subscriptions context: it translates the
// events other contexts publish into Subscriptions' own terms, so that a change in another
// context's language touches only this package.
package acl

import (
	"errors"
	"fmt"
	"time"

	cloudapi "meterline/functions/cloudapi/contracts"
	"meterline/shared/eventstore"
)

// ErrNotHandled: an event type Subscriptions does not react to. Its receptor ignores it.
var ErrNotHandled = errors.New("acl: event type not handled by subscriptions")

// ErrUnreadable: an event of a handled type whose content can never be used (missing ids,
// bad JSON). Its message is dead-lettered with the reason.
var ErrUnreadable = errors.New("acl: unreadable event")

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

// UsageFrom translates a cloudapi.UsageReported event. Other types give ErrNotHandled.
func UsageFrom(e eventstore.Event) (Usage, error) {
	if e.Type != cloudapi.UsageReportedType {
		return Usage{}, fmt.Errorf("%w: %q", ErrNotHandled, e.Type)
	}
	v, err := foreign.Decode(e)
	if err != nil {
		return Usage{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	r := v.(cloudapi.UsageReported)
	if r.ReportID == "" || r.CustomerID == "" {
		return Usage{}, fmt.Errorf("%w: usage report %s without reportId or customerId", ErrUnreadable, e.ID)
	}
	return Usage{ReportID: r.ReportID, CustomerID: r.CustomerID, Units: r.Units, From: r.PeriodFrom, To: r.PeriodTo}, nil
}

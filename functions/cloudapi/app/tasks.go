package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"meterline/functions/cloudapi/contracts"
	"meterline/functions/cloudapi/domain"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/outbox"
)

// The tasks of the Cloud API, each safe to repeat and to overlap with itself: UsageReporter
// (timer UsageReporting) and OutboxSweep.

// OutboxSweep is the OutboxSweep task: it republishes the usage reports that a crash or a failed
// publication left in the outbox. With no outbox (the events stay in the store) it does nothing.
func OutboxSweep(d *outbox.Dispatcher) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if d == nil {
			return nil
		}
		return d.RunSweep(ctx)
	}
}

// UsageReporter is the usage reporting task: it turns recorded, unreported consumption into
// cloudapi.UsageReported events, at most domain.MaxRequestsPerReport requests per report.
//
// Each report goes through three steps, each safe to repeat:
//
//  1. assign: the pending requests are tied to a report whose id is derived from the requests
//     it covers (one atomic write that also fixes the report's content);
//  2. append: UsageReported goes to stream "usage-<customerId>" with an event id derived from
//     the report id, so appending it again is a no-op;
//  3. mark: the report's requests leave the pending usage (one atomic write).
//
// A crash after any step leaves an open report that the next run finds and completes with the
// same id: a retry never double-bills, and nothing assigned is ever lost.
type UsageReporter struct {
	Meter  MeterLog
	Store  eventstore.Store
	Events *eventstore.Registry // with contracts.Register
	// Dispatch publishes appended events at once (the outbox dispatcher); optional, failures
	// are left to the outbox sweep.
	Dispatch func(ctx context.Context, events []eventstore.Event)
	// FlushPending publishes what a stream still has pending (the outbox dispatcher's
	// AfterNoChange); optional. A report found already stored may not have gone out yet.
	FlushPending func(ctx context.Context, stream string)
	Now          func() time.Time // the context's clock (required)
}

// Run reports every customer's unreported consumption. It carries on past a failing customer
// and returns the errors joined.
func (u UsageReporter) Run(ctx context.Context) error {
	customers, err := u.Meter.Customers(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range customers {
		if err := u.ReportCustomer(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("customer %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// ReportCustomer reports one customer's unreported consumption: first any report left open by an
// interrupted run, then new reports until nothing is pending.
func (u UsageReporter) ReportCustomer(ctx context.Context, customerID string) error {
	open, err := u.Meter.OpenReports(ctx, customerID)
	if err != nil {
		return err
	}
	for _, r := range open {
		if err := u.publish(ctx, r); err != nil {
			return err
		}
	}
	for {
		pending, err := u.Meter.Unassigned(ctx, customerID, domain.MaxRequestsPerReport)
		if err != nil || len(pending) == 0 {
			return err
		}
		ids := make([]string, len(pending))
		for i, p := range pending {
			ids[i] = p.RequestID
		}
		r := domain.NewReport(customerID, domain.ReportID(customerID, ids), pending)
		if err := u.Meter.Assign(ctx, r, pending); err != nil {
			if errors.Is(err, domain.ErrAssigned) {
				return nil // another reporter is on this customer; the next run picks up the rest
			}
			return err
		}
		if err := u.publish(ctx, r); err != nil {
			return err
		}
	}
}

// publish appends the report's event (idempotently) and marks the report reported.
func (u UsageReporter) publish(ctx context.Context, r domain.Report) error {
	stream := contracts.UsageStream(r.CustomerID)
	ctx = eventstore.WithCommandID(ctx, r.ReportID) // event id = EventID(reportId, stream, 0)
	events, err := u.Events.NewEvents(ctx, contracts.Source, stream, u.Now(), contracts.UsageReported{
		ReportID: r.ReportID, CustomerID: r.CustomerID, Units: r.Units, Requests: r.Requests,
		PeriodFrom: r.PeriodFrom.UTC(), PeriodTo: r.PeriodTo.UTC(),
	})
	if err != nil {
		return err
	}
	appended, err := u.Store.Append(ctx, stream, eventstore.Any, events...)
	if err != nil {
		return fmt.Errorf("append report %s: %w", r.ReportID, err)
	}
	switch {
	case appended.Duplicate && u.FlushPending != nil:
		// Stored by a run that crashed, perhaps before publishing: publish it if still pending.
		u.FlushPending(ctx, stream)
	case !appended.Duplicate && u.Dispatch != nil:
		for i := range events {
			events[i].Version = appended.FirstVersion + int64(i)
		}
		u.Dispatch(ctx, events)
	}
	return u.Meter.MarkReported(ctx, r)
}

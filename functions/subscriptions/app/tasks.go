package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/outbox"
)

// InvoiceExpiryTracker finds outstanding invoices older than the reminder period and records
// InvoicePossiblyExpired for each, in stream "invoice-tracker" (seed 001's task). The event id
// is derived from the invoice id, so a re-run, or two overlapping runs, record it once.
type InvoiceExpiryTracker struct {
	now         func() time.Time
	outstanding Docs[OutstandingInvoices]
	store       eventstore.Store
	events      *eventstore.Registry
	reminder    time.Duration
	// outbox publishes what a run appends, and a stream's pending events when a run finds
	// them stored already (the run that stored them may have died before publishing them).
	outbox *outbox.Dispatcher
	log    *slog.Logger
}

// Run checks every outstanding invoice against the clock and reports the ones past the
// reminder period as possibly expired (again on every run until expired or paid; stored once).
func (t *InvoiceExpiryTracker) Run(ctx context.Context) error {
	now := t.now()
	docs, err := t.outstanding.List(ctx)
	if err != nil {
		return err
	}
	var due []contracts.InvoicePossiblyExpired
	for _, d := range docs {
		for _, inv := range d.Invoices {
			if !inv.IssuedAt.Add(t.reminder).After(now) {
				due = append(due, contracts.InvoicePossiblyExpired{CustomerID: d.CustomerID, InvoiceID: inv.InvoiceID, IssuedAt: inv.IssuedAt})
			}
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].InvoiceID < due[j].InvoiceID })
	var errs []error
	stored := false // some were stored by an earlier run, which may have died before publishing
	for _, p := range due {
		ctx := eventstore.WithCommandID(ctx, "possibly-expired:"+p.InvoiceID)
		events, err := t.events.NewEvents(ctx, contracts.Source, contracts.InvoiceTrackerStream, now, p)
		if err == nil {
			var app eventstore.Appended
			app, err = t.store.Append(ctx, contracts.InvoiceTrackerStream, eventstore.Any, events...)
			switch {
			case err == nil && app.Duplicate:
				stored = true
			case err == nil:
				events[0].Version = app.FirstVersion
				t.outbox.AfterAppend(ctx, events)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("invoice %s: %w", p.InvoiceID, err))
		}
	}
	if stored {
		t.outbox.AfterNoChange(ctx, contracts.InvoiceTrackerStream)
	}
	t.log.InfoContext(ctx, "invoice expiry tracker", "possiblyExpired", len(due), "failed", len(errs))
	return errors.Join(errs...)
}

// MonthlyInvoicing closes the previous calendar month (UTC) of every customer into an invoice.
// Re-running it for the same month issues nothing twice.
type MonthlyInvoicing struct {
	now       func() time.Time
	customers *Customers
	views     Docs[CustomerView]
	log       *slog.Logger
}

// Run invoices every customer for the month before the clock's month.
func (m *MonthlyInvoicing) Run(ctx context.Context) error {
	period := PreviousMonth(m.now())
	docs, err := m.views.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range docs {
		if d.CustomerID == "" {
			continue
		}
		ctx := eventstore.WithCommandID(ctx, "invoice:"+d.CustomerID+":"+period)
		if err := m.customers.IssueInvoice(ctx, d.CustomerID, period); err != nil {
			errs = append(errs, fmt.Errorf("customer %s: %w", d.CustomerID, err))
		}
	}
	m.log.InfoContext(ctx, "monthly invoicing", "period", period, "customers", len(docs), "failed", len(errs))
	return errors.Join(errs...)
}

// PreviousMonth is the billing period ("2026-10") before the month of now (UTC).
func PreviousMonth(now time.Time) string {
	y, m, _ := now.UTC().Date()
	return time.Date(y, m-1, 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
}

// Package app is the Subscriptions application, built from seed 001's four building blocks,
// each with one shape:
//
//   - Application services (Customers, Users) run commands on event-sourced aggregates through
//     aggregate.Service: load the stream, call a domain method, append its events. Customers,
//     whose streams grow by a usage report a minute, load from a snapshot and the events
//     after it (aggregate.Snapshotter).
//   - Receptors (UsageReceptor, InvoiceReceptor) turn events into commands for a service:
//     When(ctx, event) error.
//   - Projections (CustomerViews, OutstandingInvoices, UserViews) keep one view document per
//     stream. They read the stream itself from the event store and apply every event after the
//     last version the document saw, so a redelivered, duplicated or out-of-order message
//     changes nothing twice: a message only says "this stream moved".
//   - Tasks (InvoiceExpiryTracker, MonthlyInvoicing, OutboxSweep) run on a timer: Run(ctx) error,
//     reading the time from their Now field (the outbox sweep, from its dispatcher's).
//
// Right after an append, services publish the events through the outbox dispatcher and project
// the streams they changed (Subscriptions.afterAppend), so other contexts hear within a second
// and a client reads its own writes; the same events come back through the topic and the
// outbox sweep republishes whatever failed, all idempotently. A redelivered command that finds
// its work done (the handler died between append and publication) publishes what its stream
// still has pending at once (Subscriptions.flushPending), rather than at the next sweep.
package app

import "context"

// Docs is a collection of JSON documents by key (shared/views.Docs satisfies it). Each context
// declares the methods it uses, next to its views.
type Docs[T any] interface {
	Get(ctx context.Context, key string) (T, bool, error)
	// Update creates or changes the document under optimistic concurrency; fn may run more than
	// once and must only depend on the document it is given.
	Update(ctx context.Context, key string, fn func(doc *T) error) (T, error)
	// List returns every document of the collection (for the tasks).
	List(ctx context.Context) ([]T, error)
}

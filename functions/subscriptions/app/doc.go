// Package app is the Subscriptions application, built from seed 001's building blocks (package
// blocks), each in the one shape every context uses:
//
//   - Application services (Customers, Users in customers.go, users.go) run commands on
//     event-sourced aggregates through aggregate.Service: load the stream, call a domain
//     method, append its events. Customers, whose streams grow by a usage report a minute,
//     load from a snapshot and the events after it (aggregate.Snapshotter).
//   - Receptors (receptors.go: ApplyUsage, ExpireInvoices) turn events into commands, with a
//     command id derived from the event or its fact, so a redelivery stores nothing twice.
//   - Projections (projections.go: CustomerViews, Outstanding, UserViews) keep one view
//     document per stream. The outbox hands them every event right after it is published, and
//     the sweep what a crash left; past a gap they read the stream from the event store, so each
//     view is a left fold of its stream, applied once per version.
//   - Tasks (tasks.go: InvoiceExpiryTracker, MonthlyInvoicing; the outbox's RunSweep) run on a
//     timer, with the clock given once at construction.
//
// A redelivered command that finds its work done (the handler died between append and
// publication) publishes what its stream still has pending at once (the outbox's
// AfterNoChange), rather than at the next sweep.
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

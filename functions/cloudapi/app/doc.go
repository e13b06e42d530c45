// Package app is the Cloud API application, built from seed 001's building blocks (package
// blocks), each in the one shape every context uses:
//
//   - Projections (projections.go: ReplicateKeys, ReplicateUserLocks, ReplicateCustomerLocks)
//     keep this context's own replica of who may call the API, one document type each, from
//     the access changes the ACL translates out of Subscriptions' events. The keys projection
//     mirrors each key into the credentials by hash, which requests read.
//   - Application services (services.go): the Gate authorises a presented API key against
//     that replica (never calling Subscriptions), through a short-lived cache (cache.go);
//     Forecasting answers a forecast and records its consumption durably, once per request id,
//     before the answer leaves.
//   - Tasks (tasks.go): UsageReporter turns recorded consumption into UsageReported events;
//     OutboxSweep republishes what a crash left unpublished.
//
// The clock is given once, by the context's New (blocks.Clock), to everything that reads it.
// Storage is reached through shared/views collections and the small interfaces declared here
// (Docs, MeterLog), implemented by shared/views and by package meterlog.
package app

import "context"

// Docs is a collection of JSON documents by key (shared/views.Docs satisfies it).
type Docs[T any] interface {
	Get(ctx context.Context, key string) (T, bool, error)
	// Update creates or changes the document under optimistic concurrency; fn may run more than
	// once and must only depend on the document it is given.
	Update(ctx context.Context, key string, fn func(doc *T) error) (T, error)
}

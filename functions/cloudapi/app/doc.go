// Package app holds the Cloud API's application services, each in the one shape every context
// uses:
//
//   - AccessProjection (a projection): keeps this context's own replica of who may call the API
//     from the access changes the ACL translates out of Subscriptions' events;
//   - Gate: authorises a presented API key against that replica (never calling Subscriptions);
//   - Forecasting (the metered application service): answers a forecast and records its
//     consumption durably, once per request id, before the answer leaves;
//   - UsageReporter (a task): turns recorded consumption into UsageReported events.
//
// Storage is reached through the small interfaces declared here (Docs, MeterLog), implemented
// by shared/views and by package meterlog.
package app

import "context"

// Docs is a collection of JSON documents by key (shared/views.Docs satisfies it).
type Docs[T any] interface {
	Get(ctx context.Context, key string) (T, bool, error)
	// Update creates or changes the document under optimistic concurrency; fn may run more than
	// once and must only depend on the document it is given.
	Update(ctx context.Context, key string, fn func(doc *T) error) (T, error)
}

// Package app holds the Product portal's application services, in the shapes every context uses:
//
//   - Projection: keeps the portal's own views (users, accounts, usage) from the facts the ACL
//     translates out of Subscriptions' and the Cloud API's events;
//   - Sessions: signs users in against those views (never calling Subscriptions), keeps
//     sessions and throttles failed sign-ins;
//   - Portal: the signed-in user's account, invoices and usage, read from the views only;
//   - SessionSweeper (a task): deletes expired sessions and ended sign-in throttles, which
//     nothing else removes: Run(ctx) error, reading the time from its Now field.
//
// Storage is reached through the small Docs interface declared here (shared/views satisfies it).
package app

import (
	"context"

	"meterline/shared/views"
)

// Docs is a collection of JSON documents by key (shared/views.Docs satisfies it). Each context
// declares the methods it uses, next to its views.
type Docs[T any] interface {
	Get(ctx context.Context, key string) (T, bool, error)
	// Update creates or changes the document under optimistic concurrency; fn may run more than
	// once and must only depend on the document it is given.
	Update(ctx context.Context, key string, fn func(doc *T) error) (T, error)
	Delete(ctx context.Context, key string) error
	// Entries returns every document with its key (for the sweeper).
	Entries(ctx context.Context) ([]views.Entry[T], error)
}

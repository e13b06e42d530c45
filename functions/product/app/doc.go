// Package app is the Product portal's application, in the building blocks every context uses
// (package blocks):
//
//   - Projections (projections.go: ReplicateUsers, ReplicateAccounts, ReplicateUsage) keep the
//     portal's own views, one document type each, from the facts the ACL translates out of
//     Subscriptions' and the Cloud API's events;
//   - Services (services.go): Sessions signs users in against those views (never calling
//     Subscriptions), keeps sessions and throttles failed sign-ins; Portal reads the
//     signed-in user's account, invoices and usage from the views only;
//   - Task (tasks.go: SessionSweeper) deletes expired sessions and ended sign-in throttles,
//     which nothing else removes.
//
// Everything that reads the time takes the context's one clock (a Now field), given at
// construction by package product.
package app

// Package domain is the Product portal's own model: the facts it learns from other contexts
// (translated by package acl, never their types) and the view documents those facts build.
//
// Product only ever sees events as Service Bus delivers them: at least once, in any order.
// The projections (package app, on package blocks) apply each stream version to a document
// once, recording it in the document's views.Tracked, so duplicates never reach the rules
// here. What is left to the domain is order: every document merges its facts so that it
// converges whatever order they come in:
//
//   - state-carrying facts (a password hash, a lock, a balance) keep the stream version they
//     came from, per field, and an older one never overwrites a newer one;
//   - set-like facts (invoices by id) merge commutatively: an invoice's status only moves
//     forward (outstanding < overdue < paid), so a late "issued" never reopens a paid invoice;
//   - additive facts (usage reports, billed consumption) are sums.
package domain

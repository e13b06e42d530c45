// Package domain is the Product portal's own model: the facts it learns from other contexts
// (translated by package acl, never their types) and the view documents those facts build.
//
// Product only ever sees events as Service Bus delivers them: at least once, in any order.
// Every document is therefore a merge of facts that converges whatever the order:
//
//   - state-carrying facts (a password hash, a lock, a balance) keep the stream version they
//     came from, per field, and an older one never overwrites a newer one;
//   - set-like facts (invoices by id) merge commutatively: an invoice's status only moves
//     forward (outstanding < overdue < paid), so a late "issued" never reopens a paid invoice;
//   - additive facts (usage reports, billed consumption) are counted once per source version:
//     a document remembers the versions it applied as a compact list of ranges (Versions).
package domain

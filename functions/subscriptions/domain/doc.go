// Package domain is the model of the Subscriptions bounded context: customers on plans with a
// balance, consumption, one-off charges, payments and monthly invoices; and users with a password
// and API keys.
//
// Aggregates (Customer, User) are event-sourced: Apply rebuilds state from past events (the
// published events of package contracts), and commands are methods returning the new events, not
// yet applied, or a domain error (a *fault.Error). Commands are idempotent where the outside world may
// repeat them: a usage report (among the last RecentReports), a charge or a payment with an id
// already applied makes no event. Customer is snapshot-able (snapshot.go) for its long streams.
// Nothing here does I/O, reads the clock or imports infrastructure: times and randomness come in
// as arguments.
package domain

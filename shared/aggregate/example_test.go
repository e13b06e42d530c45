package aggregate_test

import (
	"context"
	"fmt"

	"meterline/shared/aggregate"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/outbox"
)

// printer stands in for the Service Bus publisher (servicebus.NewPublisher in production).
type printer struct{}

func (printer) Publish(_ context.Context, events ...eventstore.Event) error {
	for _, e := range events {
		fmt.Printf("published %s v%d %s\n", e.Stream, e.Version, e.Type)
	}
	return nil
}

// The wiring of one bounded context: a registry of its events, a store (tablestore.New in
// production), the outbox dispatcher, and an application service per aggregate.
func Example() {
	events := eventstore.NewRegistry()
	eventstore.Register[opened](events, "bank.AccountOpened", 1)
	eventstore.Register[credited](events, "bank.AccountCredited", 1)
	eventstore.Register[debited](events, "bank.AccountDebited", 1)

	store := memstore.New()
	dispatcher := &outbox.Dispatcher{Outbox: store, Publisher: printer{}}
	accounts := &aggregate.Service[*account]{
		Store: store, Events: events, Source: "bank",
		New:          func(string) *account { return &account{} },
		Dispatch:     dispatcher.AfterAppend,
		FlushPending: dispatcher.AfterNoChange,
	}

	// The id of the incoming request makes a retry of it harmless.
	ctx := eventstore.WithCommandID(context.Background(), "request-1")
	_, _ = accounts.Execute(ctx, "account-7", func(a *account) ([]any, error) { return a.Open("ada") })
	ctx = eventstore.WithCommandID(context.Background(), "request-2")
	_, _ = accounts.Execute(ctx, "account-7", func(a *account) ([]any, error) { return a.Credit(10) })
	_, err := accounts.Execute(ctx, "account-7", func(a *account) ([]any, error) { return a.Debit(50) })
	fmt.Println("debit 50:", err)

	a, version, _ := accounts.Load(context.Background(), "account-7")
	fmt.Printf("balance %d at version %d\n", a.balance, version)
	// Output:
	// published account-7 v1 bank.AccountOpened
	// published account-7 v2 bank.AccountCredited
	// debit 50: account overdrawn
	// balance 10 at version 2
}

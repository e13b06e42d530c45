package apps

import (
	"context"

	"meterline/functions/cloudapi"
	"meterline/functions/journal"
	journalapp "meterline/functions/journal/app"
	"meterline/functions/product"
	"meterline/functions/subscriptions"
	subscontracts "meterline/functions/subscriptions/contracts"
	"meterline/shared/azurite"
	"meterline/shared/connect"
	"meterline/shared/eventstore"
	evtables "meterline/shared/eventstore/tablestore"
	"meterline/shared/funcapp"
)

// contexts are the bounded contexts, in the order their functions are listed. Define uses
// in-memory dependencies (it only registers); Build connects from the app settings.
var contexts = []Context{
	{
		Name:   "subscriptions",
		Topic:  subscontracts.Topic,
		Define: func() *funcapp.App { return subscriptions.New(subscriptions.InMemoryDeps()) },
		Build: func(ctx context.Context, setting func(string) string) (*funcapp.App, error) {
			deps, err := subscriptions.Connect(ctx, setting)
			if err != nil {
				return nil, err
			}
			return subscriptions.New(deps), nil
		},
		Events: func(ctx context.Context, setting func(string) string) (eventstore.Scanner, error) {
			return openEvents(ctx, setting, subscriptions.StorageSetting, subscriptions.EventsTable, subscriptions.PayloadContainer)
		},
	},
	{
		Name:   cloudapi.Name,
		Topic:  cloudapi.Name,
		Define: func() *funcapp.App { return cloudapi.New(cloudapi.InMemoryDeps()) },
		Build: func(ctx context.Context, setting func(string) string) (*funcapp.App, error) {
			deps, err := cloudapi.Connect(ctx, setting)
			if err != nil {
				return nil, err
			}
			return cloudapi.New(deps), nil
		},
		Events: func(ctx context.Context, setting func(string) string) (eventstore.Scanner, error) {
			return openEvents(ctx, setting, cloudapi.StorageSetting, cloudapi.EventsTable, cloudapi.EventsContainer)
		},
	},
	{
		Name:   product.Name,
		Define: func() *funcapp.App { return product.New(product.InMemoryDeps()) },
		Build: func(ctx context.Context, setting func(string) string) (*funcapp.App, error) {
			deps, err := product.Connect(ctx, setting)
			if err != nil {
				return nil, err
			}
			return product.New(deps), nil
		},
	},
	{
		Name:   journal.Name,
		Define: func() *funcapp.App { return journal.New(journal.InMemoryDeps()) },
		Build: func(ctx context.Context, setting func(string) string) (*funcapp.App, error) {
			deps, err := journal.Connect(ctx, setting)
			if err != nil {
				return nil, err
			}
			return journal.New(deps), nil
		},
	},
}

// openEvents opens a context's event store, as its Connect does, without the rest of its deps.
func openEvents(ctx context.Context, setting func(string) string, storage, table, container string) (eventstore.Scanner, error) {
	tables, blobs, err := connect.Storage(setting, storage)
	if err != nil {
		return nil, err
	}
	return evtables.New(ctx, tables, blobs, &evtables.Options{Table: table, Container: container})
}

// Journal opens the Journal's reader (every event of every context, by type and time) from
// the app settings.
func Journal(ctx context.Context, setting func(string) string) (*journalapp.Reader, error) {
	deps, err := journal.Connect(ctx, func(name string) string { return azurite.ExpandConnectionString(setting(name)) })
	if err != nil {
		return nil, err
	}
	return &journalapp.Reader{Records: deps.Records, Archive: deps.Archive}, nil
}

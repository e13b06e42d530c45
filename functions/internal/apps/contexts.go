package apps

import (
	"context"

	"meterline/functions/cloudapi"
	"meterline/functions/journal"
	"meterline/functions/product"
	"meterline/functions/subscriptions"
	subscontracts "meterline/functions/subscriptions/contracts"
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

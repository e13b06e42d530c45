package subscriptions

import (
	"context"
	"errors"
	"fmt"

	"meterline/functions/subscriptions/contracts"
	"meterline/shared/connect"
	evtables "meterline/shared/eventstore/tablestore"
	viewtables "meterline/shared/views/tablestore"
)

// Storage names of this context: its own tables and blob container in the storage account.
const (
	EventsTable      = "subscriptionsEvents"
	ViewsTable       = "subscriptionsViews"
	PayloadContainer = "subscriptions-payloads"
	StorageSetting   = "AzureWebJobsStorage"
)

// Connect builds Deps from the app settings: AzureWebJobsStorage (the event store and the views,
// created if missing) and ServiceBusConnection (publication to topic "subscriptions"). Both
// are required. Error messages never repeat a connection string.
func Connect(ctx context.Context, setting func(name string) string) (Deps, error) {
	// Both settings are checked before anything connects, and both named when both are wrong.
	tables, blobs, errStorage := connect.Storage(setting, StorageSetting)
	publisher, errBus := connect.Publisher(setting, ServiceBusConnection, contracts.Topic)
	if err := errors.Join(errStorage, errBus); err != nil {
		return Deps{}, fmt.Errorf("subscriptions: %w", err)
	}
	store, err := evtables.New(ctx, tables, blobs, &evtables.Options{Table: EventsTable, Container: PayloadContainer})
	if err != nil {
		return Deps{}, fmt.Errorf("subscriptions: event store on %s: %w", StorageSetting, err)
	}
	viewStore, err := viewtables.New(ctx, tables, ViewsTable)
	if err != nil {
		return Deps{}, fmt.Errorf("subscriptions: views: %w", err)
	}
	return Deps{
		Store:     store,
		Publisher: publisher,
		Views:     viewStore,
		Setting:   setting,
	}, nil
}

package subscriptions

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore/outbox"
	evtables "meterline/shared/eventstore/tablestore"
	"meterline/shared/servicebus"
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
	storage, bus := setting(StorageSetting), setting(ServiceBusConnection)
	if storage == "" || bus == "" {
		return Deps{}, fmt.Errorf("subscriptions: app settings %s and %s are required", StorageSetting, ServiceBusConnection)
	}
	store, err := evtables.NewFromConnectionString(ctx, storage, &evtables.Options{Table: EventsTable, Container: PayloadContainer})
	if err != nil {
		return Deps{}, fmt.Errorf("subscriptions: event store on %s: %w", StorageSetting, err)
	}
	tables, err := aztables.NewServiceClientFromConnectionString(storage, nil)
	if err != nil {
		return Deps{}, errors.New("subscriptions: app setting " + StorageSetting + " is not a storage connection string")
	}
	viewStore, err := viewtables.New(ctx, tables, ViewsTable)
	if err != nil {
		return Deps{}, fmt.Errorf("subscriptions: views: %w", err)
	}
	client, err := azservicebus.NewClientFromConnectionString(bus, nil)
	if err != nil {
		return Deps{}, errors.New("subscriptions: app setting " + ServiceBusConnection + " is not a Service Bus connection string")
	}
	publisher, err := servicebus.NewPublisher(client, contracts.Topic)
	if err != nil {
		return Deps{}, fmt.Errorf("subscriptions: %w", err)
	}
	return Deps{
		Store:   store,
		Outbox:  &outbox.Dispatcher{Outbox: store, Publisher: publisher},
		Views:   viewStore,
		Setting: setting,
	}, nil
}

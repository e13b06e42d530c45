package cloudapi

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	"meterline/functions/cloudapi/meterlog"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/eventstore/tablestore"
	"meterline/shared/views"
	viewtables "meterline/shared/views/tablestore"
)

// Storage names of the Cloud API: its own tables and container, shared with no other context.
const (
	ViewsTable      = "cloudapiviews"
	MeterTable      = "cloudapimeter"
	EventsTable     = "cloudapievents"
	EventsContainer = "cloudapi-events"
)

// AccessStoreOn lays the access replica out as four collections of a views backend.
func AccessStoreOn(b views.Backend) app.AccessStore {
	return app.AccessStore{
		Keys:        views.Collection[domain.Key](b, "access-keys"),
		Credentials: views.Collection[domain.Credential](b, "access-credentials"),
		Users:       views.Collection[domain.Lock](b, "access-users"),
		Customers:   views.Collection[domain.Lock](b, "access-customers"),
	}
}

// Open builds the Cloud API's dependencies on a storage account (tables and the container are
// created if missing); pub sends events to the "cloudapi" topic.
func Open(ctx context.Context, tables *aztables.ServiceClient, blobs *azblob.Client, pub eventstore.Publisher) (Deps, error) {
	viewStore, err := viewtables.New(ctx, tables, ViewsTable)
	if err != nil {
		return Deps{}, fmt.Errorf("cloudapi: %w", err)
	}
	meter, err := meterlog.NewTable(ctx, tables, MeterTable)
	if err != nil {
		return Deps{}, fmt.Errorf("cloudapi: %w", err)
	}
	events, err := tablestore.New(ctx, tables, blobs, &tablestore.Options{Table: EventsTable, Container: EventsContainer})
	if err != nil {
		return Deps{}, fmt.Errorf("cloudapi: %w", err)
	}
	return Deps{
		Access: AccessStoreOn(viewStore),
		Meter:  meter,
		Events: events,
		Outbox: &outbox.Dispatcher{Outbox: events, Publisher: pub},
	}, nil
}

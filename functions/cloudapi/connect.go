package cloudapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	"meterline/functions/cloudapi/meterlog"
	"meterline/shared/connect"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/eventstore/tablestore"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
	viewtables "meterline/shared/views/tablestore"
)

// App settings the Cloud API reads.
const (
	StorageSetting        = "AzureWebJobsStorage"    // its tables and container
	ServiceBusSetting     = "ServiceBusConnection"   // publication to topic "cloudapi"
	AccessCacheTTLSetting = "CloudApiAccessCacheTTL" // optional, e.g. "500ms"; "0s" or negative turns it off
)

// App settings the Functions host resolves for the timers ("%Setting%" in their schedules):
// NCRONTAB, "0 * * * * *" (every minute) unless there is a reason to run more or less often.
const (
	SettingUsageReportSchedule = "UsageReportSchedule"
	SettingOutboxSweepSchedule = "OutboxSweepSchedule"
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

// InMemoryDeps connect to nothing: for defining the functions at build time and for tests.
func InMemoryDeps() Deps {
	return Deps{Access: AccessStoreOn(viewmem.New()), Meter: meterlog.NewMemory(), Events: memstore.New()}
}

// Connect builds Deps from the app settings AzureWebJobsStorage and ServiceBusConnection (both
// required) and CloudApiAccessCacheTTL (optional). Error messages never repeat a connection
// string.
func Connect(ctx context.Context, setting func(name string) string) (Deps, error) {
	tables, blobs, errStorage := connect.Storage(setting, StorageSetting)
	publisher, errBus := connect.Publisher(setting, ServiceBusSetting, Name)
	if err := errors.Join(errStorage, errBus); err != nil {
		return Deps{}, fmt.Errorf("cloudapi: %w", err)
	}
	deps, err := Open(ctx, tables, blobs, publisher)
	if err != nil {
		return Deps{}, err
	}
	if s := setting(AccessCacheTTLSetting); s != "" {
		ttl, err := time.ParseDuration(s)
		if err != nil {
			return Deps{}, fmt.Errorf("cloudapi: app setting %s: want a duration like \"500ms\", got %q", AccessCacheTTLSetting, s)
		}
		if ttl <= 0 {
			ttl = -1 // off
		}
		deps.AccessCacheTTL = ttl
	}
	return deps, nil
}

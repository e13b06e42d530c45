package journal

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/functions/journal/store/memstore"
	"meterline/functions/journal/store/tablestore"
	"meterline/shared/connect"
	viewmem "meterline/shared/views/memstore"
	viewtables "meterline/shared/views/tablestore"
)

// Storage names of the Journal, shared with no other context.
const (
	StorageSetting   = "AzureWebJobsStorage"
	TablePrefix      = "journal" // journalEvents, journalByType, journalByStream, journalInFlight, journalCatalog
	ViewsTable       = "journalViews"
	PayloadContainer = "journal-payloads"
	ArchiveContainer = "journal-archive"
)

// Open builds the Journal's dependencies on a storage account (tables and containers are
// created if missing).
func Open(ctx context.Context, tables *aztables.ServiceClient, blobs *azblob.Client) (Deps, error) {
	j, _, err := tablestore.New(ctx, tables, blobs, &tablestore.Options{Prefix: TablePrefix, Payloads: PayloadContainer, Archive: ArchiveContainer})
	if err != nil {
		return Deps{}, fmt.Errorf("journal: %w", err)
	}
	v, err := viewtables.New(ctx, tables, ViewsTable)
	if err != nil {
		return Deps{}, fmt.Errorf("journal: views: %w", err)
	}
	return Deps{Records: j, Archive: j, Views: v}, nil
}

// Connect builds Deps from the app settings: AzureWebJobsStorage (required). The Journal sends
// nothing to Service Bus: ServiceBusConnection is only the host's, for the receptors' triggers.
// Error messages never repeat a connection string.
func Connect(ctx context.Context, setting func(name string) string) (Deps, error) {
	tables, blobs, err := connect.Storage(setting, StorageSetting)
	if err != nil {
		return Deps{}, fmt.Errorf("journal: %w", err)
	}
	deps, err := Open(ctx, tables, blobs)
	if err != nil {
		return Deps{}, err
	}
	deps.Setting = setting
	return deps, nil
}

// InMemoryDeps connect to nothing: for defining the functions at build time and for tests.
func InMemoryDeps() Deps {
	j := memstore.New(nil)
	return Deps{Records: j, Archive: j, Views: viewmem.New(), Setting: func(string) string { return "" }}
}

package azurite_test

import (
	"context"
	"testing"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// Both SDKs accept the connection string and reach their service.
func TestStartServesTablesAndBlobs(t *testing.T) {
	inst := azuritetest.Start(t)
	ctx := context.Background()

	tables, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tables.CreateTable(ctx, "Probe", nil); err != nil {
		t.Fatalf("create table: %v", err)
	}
	blobs, err := azblob.NewClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.CreateContainer(ctx, "probe", nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
}

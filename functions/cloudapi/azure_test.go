package cloudapi_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/functions/cloudapi"
	"meterline/shared/azurite"
)

// azureDeps are the Cloud API's real, table-backed stores on a private Azurite, as Open builds
// them for production.
func azureDeps(t testing.TB, inst *azurite.Instance, pub *publisher) cloudapi.Deps {
	tables, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := azblob.NewClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := cloudapi.Open(context.Background(), tables, blobs, pub)
	if err != nil {
		t.Fatal(err)
	}
	return deps
}

package cloudapi_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/functions/cloudapi"
	"meterline/functions/cloudapi/meterlog"
	"meterline/shared/azurite"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/eventstore/tablestore"
)

// azureDeps are the Cloud API's real, table-backed stores on a private Azurite.
func azureDeps(t testing.TB, inst *azurite.Instance, pub *publisher) cloudapi.Deps {
	ctx := context.Background()
	tables, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := azblob.NewClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	meter, err := meterlog.NewTable(ctx, tables, "cloudapiMeter")
	if err != nil {
		t.Fatal(err)
	}
	events, err := tablestore.New(ctx, tables, blobs, &tablestore.Options{Table: "cloudapiEvents", Container: "cloudapi-payloads"})
	if err != nil {
		t.Fatal(err)
	}
	return cloudapi.Deps{Access: accessStore(t, tables), Meter: meter, Events: events,
		Outbox: &outbox.Dispatcher{Outbox: events, Publisher: pub}}
}

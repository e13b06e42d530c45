package cloudapi_test

import (
	"context"
	"strings"
	"testing"

	"meterline/shared/azurite/azuritetest"

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

func TestConnectFromAppSettings(t *testing.T) {
	ctx := context.Background()
	inst := azuritetest.Start(t)
	settings := map[string]string{
		"AzureWebJobsStorage":  inst.ConnectionString(),
		"ServiceBusConnection": "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=not-a-secret;UseDevelopmentEmulator=true;",
	}
	setting := func(name string) string { return settings[name] }
	deps, err := cloudapi.Connect(ctx, setting)
	if err != nil {
		t.Fatal(err)
	}
	if deps.Outbox == nil || deps.AccessCacheTTL != 0 {
		t.Fatalf("deps %+v", deps)
	}
	_ = cloudapi.New(deps) // complete enough to register

	settings["CloudApiAccessCacheTTL"] = "0s"
	if deps, err := cloudapi.Connect(ctx, setting); err != nil || deps.AccessCacheTTL >= 0 {
		t.Fatalf("ttl 0s: %v %v, want the cache off", deps.AccessCacheTTL, err)
	}
	settings["CloudApiAccessCacheTTL"] = "soon"
	if _, err := cloudapi.Connect(ctx, setting); err == nil {
		t.Fatal("a bad TTL was accepted")
	}
	delete(settings, "CloudApiAccessCacheTTL")
	settings["AzureWebJobsStorage"] = "AccountKey=secret-value"
	_, err = cloudapi.Connect(ctx, setting)
	if err == nil || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("bad storage setting: %v", err)
	}
	delete(settings, "ServiceBusConnection")
	if _, err := cloudapi.Connect(ctx, setting); err == nil {
		t.Fatal("missing Service Bus setting accepted")
	}
}

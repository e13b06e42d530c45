package product_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/product"
	"meterline/functions/product/app"
	viewtables "meterline/shared/views/tablestore"
)

func TestConnectNamesBadSettings(t *testing.T) {
	ctx := context.Background()
	cases := map[string]map[string]string{
		"no storage": {},
		"not a conn": {product.StorageSetting: "nonsense"},
		"bad ttl":    {product.StorageSetting: "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1/a", product.SessionTTLSetting: "soon"},
	}
	for name, settings := range cases {
		_, err := product.Connect(ctx, func(n string) string { return settings[n] })
		if err == nil || (name == "bad ttl") != strings.Contains(err.Error(), product.SessionTTLSetting) {
			t.Fatalf("%s: %v", name, err)
		}
		if v := settings[product.StorageSetting]; v != "" && strings.Contains(err.Error(), v) {
			t.Fatalf("%s: the error repeats the connection string", name)
		}
	}
}

// The same flows as the in-memory tests, on the real table-backed views in a private Azurite
// through the unmodified Azure SDK: sign-in, refusals, throttling, and replicated views under
// redelivery and reordering.
func TestPortalOnAzurite(t *testing.T) {
	inst := azuritetest.Start(t)
	tables, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	settings := map[string]string{product.StorageSetting: inst.ConnectionString(), product.SessionTTLSetting: "2h"}
	deps, err := product.Connect(ctx, func(name string) string { return settings[name] })
	if err != nil {
		t.Fatal(err)
	}
	if deps.SessionTTL != 2*time.Hour || deps.SecureCookie {
		t.Fatalf("settings not applied: ttl %v secure %v", deps.SessionTTL, deps.SecureCookie)
	}
	// Each subtest seeds the same ids, so each gets a table of its own; the first uses the
	// app's own table as Open made it.
	table := func(name string) app.Views {
		store, err := viewtables.New(ctx, tables, name)
		if err != nil {
			t.Fatal(err)
		}
		return product.ViewsOn(store)
	}
	t.Run("SignIn", func(t *testing.T) { checkSignInOpensASession(t, deps.Views) })
	t.Run("Refusals", func(t *testing.T) { checkSignInRefusals(t, table("productrefusals")) })
	t.Run("Throttle", func(t *testing.T) { checkThrottle(t, table("productthrottle")) })
	t.Run("ReplicatedAccount", func(t *testing.T) { checkReplicatedAccount(t, table("productreplica")) })
	t.Run("ConcurrentDeliveries", func(t *testing.T) { checkConcurrentDeliveries(t, table("productconcurrent")) })
	t.Run("Sweep", func(t *testing.T) { checkSweep(t, table("productsweep")) })
}

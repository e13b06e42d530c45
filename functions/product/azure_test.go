package product_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/product"
	"meterline/functions/product/app"
	"meterline/shared/azurite"
	viewtables "meterline/shared/views/tablestore"
)

// The same flows as the in-memory tests, on the real table-backed views in a private Azurite
// through the unmodified Azure SDK: sign-in, refusals, throttling, and replicated views under
// redelivery and reordering.
func TestPortalOnAzurite(t *testing.T) {
	inst := azurite.ForTest(t)
	tables, err := aztables.NewServiceClientFromConnectionString(inst.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deps, err := product.Open(ctx, tables)
	if err != nil {
		t.Fatal(err)
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
}

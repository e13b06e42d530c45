package azurite_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/shared/azurite"
)

func TestExpandConnectionString(t *testing.T) {
	for _, s := range []string{"UseDevelopmentStorage=true", "usedevelopmentstorage=TRUE;", " UseDevelopmentStorage=true ;DevelopmentStorageProxyUri=http://127.0.0.1"} {
		got := azurite.ExpandConnectionString(s)
		if got != azurite.DevelopmentConnectionString {
			t.Errorf("%q expanded to %q", s, got)
		}
		if _, err := aztables.NewServiceClientFromConnectionString(got, nil); err != nil {
			t.Fatalf("aztables refuses the expansion: %v", err)
		}
	}
	full := "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=b;EndpointSuffix=core.windows.net"
	if got := azurite.ExpandConnectionString(full); got != full {
		t.Errorf("a full connection string changed: %q", got)
	}
}

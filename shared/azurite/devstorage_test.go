package azurite_test

import (
	"strings"
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

// TestDevelopmentConnectionStringNamesTheDefaultEndpoints: what the shorthand
// expands to is Azurite's well-known account on its default loopback ports.
func TestDevelopmentConnectionStringNamesTheDefaultEndpoints(t *testing.T) {
	got := azurite.ExpandConnectionString("UseDevelopmentStorage=true")
	for _, want := range []string{"AccountName=devstoreaccount1", "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1",
		"QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1", "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1",
		"AccountKey=" + azurite.DevelopmentKey} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	full := "DefaultEndpointsProtocol=http;AccountName=x;AccountKey=eQ==;BlobEndpoint=http://127.0.0.1:1/x;"
	if azurite.ExpandConnectionString(full) != full {
		t.Error("a full connection string must be used as is")
	}
}

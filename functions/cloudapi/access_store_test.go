package cloudapi_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/cloudapi/app"
)

// accessStore: TEMPORARY in-memory replica until shared/views (table-backed) lands.
func accessStore(t testing.TB, _ *aztables.ServiceClient) app.AccessStore { return memoryAccess() }

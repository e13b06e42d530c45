package tablestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/shared/views"
	"meterline/shared/views/tablestore"
	"meterline/shared/views/viewstest"
)

// TestConformance runs the suite against a private Azurite, one table per subtest.
func TestConformance(t *testing.T) {
	service := serviceClient(t)
	var n atomic.Int64
	viewstest.Run(t, func(t *testing.T) views.Backend {
		s, err := tablestore.New(context.Background(), service, fmt.Sprintf("views%d", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func serviceClient(t testing.TB) *aztables.ServiceClient {
	t.Helper()
	az := azuritetest.Start(t)
	service, err := aztables.NewServiceClientFromConnectionString(az.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return service
}

func TestNewRefusesBadTableNames(t *testing.T) {
	for _, name := range []string{"", "ab", "1views", "views-x", "tbl_1"} {
		if _, err := tablestore.New(context.Background(), &aztables.ServiceClient{}, name); err == nil {
			t.Errorf("table name %q accepted", name)
		}
	}
}

func TestNewIsIdempotent(t *testing.T) {
	service := serviceClient(t)
	for i := 0; i < 2; i++ {
		if _, err := tablestore.New(context.Background(), service, "sameviews"); err != nil {
			t.Fatalf("New #%d: %v", i+1, err)
		}
	}
}

// TestSmallDocumentsStayReadable: an operator browsing the table sees a small document's JSON
// as text in the Data property.
func TestSmallDocumentsStayReadable(t *testing.T) {
	ctx := context.Background()
	service := serviceClient(t)
	s, err := tablestore.New(ctx, service, "readable")
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"customer":"Zoë/42","lines":["a#1"]}`
	if _, err := s.Put(ctx, "outstanding-invoices", "customer/42", []byte(doc), ""); err != nil {
		t.Fatal(err)
	}
	resp, err := service.NewClient("readable").GetEntity(ctx, "outstanding-invoices", "customer~2F42", nil)
	if err != nil {
		t.Fatalf("raw read with the escaped key: %v", err)
	}
	var entity map[string]any
	if err := json.Unmarshal(resp.Value, &entity); err != nil {
		t.Fatal(err)
	}
	if entity["Data"] != doc {
		t.Errorf("Data property = %v, want the JSON text", entity["Data"])
	}
}

package tablestore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"meterline/functions/journal/store"
	"meterline/functions/journal/store/storetest"
	"meterline/functions/journal/store/tablestore"
	"meterline/shared/azurite/azuritetest"
)

// connectionString is the private Azurite the tests of this package share, each in its own
// tables and containers.
var connectionString string

func TestMain(m *testing.M) { azuritetest.Main(m, &connectionString) }

var fresh atomic.Int32

// open returns a Journal on tables and containers of its own.
func open(t testing.TB, opt *store.Options) (*store.Journal, *tablestore.Backend) {
	n := fresh.Add(1)
	j, b, err := tablestore.NewFromConnectionString(context.Background(), connectionString, &tablestore.Options{
		Prefix: fmt.Sprintf("j%d", n), Payloads: fmt.Sprintf("payloads-%d", n), Archive: fmt.Sprintf("archive-%d", n), Journal: opt,
	})
	if err != nil {
		t.Fatal(err)
	}
	return j, b
}

// The conformance suite against Azurite.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opt *store.Options) (*store.Journal, store.Backend) {
		return open(t, opt)
	})
}

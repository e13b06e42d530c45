package tablestore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"meterline/shared/azurite/azuritetest"
	"meterline/shared/eventstore/eventstoretest"
	"meterline/shared/eventstore/tablestore"
)

// connectionString is the private Azurite the tests of this package share, each in its own
// table (and container when it counts blobs).
var connectionString string

func TestMain(m *testing.M) { azuritetest.Main(m, &connectionString) }

// The conformance suite against Azurite: a fresh table per test.
func TestConformance(t *testing.T) {
	var n atomic.Int32
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store {
		s, err := tablestore.NewFromConnectionString(context.Background(), connectionString,
			&tablestore.Options{Table: fmt.Sprintf("events%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

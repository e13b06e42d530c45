package tablestore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"meterline/shared/azurite"
	"meterline/shared/eventstore/eventstoretest"
	"meterline/shared/eventstore/tablestore"
)

// connectionString is the private Azurite the tests of this package share, each in its own
// table (and container when it counts blobs).
var connectionString string

func TestMain(m *testing.M) {
	inst, err := azurite.Start(context.Background(), azurite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "azurite:", err)
		os.Exit(1)
	}
	connectionString = inst.ConnectionString()
	code := m.Run()
	inst.Stop()
	os.Exit(code)
}

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

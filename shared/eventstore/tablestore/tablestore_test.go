package tablestore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"meterline/shared/azurite"
	"meterline/shared/eventstore/eventstoretest"
	"meterline/shared/eventstore/tablestore"
)

// The conformance suite against a private Azurite: a fresh table per test.
func TestConformance(t *testing.T) {
	inst := azurite.ForTest(t)
	var n atomic.Int32
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store {
		s, err := tablestore.NewFromConnectionString(context.Background(), inst.ConnectionString(),
			&tablestore.Options{Table: fmt.Sprintf("events%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

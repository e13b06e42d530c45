package memstore_test

import (
	"testing"

	"meterline/shared/eventstore/eventstoretest"
	"meterline/shared/eventstore/memstore"
)

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstoretest.Store { return memstore.New() })
}

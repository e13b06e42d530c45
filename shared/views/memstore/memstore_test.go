package memstore_test

import (
	"testing"

	"meterline/shared/views"
	"meterline/shared/views/memstore"
	"meterline/shared/views/viewstest"
)

func TestConformance(t *testing.T) {
	viewstest.Run(t, func(t *testing.T) views.Backend { return memstore.New() })
}

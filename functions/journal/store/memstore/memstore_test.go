package memstore_test

import (
	"testing"

	"meterline/functions/journal/store"
	"meterline/functions/journal/store/memstore"
	"meterline/functions/journal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opt *store.Options) (*store.Journal, store.Backend) {
		b := memstore.NewBackend()
		return store.New(b, opt), b
	})
}

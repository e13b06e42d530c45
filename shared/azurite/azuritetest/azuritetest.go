// Package azuritetest starts Azurite for a test (kept apart from package azurite so that the
// production binaries do not link package testing).
package azuritetest

import (
	"context"
	"testing"

	"meterline/shared/azurite"
)

// Start starts an in-memory instance for t and stops it when t ends. It fails the test (never
// skips) when Azurite cannot start: integration tests must really run.
func Start(t testing.TB) *azurite.Instance {
	t.Helper()
	inst, err := azurite.Start(context.Background(), azurite.Options{})
	if err != nil {
		t.Fatalf("azurite: %v", err)
	}
	t.Cleanup(inst.Stop)
	return inst
}

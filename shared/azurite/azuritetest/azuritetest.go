// Package azuritetest starts Azurite for a test (kept apart from package azurite so that the
// production binaries do not link package testing).
package azuritetest

import (
	"context"
	"fmt"
	"os"
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

// Main is a package's TestMain for tests that share one Azurite (each on tables and containers
// of its own): it starts the instance, sets *connectionString, runs the tests and exits.
func Main(m *testing.M, connectionString *string) {
	inst, err := azurite.Start(context.Background(), azurite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "azurite:", err)
		os.Exit(1)
	}
	*connectionString = inst.ConnectionString()
	code := m.Run()
	inst.Stop()
	os.Exit(code)
}

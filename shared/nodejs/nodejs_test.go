package nodejs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSatisfies(t *testing.T) {
	for _, c := range []struct {
		version, need string
		ok            bool
	}{
		{"v22.23.3", ">=22.0.0", true},
		{"v22.0.0", ">=22.0.0", true},
		{"v20.20.2", ">=22.0.0", false},
		{"v20.20.2", ">=18", true},
		{"v21.9.0", ">=21.10", false},
		{"v18.0.1", ">= 18.0.0", true},
	} {
		got, err := Satisfies(c.version, c.need)
		if err != nil || got != c.ok {
			t.Errorf("Satisfies(%q, %q) = %v, %v; want %v", c.version, c.need, got, err, c.ok)
		}
	}
	for _, need := range []string{"^18", ">=18 <22", "18.x", ">=", ">=x.1"} {
		if _, err := Satisfies("v22.0.0", need); err == nil {
			t.Errorf("Satisfies(_, %q): no error for a range it does not understand", need)
		}
	}
}

// The pinned folders: their Node satisfies every dependency's engines (what `make deps` installs).
func TestPinnedFoldersRunOnTheirNode(t *testing.T) {
	for _, dir := range []string{"infra/azurite", "infra/servicebus-emulator/jsinterop"} {
		rt, err := For(filepath.Join("..", "..", dir))
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		t.Logf("%s runs on %s (%s)", dir, rt.Version, rt.Bin)
	}
}

func TestMissingDependencyNamesMakeDeps(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"dependencies":{"left-pad":"1.3.0"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := For(dir)
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("For on an uninstalled folder: %v; want an error naming make deps", err)
	}
}

func TestTooOldNodeIsNamed(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "node_modules", "future")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"dependencies":{"future":"1.0.0"}}`), 0o644)
	os.WriteFile(filepath.Join(mod, "package.json"), []byte(`{"version":"1.0.0","engines":{"node":">=999.0.0"}}`), 0o644)
	_, err := For(dir)
	if err == nil || !strings.Contains(err.Error(), "future@1.0.0 needs Node >=999.0.0") {
		t.Fatalf("For with a too old Node: %v", err)
	}
}

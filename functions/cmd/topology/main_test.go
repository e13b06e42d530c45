package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"meterline/infra/servicebus-emulator/config"
	"meterline/shared/azurite"
)

// generated is what the registrations make now, and the repository root.
func generated(t *testing.T) (map[string][]byte, string) {
	t.Helper()
	root, err := azurite.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	return files, root
}

// TestGeneratedFilesAreCommitted fails when a registration changed the topology and the files
// it generates were not regenerated (make topology), or when someone edited them by hand.
func TestGeneratedFilesAreCommitted(t *testing.T) {
	files, root := generated(t)
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what the registrations make: run `make topology` and commit it", path)
		}
	}
}

// The emulator accepts the generated configuration as the official emulator's schema defines it.
func TestEmulatorConfigIsValid(t *testing.T) {
	files, _ := generated(t)
	cfg, err := config.Parse(files[EmulatorConfig])
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Namespaces[0].Topics); n == 0 {
		t.Fatal("no topics")
	}
}

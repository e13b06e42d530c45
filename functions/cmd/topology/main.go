// Command topology writes the Service Bus entities that the contexts' registrations need
// (package topology) to the files that configure them, so that none is written by hand:
//
//	go run ./functions/cmd/topology    # make topology
//
// It writes infra/servicebus-emulator/config.json (the local emulator). Its test fails when a
// committed file is not what the registrations make.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"meterline/functions/internal/apps"
	"meterline/shared/azurite"
)

// EmulatorConfig is the emulator's config.json, relative to the repository root.
const EmulatorConfig = "infra/servicebus-emulator/config.json"

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "topology:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := azurite.RepoRoot()
	if err != nil {
		return err
	}
	files, err := generate()
	if err != nil {
		return err
	}
	for path, content := range files {
		if err := os.WriteFile(filepath.Join(root, path), content, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}

// generate returns every generated file by its path in the repository.
func generate() (map[string][]byte, error) {
	t, err := apps.Topology()
	if err != nil {
		return nil, err
	}
	emulator, err := t.EmulatorConfig()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{EmulatorConfig: emulator}, nil
}

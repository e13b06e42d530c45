// Command topology writes the Service Bus entities that the contexts' registrations need
// (package topology) to the files that configure them, so that none is written by hand:
//
//	go run ./functions/cmd/topology    # make topology
//
// It writes infra/servicebus-emulator/config.json (the local emulator) and
// infra/azure/azuredeploy.json (the ARM template of the whole system in Azure, with the app
// settings of local.settings.json in their Azure form). Its test fails when a committed file is
// not what the registrations make.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"meterline/functions/internal/apps"
	"meterline/functions/internal/topology"
	"meterline/shared/azurite"
)

// The generated files, relative to the repository root, and what they are made from.
const (
	EmulatorConfig = "infra/servicebus-emulator/config.json"
	AzureTemplate  = "infra/azure/azuredeploy.json"
	LocalSettings  = "local.settings.json"
)

// azureOverrides are the app settings whose Azure value differs from the local one.
var azureOverrides = map[string]string{
	"ProductSecureCookie": "true", // Azure serves HTTPS only (httpsOnly)
}

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
	files, err := generate(root)
	if err != nil {
		return err
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, path), content, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}

// generate returns every generated file by its path in the repository.
func generate(root string) (map[string][]byte, error) {
	contexts := apps.Contexts()
	t, err := topology.Of(contexts)
	if err != nil {
		return nil, err
	}
	emulator, err := t.EmulatorConfig()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(root, LocalSettings))
	if err != nil {
		return nil, err
	}
	var local struct{ Values map[string]string }
	if err := json.Unmarshal(raw, &local); err != nil {
		return nil, fmt.Errorf("%s: %w", LocalSettings, err)
	}
	azure, err := t.AzureTemplate(contexts, topology.AppSettings{Values: local.Values, Azure: azureOverrides})
	if err != nil {
		return nil, err
	}
	return map[string][]byte{EmulatorConfig: emulator, AzureTemplate: azure}, nil
}

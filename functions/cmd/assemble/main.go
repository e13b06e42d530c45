// Command assemble lays out a publishable Functions app for one bounded context (or "all"):
//
//	go run ./functions/cmd/assemble -app subscriptions -out .build/subscriptions
//
// writes OUT/host.json (the repository's, with customHandler arguments ["-app", NAME]),
// OUT/<Function>/function.json for every registered function (from the Go registrations, the
// one source of truth), OUT/local.settings.json for local runs, OUT/.funcignore, and the linux/amd64 handler
// binary OUT/handler. The host discovers function.json only one folder below host.json, hence
// this layout.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"meterline/functions/internal/apps"
	"meterline/shared/azurite"
	"meterline/shared/funcapp"
)

func main() {
	name := flag.String("app", "", "bounded context to assemble: "+strings.Join(apps.Names(), "|"))
	out := flag.String("out", "", "output folder, e.g. .build/subscriptions")
	noBinary := flag.Bool("no-binary", false, "skip building the handler binary")
	list := flag.Bool("list", false, "print the bounded contexts' app names, one a line, and exit")
	flag.Parse()
	if *list {
		for _, n := range apps.Names() {
			if n != apps.All {
				fmt.Println(n)
			}
		}
		return
	}
	if *name == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*name, *out, !*noBinary); err != nil {
		fmt.Fprintln(os.Stderr, "assemble:", err)
		os.Exit(1)
	}
}

func run(name, out string, binary bool) error {
	root, err := azurite.RepoRoot()
	if err != nil {
		return err
	}
	app, err := apps.Define(name)
	if err != nil {
		return err
	}
	hostJSON, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return err
	}
	if err := assemble(app, hostJSON, out); err != nil {
		return err
	}
	if settings, err := os.ReadFile(filepath.Join(root, "local.settings.json")); err == nil {
		if err := os.WriteFile(filepath.Join(out, "local.settings.json"), settings, 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(out, ".funcignore"), []byte(funcignore), 0o644); err != nil {
		return err
	}
	if binary {
		return buildHandler(root, filepath.Join(out, "handler"))
	}
	return nil
}

// funcignore keeps out of the published zip what only local runs use (func publish leaves out
// local.settings.json itself, and .funcignore matches).
const funcignore = `# written by functions/cmd/assemble: what func azure functionapp publish leaves out
.funcignore
local.settings.json
*.log
`

// assemble writes host.json and the function folders of app into out, removing the folders of
// functions that are no longer registered.
func assemble(app *funcapp.App, hostJSON []byte, out string) error {
	host, err := appHostJSON(hostJSON, app)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := removeStaleFunctions(app, out); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "host.json"), host, 0o644); err != nil {
		return err
	}
	return app.WriteFunctionJSON(out)
}

// appHostJSON is the repository's host.json with the handler arguments selecting app, after
// checking that the host routes HTTP where the runtime expects it.
func appHostJSON(src []byte, app *funcapp.App) ([]byte, error) {
	var host map[string]any
	if err := json.Unmarshal(src, &host); err != nil {
		return nil, fmt.Errorf("host.json: %w", err)
	}
	prefix := "api" // the host's default
	if ext, ok := host["extensions"].(map[string]any); ok {
		if h, ok := ext["http"].(map[string]any); ok {
			if p, ok := h["routePrefix"].(string); ok {
				prefix = p
			}
		}
	}
	if strings.Trim(prefix, "/") != strings.Trim(app.RoutePrefix, "/") {
		return nil, fmt.Errorf("host.json routePrefix %q differs from the app's %q", prefix, app.RoutePrefix)
	}
	ch, _ := host["customHandler"].(map[string]any)
	if ch == nil {
		return nil, errors.New("host.json has no customHandler section")
	}
	desc, _ := ch["description"].(map[string]any)
	if desc == nil {
		desc = map[string]any{}
		ch["description"] = desc
	}
	// "handler", not "./handler": at publish only the zip entry equal to this path is made executable.
	desc["defaultExecutablePath"] = "handler"
	desc["arguments"] = []string{"-app", app.Name}
	b, err := json.MarshalIndent(host, "", "  ")
	return append(b, '\n'), err
}

func removeStaleFunctions(app *funcapp.App, out string) error {
	registered := map[string]bool{}
	for _, f := range app.Functions() {
		registered[f.Name] = true
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || registered[e.Name()] {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, e.Name(), "function.json")); err == nil {
			if err := os.RemoveAll(filepath.Join(out, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildHandler cross-compiles the handler for the Functions Linux workers.
func buildHandler(root, dst string) error {
	dst, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", dst, "./functions/cmd/handler")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build handler: %w", err)
	}
	return nil
}

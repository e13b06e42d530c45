// Package nodejs finds the Node.js that runs one of the project's pinned npm folders
// (infra/azurite, infra/servicebus-emulator/jsinterop) and checks it against the `engines.node`
// that the folder's dependencies declare, so that an unsupported Node fails with a clear
// message instead of odd behaviour later.
//
// A folder may pin its own Node as an npm dependency (package "node", whose binary lands in
// node_modules/.bin/node); otherwise the node on PATH is used.
package nodejs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Runtime is the node binary a folder's packages run on.
type Runtime struct {
	Bin     string // path of the node executable
	Version string // as node prints it, e.g. "v22.23.3"
}

// For returns the Node that runs the packages installed in dir and checks that it satisfies
// the engines.node of each direct dependency of dir/package.json. It fails when the
// dependencies are not installed (run `make deps`) or the Node is too old.
func For(dir string) (Runtime, error) {
	deps, err := dependencies(dir)
	if err != nil {
		return Runtime{}, err
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "node")
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("node"); err != nil {
			return Runtime{}, fmt.Errorf("node is not on PATH (needed by %s)", dir)
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return Runtime{}, fmt.Errorf("%s --version: %w", bin, err)
	}
	rt := Runtime{Bin: bin, Version: strings.TrimSpace(string(out))}
	for _, name := range deps {
		if name == "node" {
			continue // the pinned runtime itself
		}
		need, version, err := engine(dir, name)
		if err != nil {
			return Runtime{}, err
		}
		ok, err := Satisfies(rt.Version, need)
		if err != nil {
			return Runtime{}, fmt.Errorf("%s@%s: %w", name, version, err)
		}
		if !ok {
			return Runtime{}, fmt.Errorf("%s@%s needs Node %s, but %s is %s", name, version, need, bin, rt.Version)
		}
	}
	return rt, nil
}

func dependencies(dir string) ([]string, error) {
	var pkg struct{ Dependencies map[string]string }
	if err := readJSON(filepath.Join(dir, "package.json"), &pkg); err != nil {
		return nil, err
	}
	var names []string
	for name := range pkg.Dependencies {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", name, "package.json")); err != nil {
			return nil, fmt.Errorf("%s is not installed in %s: run `make deps`", name, dir)
		}
		names = append(names, name)
	}
	return names, nil
}

// engine reads the engines.node range and the version of an installed package.
func engine(dir, name string) (need, version string, err error) {
	var pkg struct {
		Version string
		Engines struct{ Node string }
	}
	if err := readJSON(filepath.Join(dir, "node_modules", name, "package.json"), &pkg); err != nil {
		return "", "", err
	}
	need = pkg.Engines.Node
	if need == "" {
		need = ">=0" // declares no requirement
	}
	return need, pkg.Version, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Satisfies reports whether a Node version ("v22.23.3") meets an engines range. Only the form
// the pinned packages use is understood, ">=MAJOR[.MINOR[.PATCH]]"; any other range is an
// error rather than a guess.
func Satisfies(version, need string) (bool, error) {
	min, ok := strings.CutPrefix(strings.TrimSpace(need), ">=")
	min = strings.TrimSpace(min)
	if !ok || strings.ContainsAny(min, " |<^~") {
		return false, fmt.Errorf("engines range %q is not of the form >=X.Y.Z", need)
	}
	have, err := parse(strings.TrimPrefix(version, "v"))
	if err != nil {
		return false, fmt.Errorf("node version %q: %w", version, err)
	}
	want, err := parse(min)
	if err != nil {
		return false, fmt.Errorf("engines range %q: %w", need, err)
	}
	for i := range have {
		if have[i] != want[i] {
			return have[i] > want[i], nil
		}
	}
	return true, nil
}

func parse(v string) ([3]int, error) {
	var out [3]int
	parts := strings.Split(strings.TrimSpace(v), ".")
	if len(parts) > 3 || parts[0] == "" {
		return out, fmt.Errorf("not a version")
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, fmt.Errorf("not a version")
		}
		out[i] = n
	}
	return out, nil
}

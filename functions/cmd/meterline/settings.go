package main

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"

	"meterline/shared/azurite"
)

// DefaultSettingsFile is read when --settings is not given and it exists: what `make run` uses.
const DefaultSettingsFile = "local.settings.json"

// settingsFlag adds --settings to fs.
func settingsFlag(fs *flag.FlagSet) *string {
	return fs.String("settings", "", "local.settings.json to read the app settings from (default ./"+DefaultSettingsFile+" when present)")
}

// loadSettings is the apps' settings: the file's Values, under the environment (a non-empty
// variable wins, as with `func start`). Values are never printed: they hold secrets.
func loadSettings(path string, env func(string) string) (func(string) string, error) {
	values := map[string]string{}
	explicit := path != ""
	if !explicit {
		path = DefaultSettingsFile
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	case err != nil:
		return nil, usage("settings: %v", err)
	default:
		var file struct {
			Values map[string]string
		}
		if err := json.Unmarshal(b, &file); err != nil {
			return nil, usage("settings %s: not a local.settings.json (Values of strings): %v", path, err)
		}
		values = file.Values
	}
	return func(name string) string {
		v := env(name)
		if v == "" {
			v = values[name]
		}
		// "UseDevelopmentStorage=true" is Azurite, which the Go SDKs need spelled out.
		return azurite.ExpandConnectionString(v)
	}, nil
}

// parse parses args with fs, silencing the flag package's own output; a bad flag is errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(interleaved(fs, args)); err != nil {
		return usage("%s: %v", fs.Name(), err)
	}
	return nil
}

// interleaved moves flags after positional arguments to the front, so that
// `rebuild product --from journal` reads as `rebuild --from journal product`.
func interleaved(fs *flag.FlagSet, args []string) []string {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := a[1:]
			if len(name) > 0 && name[0] == '-' {
				name = name[1:]
			}
			if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		positional = append(positional, a)
	}
	return append(append(flags, "--"), positional...)
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

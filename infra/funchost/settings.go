package funchost

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Settings are an app's effective settings: local.settings.json Values with
// the environment on top.
type Settings map[string]string

// loadSettings reads local.settings.json (path may be empty) and overlays the
// environment. As in `func start`, a variable that is set and non-empty in the
// environment wins over the file.
func loadSettings(path string, env []string) (Settings, error) {
	s := Settings{}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("local settings: %w", err)
		}
		var file struct {
			IsEncrypted bool
			Values      map[string]any
		}
		if err := json.Unmarshal(raw, &file); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if file.IsEncrypted {
			return nil, fmt.Errorf("%s: IsEncrypted: encrypted settings are not supported", path)
		}
		for k, v := range file.Values {
			switch v := v.(type) {
			case string:
				s[k] = v
			case nil:
			default:
				// func accepts only strings; numbers and booleans are a common slip.
				return nil, fmt.Errorf("%s: Values.%s: must be a string", path, k)
			}
		}
	}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && v != "" {
			s[k] = v
		}
	}
	return s, nil
}

// Lookup returns a setting. Names are matched exactly first, then
// case-insensitively (app settings are case-insensitive in Azure), and "__"
// and ":" are interchangeable (nested configuration keys).
func (s Settings) Lookup(name string) (string, bool) {
	if v, ok := s[name]; ok {
		return v, true
	}
	norm := func(k string) string { return strings.ToLower(strings.ReplaceAll(k, "__", ":")) }
	want := norm(name)
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if norm(k) == want {
			return s[k], true
		}
	}
	return "", false
}

// Section is the configuration section name the way IConfiguration sees it:
// its own value, its children (name__child or name:child, keys lower-cased),
// and whether it exists at all (a value, even empty, or any child), as
// IConfigurationSection.Exists decides.
func (s Settings) Section(name string) (value string, children map[string]string, exists bool) {
	value, exists = s.Lookup(name)
	norm := func(k string) string { return strings.ToLower(strings.ReplaceAll(k, "__", ":")) }
	prefix := norm(name) + ":"
	for k, v := range s {
		if rest, ok := strings.CutPrefix(norm(k), prefix); ok {
			if children == nil {
				children = map[string]string{}
			}
			children[rest] = v
			exists = true
		}
	}
	return value, children, exists
}

// Enabled is the host's IsSettingEnabled: the setting is "true" (any case) or "1".
func (s Settings) Enabled(name string) bool {
	v, _ := s.Lookup(name)
	v = strings.TrimSpace(v)
	return strings.EqualFold(v, "true") || v == "1"
}

// Environ is the settings as environment entries for the handler process.
func (s Settings) Environ() []string {
	out := make([]string, 0, len(s))
	for k, v := range s {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

var settingExpr = regexp.MustCompile(`%([^%]+)%`)

// Resolve expands %Setting% expressions the way binding attributes are
// resolved; a missing setting is an error naming it.
func (s Settings) Resolve(v string) (string, error) {
	var missing []string
	out := settingExpr.ReplaceAllStringFunc(v, func(m string) string {
		name := m[1 : len(m)-1]
		val, ok := s.Lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return val
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("app setting %q not found", missing[0])
	}
	return out, nil
}

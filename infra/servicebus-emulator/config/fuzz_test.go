package config

import (
	"errors"
	"testing"
)

// FuzzParse checks that no input panics, and that a rejected input is
// reported with a path or as invalid JSON.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns","Queues":[{"Name":"q"}],"Topics":[]}],"Logging":{"Type":"Console"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && fe.Path == "" {
				t.Fatalf("FieldError without a path: %v", err)
			}
			return
		}
		if len(c.Namespaces) != 1 {
			t.Fatalf("accepted %d namespaces", len(c.Namespaces))
		}
		for _, tp := range c.Namespaces[0].Topics {
			for _, s := range tp.Subscriptions {
				if len(s.Rules) == 0 {
					t.Fatal("subscription without rules")
				}
				for _, r := range s.Rules {
					if r.Filter == nil {
						t.Fatal("rule without a filter")
					}
				}
			}
		}
	})
}

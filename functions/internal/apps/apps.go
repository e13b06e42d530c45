// Package apps is the list of bounded contexts the handler binary can serve. Both the handler
// (functions/cmd/handler) and the assembly tool (functions/cmd/assemble) read it, so the
// function.json files written at build time come from the very registrations that serve them.
package apps

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"meterline/functions/internal/topology"
	"meterline/shared/azurite"
	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
)

// All selects every context in one app.
const All = "all"

// Context is one bounded context's entry.
type Context struct {
	Name string
	// Topic is where the context publishes its events ("" when it publishes none).
	Topic string
	// Define registers the context's functions without connecting to anything, e.g. on
	// in-memory dependencies (handlers only use them when invoked). The assembly tool calls it
	// at build time, with no settings; it must register exactly what Build registers.
	Define func() *funcapp.App
	// Build connects the context's dependencies from the app settings (the host passes them
	// as environment variables) and registers its functions.
	Build func(ctx context.Context, setting func(name string) string) (*funcapp.App, error)
	// Events opens the context's event store for reading it whole (the tools' rebuilds); nil
	// for a context that keeps no streams.
	Events func(ctx context.Context, setting func(name string) string) (eventstore.Scanner, error)
}

// Names lists the selectable app names: every context, then "all".
func Names() []string {
	var names []string
	for _, c := range contexts {
		names = append(names, c.Name)
	}
	return append(names, All)
}

func selectContexts(name string) ([]Context, error) {
	if name == All {
		return contexts, nil
	}
	i := slices.IndexFunc(contexts, func(c Context) bool { return c.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("unknown app %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return contexts[i : i+1], nil
}

// Define returns the definitions of app name (a context or "all") without connecting.
func Define(name string) (*funcapp.App, error) {
	selected, err := selectContexts(name)
	if err != nil {
		return nil, err
	}
	var parts []*funcapp.App
	for _, c := range selected {
		parts = append(parts, c.Define())
	}
	return combine(name, parts), nil
}

// Build returns app name (a context or "all") ready to serve.
func Build(ctx context.Context, name string, setting func(string) string) (*funcapp.App, error) {
	selected, err := selectContexts(name)
	if err != nil {
		return nil, err
	}
	// local.settings.json says "UseDevelopmentStorage=true", which the Go SDKs don't understand.
	expanded := func(name string) string { return azurite.ExpandConnectionString(setting(name)) }
	var parts []*funcapp.App
	for _, c := range selected {
		a, err := c.Build(ctx, expanded)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", c.Name, err)
		}
		parts = append(parts, a)
	}
	return combine(name, parts), nil
}

// Events opens the event store of context name (its own streams), for reading it whole.
func Events(ctx context.Context, name string, setting func(string) string) (eventstore.Scanner, error) {
	i := slices.IndexFunc(contexts, func(c Context) bool { return c.Name == name && c.Events != nil })
	if i < 0 {
		return nil, fmt.Errorf("context %q keeps no event streams", name)
	}
	return contexts[i].Events(ctx, func(name string) string { return azurite.ExpandConnectionString(setting(name)) })
}

// Contexts are the bounded contexts as the topology sees them: their topics and their
// registrations (defined without connecting anything).
func Contexts() []topology.Context {
	var cs []topology.Context
	for _, c := range contexts {
		cs = append(cs, topology.Context{Name: c.Name, Topic: c.Topic, App: c.Define()})
	}
	return cs
}

// Topology is the Service Bus entities every context needs, read off their registrations.
func Topology() (topology.Topology, error) { return topology.Of(Contexts()) }

func combine(name string, parts []*funcapp.App) *funcapp.App {
	if name != All && len(parts) == 1 {
		return parts[0]
	}
	app := funcapp.New(name)
	for _, p := range parts {
		app.Include(p)
	}
	return app
}

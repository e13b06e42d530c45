// Package projectiontest is the one given/then helper for projections, used by every
// context's projection tests. Given events, Then checks the documents they make, after
// applying them in their order and in many other orders with duplicates: a projection that
// depends on delivery order, or applies an event twice, fails here.
//
//	projectiontest.Given(t, newAccounts, opened, balanceChanged, locked).
//		Then("c1", domain.Account{CustomerID: "c1", Balance: -2500, Status: "locked"})
package projectiontest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
)

// New builds the projection under test on a fresh views backend; events is a store holding the
// given events, for a projection that reads its own streams (Projection.Store).
type New[F, D any] func(b views.Backend, events blocks.StreamReader) blocks.Projection[F, D]

// Scenario is a projection and the events given to it.
type Scenario[F, D any] struct {
	t      testing.TB
	build  New[F, D]
	events []eventstore.Event
	orders [][]int
}

// Given starts a scenario. The events need their Type, Stream and Version (and what the
// projection's Translate reads).
func Given[F, D any](t testing.TB, build New[F, D], events ...eventstore.Event) *Scenario[F, D] {
	t.Helper()
	return &Scenario[F, D]{t: t, build: build, events: events, orders: orders(len(events))}
}

// Then checks that every order of delivery ends with want at key (its Tracked part ignored),
// and that all orders end with the same documents, Tracked part included.
func (s *Scenario[F, D]) Then(key string, want D) *Scenario[F, D] {
	s.t.Helper()
	s.check(key, func(got D, found bool) error {
		if !found {
			return fmt.Errorf("no document %q", key)
		}
		if g, w := untracked(got), untracked(want); !reflect.DeepEqual(g, w) {
			return fmt.Errorf("document %q:\n got  %s\n want %s", key, show(g), show(w))
		}
		return nil
	})
	return s
}

// ThenAbsent checks that no order of delivery leaves a document at key (none, or a tombstone).
func (s *Scenario[F, D]) ThenAbsent(key string) *Scenario[F, D] {
	s.t.Helper()
	s.check(key, func(got D, found bool) error {
		if found {
			return fmt.Errorf("document %q exists: %s", key, show(got))
		}
		return nil
	})
	return s
}

func (s *Scenario[F, D]) check(key string, verdict func(D, bool) error) {
	s.t.Helper()
	var first D
	for n, order := range s.orders {
		p := s.build(viewmem.New(), streams(s.events))
		for _, i := range order {
			if err := p.Handle(context.Background(), s.events[i]); err != nil {
				s.t.Fatalf("order %v: %s %s@%d: %v", order, s.events[i].Type, s.events[i].Stream, s.events[i].Version, err)
			}
		}
		got, found, err := p.Get(context.Background(), key)
		if err != nil {
			s.t.Fatalf("order %v: get %q: %v", order, key, err)
		}
		if err := verdict(got, found); err != nil {
			s.t.Fatalf("after delivery order %v (%d of %d tried): %v", order, n+1, len(s.orders), err)
		}
		stored, _, _ := p.Docs.Get(context.Background(), key)
		if n == 0 {
			first = stored
		} else if !reflect.DeepEqual(stored, first) {
			s.t.Fatalf("delivery order %v ends with another document %q than the given order:\n got  %s\n want %s",
				order, key, show(stored), show(first))
		}
	}
}

// orders are the given order, then its reverse, then every permutation (small scenarios) or
// 300 random ones, each followed by a duplicate of a random event: a deterministic set, so a
// failure reproduces.
func orders(n int) [][]int {
	given := make([]int, n)
	for i := range given {
		given[i] = i
	}
	out := [][]int{given}
	if n < 2 {
		return append(out, append(append([]int{}, given...), given...))
	}
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	var perms [][]int
	if n <= 6 {
		perms = permutations(given)
	} else {
		for range 300 {
			p := append([]int{}, given...)
			rng.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
			perms = append(perms, p)
		}
	}
	for _, p := range perms {
		out = append(out, append(p, p[rng.IntN(n)]))
	}
	return out
}

func permutations(items []int) [][]int {
	if len(items) <= 1 {
		return [][]int{append([]int{}, items...)}
	}
	var out [][]int
	for i := range items {
		rest := append(append([]int{}, items[:i]...), items[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]int{items[i]}, p...))
		}
	}
	return out
}

// streams is an in-memory stream reader over the given events.
type streams []eventstore.Event

func (s streams) Read(_ context.Context, stream string, from int64) ([]eventstore.Event, error) {
	var out []eventstore.Event
	for v := from; ; v++ {
		found := false
		for _, e := range s {
			if e.Stream == stream && e.Version == v {
				out, found = append(out, e), true
				break
			}
		}
		if !found {
			return out, nil
		}
	}
}

func untracked[D any](d D) D {
	if t, ok := any(&d).(interface{ Tracking() *views.Tracked }); ok {
		*t.Tracking() = views.Tracked{}
	}
	return d
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

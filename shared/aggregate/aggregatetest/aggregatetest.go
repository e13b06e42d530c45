// Package aggregatetest is the given/when/then helper for aggregates: past events, one command,
// the events (or the error) it must produce.
package aggregatetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"meterline/shared/aggregate"
)

// Scenario is a given-when-then test of one command on one aggregate:
//
//	aggregatetest.Given(t, NewCustomer("customer-1"), CustomerCreated{...}).
//		When(func(c *Customer) ([]any, error) { return c.Lock("unpaid") }).
//		Then(CustomerLocked{Reason: "unpaid"})
type Scenario[A aggregate.Root] struct {
	t       testing.TB
	agg     A
	ran     bool
	changes []any
	err     error
}

// Given applies the past events to agg.
func Given[A aggregate.Root](t testing.TB, agg A, past ...any) *Scenario[A] {
	t.Helper()
	for _, e := range past {
		agg.Apply(e)
	}
	return &Scenario[A]{t: t, agg: agg}
}

// When runs the command on the aggregate.
func (s *Scenario[A]) When(command func(A) ([]any, error)) *Scenario[A] {
	s.changes, s.err = command(s.agg)
	s.ran = true
	return s
}

// Then expects the command to succeed with exactly these events, in order.
func (s *Scenario[A]) Then(expected ...any) {
	s.t.Helper()
	s.mustHaveRun()
	if s.err != nil {
		s.t.Fatalf("expected events %s, got error: %v", describe(expected), s.err)
	}
	if len(expected) == 0 {
		expected = nil
	}
	got := s.changes
	if len(got) == 0 {
		got = nil
	}
	if !reflect.DeepEqual(got, expected) {
		s.t.Fatalf("events differ\n got: %s\nwant: %s", describe(got), describe(expected))
	}
}

// ThenError expects the command to fail with an error matching target (errors.Is).
func (s *Scenario[A]) ThenError(target error) {
	s.t.Helper()
	s.mustHaveRun()
	if s.err == nil {
		s.t.Fatalf("expected error %v, got events %s", target, describe(s.changes))
	}
	if !errors.Is(s.err, target) {
		s.t.Fatalf("expected error %v, got error %v", target, s.err)
	}
}

// ThenNothing expects the command to succeed without any event.
func (s *Scenario[A]) ThenNothing() {
	s.t.Helper()
	s.Then()
}

func (s *Scenario[A]) mustHaveRun() {
	s.t.Helper()
	if !s.ran {
		s.t.Fatal("aggregate scenario: call When before Then")
	}
}

func describe(events []any) string {
	if len(events) == 0 {
		return "(no events)"
	}
	out := ""
	for i, e := range events {
		if i > 0 {
			out += ", "
		}
		out += reflect.TypeOf(e).String() + formatValue(e)
	}
	return out
}

func formatValue(v any) string {
	return fmt.Sprintf("%+v", v)
}

package topology_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"meterline/functions/internal/topology"
	"meterline/shared/funcapp"
)

func app(name string, subs ...funcapp.ServiceBusTrigger) *funcapp.App {
	a := funcapp.New(name)
	for i, s := range subs {
		a.ServiceBus("Fn"+string(rune('A'+i)), s, func(context.Context, *funcapp.Message) error { return nil })
	}
	return a
}

func TestOfReadsEntitiesOffRegistrations(t *testing.T) {
	tp, err := topology.Of([]topology.Context{
		{Name: "alpha", Topic: "alpha", App: app("alpha")},
		{Name: "beta", App: app("beta", funcapp.ServiceBusTrigger{Topic: "alpha", Subscription: "beta-fn-a", Filter: "type IN ('alpha.X')"})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tp.Topics) != 1 || tp.Topics[0].Publisher != "alpha" || len(tp.Topics[0].Subscriptions) != 1 ||
		!reflect.DeepEqual(tp.Topics[0].Subscriptions[0], topology.Subscription{Name: "beta-fn-a", Filter: "type IN ('alpha.X')",
			Rule: "(type IN ('alpha.X')) AND (meterline_replay_to IS NULL OR meterline_replay_to IN ('beta', 'beta-fn-a'))", App: "beta", Function: "FnA"}) {
		t.Fatalf("topics %+v", tp.Topics)
	}
	if len(tp.Queues) != 2 || tp.Queues[1].Name != "beta-deadletters" {
		t.Fatalf("queues %+v", tp.Queues)
	}
	roles := tp.Assignments([]string{"alpha", "beta"})
	var beta []string
	for _, r := range roles {
		if r.App == "beta" {
			beta = append(beta, r.Role+" "+r.Scope)
		}
	}
	if !strings.Contains(strings.Join(beta, ","), topology.RoleServiceBusReceiver+" subscription:alpha/beta-fn-a") ||
		strings.Contains(strings.Join(beta, ","), "topic:alpha") {
		t.Fatalf("beta's roles %v: want a receiver on its subscription and no sender on alpha's topic", beta)
	}
}

func TestOfRefusesWhatAzureWouldNotRoute(t *testing.T) {
	for name, c := range map[string][]topology.Context{
		"no publisher": {{Name: "beta", App: app("beta", funcapp.ServiceBusTrigger{Topic: "ghost", Subscription: "s", Filter: "1=1"})}},
		"no filter":    {{Name: "alpha", Topic: "alpha", App: app("alpha", funcapp.ServiceBusTrigger{Topic: "alpha", Subscription: "s"})}},
		"twice": {{Name: "alpha", Topic: "alpha", App: app("alpha",
			funcapp.ServiceBusTrigger{Topic: "alpha", Subscription: "s", Filter: "1=1"}, funcapp.ServiceBusTrigger{Topic: "alpha", Subscription: "s", Filter: "1=1"})}},
	} {
		if _, err := topology.Of(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestISO8601(t *testing.T) {
	for d, want := range map[string]string{"P14D": topology.ISO8601(topology.MessageLifetime), "PT1H": topology.ISO8601(topology.LocalMessageLifetime),
		"PT5M": topology.ISO8601(topology.DuplicateWindow), "PT30S": topology.ISO8601(topology.LockDuration)} {
		if d != want {
			t.Errorf("%s != %s", want, d)
		}
	}
}

package journal_test

import (
	"slices"
	"testing"

	"meterline/functions/internal/apps"
	"meterline/functions/internal/topology"
	"meterline/functions/journal"
)

// The Journal takes its place among the contexts: its names clash with no other function in
// the all-in-one app, and the topology gives it a subscription on every topic that exists.
func TestTheJournalIsAContext(t *testing.T) {
	if !slices.Contains(apps.Names(), journal.Name) {
		t.Fatalf("apps: %v", apps.Names())
	}
	if _, err := apps.Define(apps.All); err != nil {
		t.Fatal(err)
	}
	top, err := apps.Topology()
	if err != nil {
		t.Fatal(err)
	}
	var topics []string
	for _, tp := range top.Topics {
		topics = append(topics, tp.Name)
		if tp.Publisher == journal.Name {
			t.Errorf("the Journal publishes to %s", tp.Name)
		}
		i := slices.IndexFunc(tp.Subscriptions, func(s topology.Subscription) bool { return s.App == journal.Name })
		if i < 0 || tp.Subscriptions[i].Filter != "1=1" {
			t.Errorf("topic %s: the Journal does not take every event: %+v", tp.Name, tp.Subscriptions)
		}
	}
	if !slices.Contains(topics, "subscriptions") || !slices.Contains(topics, "cloudapi") {
		t.Fatalf("topics %v", topics)
	}
}

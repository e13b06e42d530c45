package topology

import (
	"encoding/json"
	"fmt"
	"time"
)

// RuleName names the one rule of every subscription.
const RuleName = "wanted-types"

// EmulatorConfig is the topology as the Service Bus emulator's config.json (the official
// emulator's schema, which ours reads too), with the local message lifetime.
func (t Topology) EmulatorConfig() ([]byte, error) {
	type props map[string]any
	type rule struct {
		Name       string `json:"Name"`
		Properties props  `json:"Properties"`
	}
	type subscription struct {
		Name       string `json:"Name"`
		Properties props  `json:"Properties"`
		Rules      []rule `json:"Rules"`
	}
	type topic struct {
		Name          string         `json:"Name"`
		Properties    props          `json:"Properties"`
		Subscriptions []subscription `json:"Subscriptions"`
	}
	type queue struct {
		Name       string `json:"Name"`
		Properties props  `json:"Properties"`
	}
	ns := struct {
		Name   string  `json:"Name"`
		Queues []queue `json:"Queues"`
		Topics []topic `json:"Topics"`
	}{Name: "sbemulatorns", Queues: []queue{}, Topics: []topic{}}
	for _, q := range t.Queues {
		ns.Queues = append(ns.Queues, queue{q.Name, props{
			"LockDuration": ISO8601(LockDuration), "MaxDeliveryCount": MaxDeliveryCount,
			"DefaultMessageTimeToLive": ISO8601(LocalMessageLifetime),
		}})
	}
	for _, tp := range t.Topics {
		out := topic{Name: tp.Name, Subscriptions: []subscription{}, Properties: props{
			"DefaultMessageTimeToLive": ISO8601(LocalMessageLifetime), "RequiresDuplicateDetection": true,
			"DuplicateDetectionHistoryTimeWindow": ISO8601(DuplicateWindow),
		}}
		for _, s := range tp.Subscriptions {
			out.Subscriptions = append(out.Subscriptions, subscription{
				Name: s.Name,
				Properties: props{"LockDuration": ISO8601(LockDuration), "MaxDeliveryCount": MaxDeliveryCount,
					"DeadLetteringOnMessageExpiration": true},
				Rules: []rule{{Name: RuleName, Properties: props{"FilterType": "Sql", "SqlFilter": props{"SqlExpression": s.Rule}}}},
			})
		}
		ns.Topics = append(ns.Topics, out)
	}
	doc := map[string]any{"UserConfig": map[string]any{
		"Namespaces": []any{ns},
		"Logging":    map[string]string{"Type": "Console"},
	}}
	b, err := json.MarshalIndent(doc, "", "  ")
	return append(b, '\n'), err
}

// ISO8601 writes a whole number of days, hours, minutes or seconds as an ISO 8601 duration,
// as Service Bus and its emulator take them: P14D, PT1H, PT5M, PT30S.
func ISO8601(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("P%dD", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("PT%dH", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("PT%dM", d/time.Minute)
	}
	return fmt.Sprintf("PT%dS", d/time.Second)
}

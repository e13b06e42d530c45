// Package config reads the official Azure Service Bus emulator's
// config.json, so that a file written for Microsoft's emulator configures
// ours unchanged.
//
// The rules come from Microsoft's Config-schema.json
// (Azure/azure-service-bus-emulator-installer, ServiceBus-Emulator/Schema)
// and the emulator documentation:
//
//   - exactly one namespace, named "sbemulatorns", with Queues and Topics
//     arrays (either may be empty) and at most 50 queues and topics together;
//   - every topic has 1 to 50 subscriptions, at most 1000 rules and at most
//     20 SQL filters (the emulator's quota); an action at most 32 statements;
//   - names match ^[A-Za-z0-9]$|^[A-Za-z0-9][\w-./]*[A-Za-z0-9]$;
//   - durations are ISO 8601 (PT1M, PT20S, P1D): LockDuration PT5S..PT5M,
//     DefaultMessageTimeToLive PT5M..PT1H, DuplicateDetectionHistoryTimeWindow
//     PT5S..PT5M; MaxDeliveryCount 1..10;
//   - rules have FilterType "Correlation" (with a non-empty CorrelationFilter)
//     or "Sql" (with SqlFilter.SqlExpression), and an optional Action;
//   - Logging.Type is File, Console, "File,Console" or "Console,File".
//
// The schema does not forbid additional properties, so unknown fields are
// accepted and ignored, as the official emulator does. Property names are
// matched exactly first and then case-insensitively.
//
// Where the schema is silent we follow Service Bus itself: entity names are
// unique case-insensitively, queue and topic names are at most 260
// characters, subscription and rule names at most 50, and ForwardTo /
// ForwardDeadLetteredMessagesTo must name another queue or topic of the
// namespace.
package config

import (
	"errors"
	"fmt"
	"os"
	"time"

	"meterline/infra/servicebus-emulator/filter"
)

// Defaults the official emulator documents for omitted properties.
const (
	DefaultNamespace                           = "sbemulatorns"
	DefaultLockDuration                        = time.Minute
	DefaultMessageTimeToLive                   = time.Hour
	DefaultDuplicateDetectionHistoryTimeWindow = 20 * time.Second
	// DefaultMaxDeliveryCount is the emulator schema's default (3), not
	// Azure Service Bus's (10).
	DefaultMaxDeliveryCount = 3
	// DefaultRuleName is the rule a subscription without rules gets.
	DefaultRuleName = "$Default"
)

// Config is a whole config.json.
type Config struct {
	Namespaces []Namespace
	Logging    Logging
}

// Logging is UserConfig.Logging.
type Logging struct {
	Type string // File, Console, "File,Console" or "Console,File"
}

// Namespace holds the entities of one namespace.
type Namespace struct {
	Name   string
	Queues []Queue
	Topics []Topic
}

// EntityProperties are the settings of a queue, topic or subscription. The
// fields a kind of entity does not have in the schema stay zero (a topic
// has no LockDuration).
type EntityProperties struct {
	DeadLetteringOnMessageExpiration    bool
	DefaultMessageTimeToLive            time.Duration
	DuplicateDetectionHistoryTimeWindow time.Duration
	LockDuration                        time.Duration
	MaxDeliveryCount                    int
	RequiresDuplicateDetection          bool
	RequiresSession                     bool
	ForwardTo                           string
	ForwardDeadLetteredMessagesTo       string
}

// Queue is a configured queue.
type Queue struct {
	Name       string
	Properties EntityProperties
}

// Topic is a configured topic with its subscriptions.
type Topic struct {
	Name          string
	Properties    EntityProperties
	Subscriptions []Subscription
}

// Subscription is a configured subscription. Rules is never empty: a
// subscription configured without rules gets the $Default rule matching
// every message, as Service Bus creates it.
type Subscription struct {
	Name       string
	Properties EntityProperties
	Rules      []Rule
}

// Rule is a subscription rule: a filter and an optional action.
type Rule struct {
	Name   string
	Filter filter.Filter
	Action *filter.Action // nil when the rule has none
}

// FieldError reports one invalid field, named by its JSON path such as
// UserConfig.Namespaces[0].Topics[1].Subscriptions[0].Properties.LockDuration.
type FieldError struct {
	Path  string
	Value any // the offending value as decoded from JSON; nil when missing
	Msg   string
	Err   error // the underlying error, e.g. a *filter.SyntaxError
}

func (e *FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("config: %s: %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("config: %s = %s: %s", e.Path, short(e.Value), e.Msg)
}

func (e *FieldError) Unwrap() error { return e.Err }

func short(v any) string {
	var s string
	switch v.(type) {
	case string:
		s = fmt.Sprintf("%q", v)
	case map[string]any, []any:
		s = fmt.Sprintf("%v", v)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// Default returns the configuration of an emulator with one empty namespace.
func Default() *Config {
	return &Config{
		Namespaces: []Namespace{{Name: DefaultNamespace, Queues: []Queue{}, Topics: []Topic{}}},
		Logging:    Logging{Type: "Console"},
	}
}

// Load reads and parses a config.json file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse parses and validates a config.json document. Every problem found is
// reported as a *FieldError; several are joined with errors.Join.
func Parse(data []byte) (*Config, error) {
	doc, err := decode(data)
	if err != nil {
		return nil, err
	}
	r := &reader{}
	c := r.config(doc)
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return c, nil
}

// Queue returns the queue of that name (case-insensitive) in the namespace.
func (n *Namespace) Queue(name string) (*Queue, bool) {
	for i := range n.Queues {
		if equalFold(n.Queues[i].Name, name) {
			return &n.Queues[i], true
		}
	}
	return nil, false
}

// Topic returns the topic of that name (case-insensitive) in the namespace.
func (n *Namespace) Topic(name string) (*Topic, bool) {
	for i := range n.Topics {
		if equalFold(n.Topics[i].Name, name) {
			return &n.Topics[i], true
		}
	}
	return nil, false
}

package blocks

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"go.opentelemetry.io/otel/attribute"

	"meterline/shared/eventstore"
	"meterline/shared/fault"
	"meterline/shared/funcapp"
	"meterline/shared/views"
)

// ErrMalformed marks an event of a wanted type that can never be applied: bad JSON, missing
// ids, values out of range. ACLs wrap it; the message is dead-lettered.
var ErrMalformed = errors.New("malformed event")

// ErrUnusable marks an event that a receptor can never act on (it refers to something that does
// not exist, say). A *fault.Error from the command counts as unusable too.
var ErrUnusable = errors.New("event cannot be handled")

// EveryType, as Source.Types, takes every event of the topic (the Journal).
var EveryType = []string{"*"}

// Event is one event as a block sees it: the envelope (stream, version, ids, time) and the fact
// that the context's ACL made of it.
type Event[F any] struct {
	eventstore.Event
	Fact F
}

// Source is where a receptor's or a projection's events come from and what they become.
type Source[F any] struct {
	// Topic is the Service Bus topic the events arrive on. Empty: the block is fed by the
	// context itself (its own events, through the outbox) and registers no function.
	Topic string
	// Types are the event types wanted (or EveryType): the subscription's SQL filter. An event
	// of another type is completed untouched.
	Types []string
	// Translate is the context's ACL: it turns a wanted event into a fact of this context, or
	// fails with an error wrapping ErrMalformed.
	Translate func(eventstore.Event) (F, error)
}

// wants reports whether e is of a wanted type.
func (s Source[F]) wants(e eventstore.Event) bool {
	return slices.Equal(s.Types, EveryType) || slices.Contains(s.Types, e.Type)
}

// event translates e; false when e is not of a wanted type.
func (s Source[F]) event(e eventstore.Event) (Event[F], bool, error) {
	if !s.wants(e) {
		return Event[F]{}, false, nil
	}
	f, err := s.Translate(e)
	if err != nil {
		return Event[F]{}, true, err
	}
	return Event[F]{Event: e, Fact: f}, true, nil
}

func (s Source[F]) check(block string) {
	if s.Translate == nil || len(s.Types) == 0 {
		panic(fmt.Sprintf("blocks: %s: a Source needs Types and Translate", block))
	}
	if !slices.Equal(s.Types, EveryType) {
		for _, t := range s.Types {
			if !typeName.MatchString(t) {
				panic(fmt.Sprintf("blocks: %s: event type %q cannot go in a filter", block, t))
			}
		}
	}
}

// typeName is what an event type may be made of: it is quoted into SQL filters.
var typeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,120}$`)

// Filter is the Service Bus SQL filter that selects the event types (by the "type" application
// property every published event carries); "1=1" for EveryType.
func Filter(types []string) string {
	if slices.Equal(types, EveryType) {
		return "1=1"
	}
	quoted := make([]string, 0, len(types))
	for _, t := range types {
		q := "'" + t + "'"
		if !slices.Contains(quoted, q) {
			quoted = append(quoted, q)
		}
	}
	return "type IN (" + strings.Join(quoted, ", ") + ")"
}

// ReplayTo is the application property that addresses a message to one context's
// subscriptions, or to one subscription, and to no other: events replayed from the Journal, a
// dead letter resubmitted. Every subscription's rule (Rule) takes the messages without it, and
// those that name its context or itself.
const ReplayTo = "meterline_replay_to"

// Rule is the broker's SQL rule of a block's subscription: the wanted types (filter, from
// Filter), published normally or addressed to the subscription's context or to itself
// (ReplayTo). The topology writes it into every place that declares subscriptions, so that
// the emulator and Azure route alike.
func Rule(filter, app, subscription string) string {
	// Both names are made of letters, digits, '-' and '_' (funcapp checks): safe to quote.
	route := ReplayTo + " IS NULL OR " + ReplayTo + " IN ('" + app + "', '" + subscription + "')"
	if filter == "1=1" {
		return route
	}
	return "(" + filter + ") AND (" + route + ")"
}

// SubscriptionName is the Service Bus subscription of a context's function: "cloudapi" and
// "ReplicateAccess" make "cloudapi-replicate-access". Azure allows 50 characters.
func SubscriptionName(app, function string) string {
	var b strings.Builder
	b.WriteString(app)
	for i, r := range function {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		if i == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	name := b.String()
	if len(name) > 50 {
		panic(fmt.Sprintf("blocks: subscription name %q is longer than Service Bus allows (50)", name))
	}
	return name
}

// listen registers the Service Bus function of a block with a topic: its subscription, named
// after the app and the function, filtered to the block's types.
func listen[F any](a *funcapp.App, name string, s Source[F], handle func(context.Context, eventstore.Event) error) {
	trigger := funcapp.ServiceBusTrigger{Topic: s.Topic, Subscription: SubscriptionName(a.Name, name), Filter: Filter(s.Types), Types: s.Types}
	a.ServiceBus(name, trigger, func(ctx context.Context, m *funcapp.Message) error {
		e, err := eventstore.UnmarshalEnvelope(m.Body)
		if err != nil {
			return funcapp.Poison("invalid-envelope", err)
		}
		return Classify(handle(ctx, e))
	})
}

// Classify turns a block's error into what the runtime does with the message: nil completes
// it; poison (dead-lettered at once, with the reason) for what can never succeed; any other
// error is returned as it is, and the message is redelivered.
func Classify(err error) error {
	var poison *funcapp.PoisonError
	switch {
	case err == nil, errors.As(err, &poison):
		return err
	case errors.Is(err, ErrMalformed):
		return funcapp.Poison("malformed-event", err)
	case errors.Is(err, ErrUnusable):
		return funcapp.Poison("unusable-event", err)
	case errors.Is(err, views.ErrInvalidKey), errors.Is(err, views.ErrTooLarge):
		return funcapp.Poison("unstorable-event", err) // no document can be stored under it
	}
	if _, ok := fault.As(err); ok {
		return funcapp.Poison("unusable-event", err) // a rule says no: retrying cannot help
	}
	return err
}

// eventAttributes describe the event a block handles, on its span.
func eventAttributes(e eventstore.Event) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("meterline.event.type", e.Type), attribute.String("meterline.event.id", e.ID),
		attribute.String("meterline.event.stream", e.Stream), attribute.Int64("meterline.event.version", e.Version)}
}

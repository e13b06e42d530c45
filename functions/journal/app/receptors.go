package app

import (
	"context"

	"meterline/functions/journal/acl"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

// RecordSubscriptionsEvents: every event Subscriptions publishes is recorded.
func RecordSubscriptionsEvents(r Recorder) blocks.Receptor[eventstore.Event] {
	return recordEvents("RecordSubscriptionsEvents", acl.SubscriptionsTopic, r)
}

// RecordCloudAPIEvents: every event the Cloud API publishes is recorded.
func RecordCloudAPIEvents(r Recorder) blocks.Receptor[eventstore.Event] {
	return recordEvents("RecordCloudApiEvents", acl.CloudAPITopic, r)
}

// recordEvents is the receptor of one topic: every type (blocks.EveryType), the envelope as the
// fact. An event stored already (a redelivery, a duplicate publication) completes; an id reused
// with other content, or an envelope the Journal cannot keep, is a fault: dead-lettered with
// the reason, since no retry can change it.
func recordEvents(name, topic string, r Recorder) blocks.Receptor[eventstore.Event] {
	return blocks.Receptor[eventstore.Event]{
		Name:   name,
		Source: blocks.Source[eventstore.Event]{Topic: topic, Types: blocks.EveryType, Translate: acl.Envelope},
		When: func(ctx context.Context, e blocks.Event[eventstore.Event]) error {
			_, _, err := r.Record(ctx, e.Fact)
			return err
		},
	}
}

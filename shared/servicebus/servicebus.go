// Package servicebus publishes a context's events to its Service Bus topic: the adapter behind
// eventstore.Publisher. (Consumers get their messages from the Functions host; package blocks
// reads the envelope.)
//
// One message per event: MessageID = event id (so duplicate detection and consumers dedupe a
// re-publication), CorrelationID = the flow, Subject = event type, Body = the JSON envelope
// (eventstore.MarshalEnvelope), a CloudEvent in structured mode (ContentType
// application/cloudevents+json), and application properties: for subscription filters type,
// schemaVersion, stream, version, source, causationId, createdAt (RFC 3339 string); and the
// CloudEvents AMQP binding's cloudEvents:specversion, id, source, type, time, correlationid,
// causationid.
package servicebus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"meterline/shared/eventstore"
	"meterline/shared/telemetry"
)

// Publisher sends events to one topic. It implements eventstore.Publisher and is safe for
// concurrent use.
type Publisher struct {
	topic  string
	sender *azservicebus.Sender
}

var _ eventstore.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher on topic. Close it when done.
func NewPublisher(client *azservicebus.Client, topic string) (*Publisher, error) {
	sender, err := client.NewSender(topic, nil)
	if err != nil {
		return nil, fmt.Errorf("servicebus: sender for %q: %w", topic, err)
	}
	return &Publisher{topic: topic, sender: sender}, nil
}

// Close closes the sender (not the client).
func (p *Publisher) Close(ctx context.Context) error { return p.sender.Close(ctx) }

// Publish sends one message per event: a single message alone, more in as few batches as
// fit. Not atomic across batches; a failure part way is fixed by publishing again (the
// outbox sweep does), the duplicates carrying the same message ids.
func (p *Publisher) Publish(ctx context.Context, events ...eventstore.Event) (err error) {
	ctx, span := telemetry.Start(ctx, "publish "+p.topic, trace.SpanKindProducer,
		attribute.String("messaging.system", "servicebus"), attribute.String("messaging.destination.name", p.topic),
		attribute.Int("messaging.batch.message_count", len(events)))
	defer func() { telemetry.End(span, err) }()
	if len(events) == 1 {
		m, err := Message(events[0])
		if err != nil {
			return err
		}
		if err := p.sender.SendMessage(ctx, m, nil); err != nil {
			return p.sendError(events[0], err)
		}
		return nil
	}
	var batch *azservicebus.MessageBatch
	for i := 0; i < len(events); {
		if batch == nil {
			b, err := p.sender.NewMessageBatch(ctx, nil)
			if err != nil {
				return fmt.Errorf("servicebus: batch for %q: %w", p.topic, err)
			}
			batch = b
		}
		m, err := Message(events[i])
		if err != nil {
			return err
		}
		err = batch.AddMessage(m, nil)
		switch {
		case err == nil:
			i++
			continue
		case !errors.Is(err, azservicebus.ErrMessageTooLarge):
			return fmt.Errorf("servicebus: batch for %q: %w", p.topic, err)
		case batch.NumMessages() == 0:
			return fmt.Errorf("%w: event %s does not fit a message to %q", eventstore.ErrPayloadTooLarge, events[i].ID, p.topic)
		}
		// The batch is full: send it and start another with the same event.
		if err := p.sender.SendMessageBatch(ctx, batch, nil); err != nil {
			return fmt.Errorf("servicebus: send batch to %q: %w", p.topic, err)
		}
		batch = nil
	}
	if batch != nil && batch.NumMessages() > 0 {
		if err := p.sender.SendMessageBatch(ctx, batch, nil); err != nil {
			return fmt.Errorf("servicebus: send batch to %q: %w", p.topic, err)
		}
	}
	return nil
}

func (p *Publisher) sendError(e eventstore.Event, err error) error {
	var sbErr *azservicebus.Error
	if errors.Is(err, azservicebus.ErrMessageTooLarge) || (errors.As(err, &sbErr) && sbErr.Code == "message_too_large") {
		return fmt.Errorf("%w: event %s to %q: %v", eventstore.ErrPayloadTooLarge, e.ID, p.topic, err)
	}
	return fmt.Errorf("servicebus: send event %s to %q: %w", e.ID, p.topic, err)
}

// ContentType is the message's: the body is a CloudEvent in the JSON format (the CloudEvents
// AMQP binding's structured mode).
const ContentType = "application/cloudevents+json; charset=utf-8"

// Message is the Service Bus message of an event.
func Message(e eventstore.Event) (*azservicebus.Message, error) {
	body, err := eventstore.MarshalEnvelope(e)
	if err != nil {
		return nil, err
	}
	if e.ID == "" || e.Type == "" {
		return nil, fmt.Errorf("%w: an event needs an id and a type to be published", eventstore.ErrInvalidEvent)
	}
	m := &azservicebus.Message{
		MessageID:   &e.ID,
		Subject:     &e.Type,
		ContentType: ptr(ContentType),
		Body:        body,
		ApplicationProperties: map[string]any{
			"type":          e.Type,
			"schemaVersion": int32(e.SchemaVersion),
			"stream":        e.Stream,
			"version":       e.Version,
			"source":        e.Source,
			"causationId":   e.CausationID,
			"createdAt":     e.CreatedAt.UTC().Format(time.RFC3339Nano),
			// The CloudEvents AMQP binding's attributes, for CloudEvents-aware consumers.
			"cloudEvents:specversion": eventstore.SpecVersion,
			"cloudEvents:id":          e.ID,
			"cloudEvents:source":      e.Source,
			"cloudEvents:type":        e.Type,
			"cloudEvents:time":        e.CreatedAt.UTC(),
		},
	}
	if e.CorrelationID != "" {
		m.ApplicationProperties["cloudEvents:correlationid"] = e.CorrelationID
	}
	if e.CausationID != "" {
		m.ApplicationProperties["cloudEvents:causationid"] = e.CausationID
	}
	if e.TraceParent != "" {
		// W3C trace context for the consumer (package telemetry); Diagnostic-Id is the name
		// Application Insights correlates Service Bus messages by.
		m.ApplicationProperties["traceparent"] = e.TraceParent
		m.ApplicationProperties["Diagnostic-Id"] = e.TraceParent
	}
	if e.CorrelationID != "" {
		m.CorrelationID = &e.CorrelationID
	}
	return m, nil
}

func ptr[T any](v T) *T { return &v }

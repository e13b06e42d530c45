package eventstore

import (
	"encoding/json"
	"fmt"
	"time"
)

// envelope is the wire form of an Event (seed 003): stable lower-camel names, shared by every
// publisher and consumer. Never rename a field; add new ones (readers ignore unknown fields).
//
// It is also a CloudEvents 1.0 event in the JSON format: id, type and source were there from the
// start; specversion, time, datacontenttype and the lowercase extension attributes
// correlationid and causationid were added beside the older names, which stay for the readers
// of stored streams.
type envelope struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Stream        string          `json:"stream"`
	Version       int64           `json:"version"`
	Source        string          `json:"source"`
	CreatedAt     time.Time       `json:"createdAt"`
	CorrelationID string          `json:"correlationId,omitempty"`
	CausationID   string          `json:"causationId,omitempty"`
	Data          json.RawMessage `json:"data"`

	// CloudEvents 1.0.
	SpecVersion     string    `json:"specversion"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Correlation     string    `json:"correlationid,omitempty"`
	Causation       string    `json:"causationid,omitempty"`
	// The CloudEvents distributed-tracing extension.
	TraceParent string `json:"traceparent,omitempty"`
}

// CloudEvents attribute values of every envelope.
const (
	SpecVersion     = "1.0"
	DataContentType = "application/json"
)

// MarshalEnvelope returns the JSON envelope of e, the body of its Service Bus message.
func MarshalEnvelope(e Event) ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	b, err := json.Marshal(envelope{
		ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion, Stream: e.Stream, Version: e.Version,
		Source: e.Source, CreatedAt: e.CreatedAt.UTC(), CorrelationID: e.CorrelationID,
		CausationID: e.CausationID, Data: data,
		SpecVersion: SpecVersion, Time: e.CreatedAt.UTC(), DataContentType: DataContentType,
		Correlation: e.CorrelationID, Causation: e.CausationID, TraceParent: e.TraceParent,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return b, nil
}

// UnmarshalEnvelope decodes a JSON envelope: ours, older ones without the CloudEvents
// attributes, or a CloudEvents 1.0 event with only those (time, correlationid, causationid).
// Unknown fields are ignored; an envelope without id or type, with a specversion other than 1.0,
// or that is not JSON, gives ErrInvalidEvent.
func UnmarshalEnvelope(b []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return Event{}, fmt.Errorf("%w: envelope: %v", ErrInvalidEvent, err)
	}
	if env.ID == "" || env.Type == "" {
		return Event{}, fmt.Errorf("%w: envelope without id or type", ErrInvalidEvent)
	}
	if env.SpecVersion != "" && env.SpecVersion != SpecVersion {
		return Event{}, fmt.Errorf("%w: CloudEvents specversion %q, want %s", ErrInvalidEvent, env.SpecVersion, SpecVersion)
	}
	if string(env.Data) == "null" {
		env.Data = nil
	}
	if env.CreatedAt.IsZero() {
		env.CreatedAt = env.Time
	}
	if env.CorrelationID == "" {
		env.CorrelationID = env.Correlation
	}
	if env.CausationID == "" {
		env.CausationID = env.Causation
	}
	return Event{
		ID: env.ID, Type: env.Type, SchemaVersion: env.SchemaVersion, Stream: env.Stream,
		Version: env.Version, Source: env.Source, CreatedAt: env.CreatedAt.UTC(),
		CorrelationID: env.CorrelationID, CausationID: env.CausationID, TraceParent: env.TraceParent, Data: env.Data,
	}, nil
}

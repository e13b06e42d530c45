package eventstore

import (
	"encoding/json"
	"fmt"
	"time"
)

// envelope is the wire form of an Event (seed 003): stable lower-camel names, shared by every
// publisher and consumer. Never rename a field; add new ones (readers ignore unknown fields).
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
}

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
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return b, nil
}

// UnmarshalEnvelope decodes a JSON envelope. Unknown fields are ignored; an envelope without id
// or type, or that is not JSON, gives ErrInvalidEvent.
func UnmarshalEnvelope(b []byte) (Event, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return Event{}, fmt.Errorf("%w: envelope: %v", ErrInvalidEvent, err)
	}
	if env.ID == "" || env.Type == "" {
		return Event{}, fmt.Errorf("%w: envelope without id or type", ErrInvalidEvent)
	}
	if string(env.Data) == "null" {
		env.Data = nil
	}
	return Event{
		ID: env.ID, Type: env.Type, SchemaVersion: env.SchemaVersion, Stream: env.Stream,
		Version: env.Version, Source: env.Source, CreatedAt: env.CreatedAt.UTC(),
		CorrelationID: env.CorrelationID, CausationID: env.CausationID, Data: env.Data,
	}, nil
}

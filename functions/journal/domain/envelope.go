// Package domain is the Journal's rules, free of storage: what an envelope must hold to be
// recorded (the ingest parser), the faults the Journal answers with, and the monthly report's
// fold.
//
// The Journal is seed 003's source of truth: it keeps every event of every context, forever,
// as it was published. It does not interpret events on the way in; only its projections do,
// through the ACL (package acl).
package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"meterline/shared/eventstore"
	"meterline/shared/fault"
)

// ParseEnvelope reads the body of POST /api/journal/events: one envelope, ours or a CloudEvents
// 1.0 event in the JSON format (see eventstore.UnmarshalEnvelope), and checks it
// (CheckEnvelope). Every refusal is a fault of kind Invalid, code "invalid_envelope", whose
// message says why.
func ParseEnvelope(body []byte) (eventstore.Event, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return eventstore.Event{}, invalid("the body is empty; send one envelope as JSON", nil)
	}
	var binary struct {
		DataBase64 *string `json:"data_base64"`
	}
	if err := json.Unmarshal(body, &binary); err == nil && binary.DataBase64 != nil {
		return eventstore.Event{}, invalid("data_base64 is not supported: the Journal keeps JSON data", nil)
	}
	e, err := eventstore.UnmarshalEnvelope(body)
	if err != nil {
		return eventstore.Event{}, invalid(reason(err), err)
	}
	return CheckEnvelope(e)
}

// reason is the message of an envelope error, without the kit's prefixes.
func reason(err error) string {
	msg := strings.TrimPrefix(err.Error(), eventstore.ErrInvalidEvent.Error()+": ")
	if strings.Contains(msg, "without id or type") {
		return "id and type are required"
	}
	return "not an envelope: " + strings.TrimPrefix(msg, "envelope: ")
}

// CheckEnvelope checks an envelope decoded elsewhere (a Service Bus message) and returns it in
// canonical form: times in UTC, data in CanonicalJSON. It must have an id, a type, a source and a time;
// its data, if any, must be UTF-8 JSON; versions are not negative.
func CheckEnvelope(e eventstore.Event) (eventstore.Event, error) {
	switch {
	case e.ID == "":
		return e, invalid("id is required", nil)
	case e.Type == "":
		return e, invalid("type is required", nil)
	case e.Source == "":
		return e, invalid("source is required", nil)
	case e.CreatedAt.IsZero():
		return e, invalid("time is required (createdAt, or the CloudEvents time)", nil)
	case e.CreatedAt.UTC().Year() < 1 || e.CreatedAt.UTC().Year() > 9999:
		return e, invalid("time must be in the years 0001 to 9999 (UTC)", nil)
	case e.Version < 0 || e.SchemaVersion < 0:
		return e, invalid("version and schemaVersion cannot be negative", nil)
	case !utf8.Valid(e.Data):
		return e, invalid("data is not UTF-8", nil)
	}
	e.CreatedAt = e.CreatedAt.UTC()
	if len(e.Data) > 0 {
		data, err := CanonicalJSON(e.Data)
		if err != nil {
			return e, invalid("data is not JSON", err)
		}
		e.Data = data
	}
	return e, nil
}

func invalid(message string, err error) *fault.Error {
	return &fault.Error{Kind: fault.Invalid, Code: "invalid_envelope", Message: message, Err: err}
}

// AlreadyStored is the answer to an event stored before with the same content (seed 003:
// delivery is ensureIs(200, 409)).
func AlreadyStored(id string, receivedAt time.Time) *fault.Error {
	return &fault.Error{Kind: fault.Conflict, Code: "already_stored",
		Message: fmt.Sprintf("event %q is stored already (received %s); nothing changed", id, receivedAt.UTC().Format(time.RFC3339Nano))}
}

// IDReused is the answer to an event whose id is stored with other content: a producer bug that
// retrying cannot fix.
func IDReused(id string, receivedAt time.Time) *fault.Error {
	return &fault.Error{Kind: fault.Unprocessable, Code: "event_id_reused",
		Message: fmt.Sprintf("event id %q is stored (received %s) with other content; an event id names one event forever", id, receivedAt.UTC().Format(time.RFC3339Nano))}
}

// Unstorable is the answer to an envelope the Journal cannot keep (a key too long, a payload
// too large): well-formed, but no retry can store it.
func Unstorable(reason string, err error) *fault.Error {
	return &fault.Error{Kind: fault.Invalid, Code: "invalid_envelope", Message: reason, Err: err}
}

// IsInvalidEnvelope reports whether err is a refusal of ParseEnvelope or CheckEnvelope.
func IsInvalidEnvelope(err error) bool {
	f, ok := fault.As(err)
	return ok && errors.Is(err, fault.Invalid) && f.Code == "invalid_envelope"
}

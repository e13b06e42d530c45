package eventstore

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits every Store enforces alike, before it writes anything, so that code tested against the
// in-memory store behaves the same on Table Storage.
const (
	// MaxEventsPerAppend: one Table entity-group transaction holds at most 100 operations; an
	// append of n events writes n event rows, n event-id rows, n outbox marks and the stream
	// header: 3n+1 <= 100.
	MaxEventsPerAppend = 33
	// MaxPayloadBytes caps one event's Data. Payloads above a table property's 64 KiB are
	// offloaded to a blob by the table store; beyond this cap an event is refused.
	MaxPayloadBytes = 4 << 20
	// MaxStreamLength is the longest stream name (a PartitionKey holds 1 KiB of UTF-16).
	MaxStreamLength = 512
	// MaxIDLength is the longest event id (it is part of a RowKey and a blob name).
	MaxIDLength = 200
	// MaxMetadataLength caps Type, Source, CorrelationID, CausationID and TraceParent.
	MaxMetadataLength = 1024
)

// ValidateStream checks a stream name: non-empty, at most MaxStreamLength bytes, valid UTF-8,
// and free of the characters a table key forbids ('/', '\\', '#', '?', control characters).
func ValidateStream(stream string) error {
	if err := validateKey(stream, MaxStreamLength); err != nil {
		return fmt.Errorf("%w: %q: %s", ErrInvalidStream, truncate(stream), err)
	}
	return nil
}

func validateKey(s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty")
	case len(s) > max:
		return fmt.Errorf("longer than %d bytes", max)
	case !utf8.ValidString(s):
		return fmt.Errorf("not UTF-8")
	}
	for _, r := range s {
		if r == '/' || r == '\\' || r == '#' || r == '?' || unicode.IsControl(r) {
			return fmt.Errorf("holds the forbidden character %q", r)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Prepare validates an append and returns copies of events ready to store: Stream set, Version
// cleared (the store numbers them), CreatedAt in UTC at microsecond precision (now if zero).
// Errors: ErrInvalidStream, ErrTooManyEvents, ErrInvalidEvent (missing id/type/data, data not
// JSON, an id twice, over-long metadata), ErrPayloadTooLarge. Nothing is written on error.
func Prepare(stream string, events []Event, now time.Time) ([]Event, error) {
	if err := ValidateStream(stream); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: no events to append", ErrInvalidEvent)
	}
	if len(events) > MaxEventsPerAppend {
		return nil, fmt.Errorf("%w: %d events, at most %d per append", ErrTooManyEvents, len(events), MaxEventsPerAppend)
	}
	seen := make(map[string]bool, len(events))
	out := make([]Event, len(events))
	for i, e := range events {
		if err := validateKey(e.ID, MaxIDLength); err != nil {
			return nil, fmt.Errorf("%w: event %d: id %q: %s", ErrInvalidEvent, i, truncate(e.ID), err)
		}
		if seen[e.ID] {
			return nil, fmt.Errorf("%w: event id %q twice in one append", ErrInvalidEvent, e.ID)
		}
		seen[e.ID] = true
		if e.Type == "" {
			return nil, fmt.Errorf("%w: event %s has no type", ErrInvalidEvent, e.ID)
		}
		for _, m := range []string{e.Type, e.Source, e.CorrelationID, e.CausationID, e.TraceParent} {
			if len(m) > MaxMetadataLength || !utf8.ValidString(m) {
				return nil, fmt.Errorf("%w: event %s: metadata longer than %d bytes or not UTF-8", ErrInvalidEvent, e.ID, MaxMetadataLength)
			}
		}
		if len(e.Data) > MaxPayloadBytes {
			return nil, fmt.Errorf("%w: event %s: %d bytes, at most %d", ErrPayloadTooLarge, e.ID, len(e.Data), MaxPayloadBytes)
		}
		if len(e.Data) == 0 || !json.Valid(e.Data) || !utf8.Valid(e.Data) {
			// UTF-8 too: invalid bytes would be silently replaced by the stores' encoders.
			return nil, fmt.Errorf("%w: event %s: data is not UTF-8 JSON", ErrInvalidEvent, e.ID)
		}
		e.Stream = stream
		e.Version = 0
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
		e.Data = append(json.RawMessage(nil), e.Data...)
		out[i] = e
	}
	return out, nil
}

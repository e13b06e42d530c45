package eventstore

import (
	"errors"
	"fmt"
)

// Errors of the store. Adapters translate their SDK's errors into these, so callers never see
// an Azure type. Test with errors.Is / errors.As.
var (
	// ErrInvalidStream: empty stream name, too long, or holding characters a table key forbids.
	ErrInvalidStream = errors.New("eventstore: invalid stream name")
	// ErrInvalidEvent: an event without ID, Type or Data, or with invalid JSON Data.
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrTooManyEvents: more events in one Append than one atomic transaction can hold.
	ErrTooManyEvents = errors.New("eventstore: too many events for one atomic append")
	// ErrPayloadTooLarge: an event too big to store, even offloaded.
	ErrPayloadTooLarge = errors.New("eventstore: event payload too large")
	// ErrUnknownEventType: a type name (or Go type) the Registry does not know.
	ErrUnknownEventType = errors.New("eventstore: unknown event type")
	// ErrInvalidExpected: an expected version below Any.
	ErrInvalidExpected = errors.New("eventstore: invalid expected version")
	// ErrPartlyStored: an append whose event ids are partly already in the stream. A retry
	// re-sends exactly what it sent before, so a mix means different events reuse stored ids.
	ErrPartlyStored = errors.New("eventstore: some events of the append are already stored, others not")
)

// ConflictError is returned when a stream is not at the expected version. Committed holds the
// events stored after the expected version (all of them for Any/NoStream conflicts), so the
// caller can check them for conflicts with its own and rebase.
type ConflictError struct {
	Stream    string
	Expected  Expected
	Actual    int64 // the stream's version when the append was refused
	Committed []Event
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventstore: stream %q is at version %d, expected %d", e.Stream, e.Actual, e.Expected)
}

// ErrConflict matches any *ConflictError with errors.Is.
var ErrConflict = errors.New("eventstore: concurrency conflict")

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Package eventstore keeps every event of a bounded context forever, one stream per aggregate,
// and hands each appended event to a transactional outbox for publication.
//
// A stream is an ordered list of events with versions 1, 2, 3, ... Appends are atomic and
// optimistic: the caller says which version it expects the stream to be at, and a concurrent
// writer makes the append fail with a *ConflictError that carries the events the caller missed,
// so that an application service can merge or retry (seed 001's DispatchAndMergeConflicts).
//
// Appends are idempotent by event ID: re-appending an event whose ID is already in the stream
// changes nothing and reports where it is stored, so a retry after a timeout never duplicates.
// Idempotency is checked before the expected version (the retry's expected version is stale
// by its own success). An append mixing stored and new ids is refused whole with
// ErrPartlyStored. Event ids are per stream.
//
// Every store checks the same limits before writing anything (limits.go, Prepare): at most
// MaxEventsPerAppend events, MaxPayloadBytes per payload, valid stream names and events; bad
// input gets a typed error and leaves storage unchanged.
//
// Publication: the Outbox lists appended events not yet published (package outbox dispatches
// and sweeps them; a StreamOutbox also lists those of one stream, so that a retried command
// can flush them at once); package servicebus sends them, one message per event with MessageId = ID
// and the envelope of MarshalEnvelope as body.
//
// Snapshots (snapshot.go): a SnapshotStore keeps the newest snapshot of an aggregate's state per
// stream, so that a load reads it and the events after it (package aggregate does this). They
// are only an optimisation; the stream stays the truth.
//
// Store and SnapshotStore are implemented by the Azure Table Storage adapter (package
// tablestore: one stream per partition, its snapshot in the same partition) and by an
// in-memory twin (package memstore); both pass the same conformance suite (package
// eventstoretest).
package eventstore

import (
	"context"
	"encoding/json"
	"time"
)

// Event is the envelope every event travels in, stored and published alike (seed 003).
type Event struct {
	ID            string          // unique forever; the idempotency key and the Service Bus MessageId
	Type          string          // registered type name, e.g. "subscriptions.CustomerLocked"
	SchemaVersion int             // version of Data's shape for Type; readers tolerate others
	Stream        string          // aggregate stream, e.g. "customer-42"
	Version       int64           // position in Stream, from 1; set by the store
	Source        string          // the bounded context that wrote it, e.g. "subscriptions"
	CreatedAt     time.Time       // when the event happened (UTC)
	CorrelationID string          // the business flow this belongs to
	CausationID   string          // the message (command or event) that caused it
	TraceParent   string          // W3C traceparent of the work that made it (package telemetry)
	Data          json.RawMessage // the payload, JSON
}

// Expected is the version a writer expects a stream to be at.
type Expected int64

const (
	// Any appends whatever the stream's version.
	Any Expected = -1
	// NoStream appends only if the stream does not exist yet.
	NoStream Expected = 0
)

// Exact expects the stream to be at exactly version v (v >= 1); Exact(0) is NoStream.
func Exact(v int64) Expected { return Expected(v) }

// Appended reports where an append landed.
type Appended struct {
	Stream       string
	FirstVersion int64 // version of the first event of the call
	LastVersion  int64 // version of the last event, which is now the stream's version
	Duplicate    bool  // every event was already stored: nothing was written
}

// Store appends to and reads streams.
type Store interface {
	// Append writes events atomically at the end of stream if its version matches expected,
	// else returns a *ConflictError. Stream, Version are filled by the store (CreatedAt too if
	// zero); ID, Type and Data (JSON) are required. The caller's events are not modified.
	Append(ctx context.Context, stream string, expected Expected, events ...Event) (Appended, error)
	// Read returns the events of stream with Version >= from, in order. A stream that does not
	// exist reads as empty.
	Read(ctx context.Context, stream string, from int64) ([]Event, error)
}

// Outbox is the publication side of a Store: events appended but not yet confirmed published.
type Outbox interface {
	// Pending lists events still marked for publication, oldest first, at most limit (0 = all).
	Pending(ctx context.Context, limit int) ([]Event, error)
	// MarkPublished clears the publication marks of events (by stream and version). Clearing an
	// already cleared mark is not an error.
	MarkPublished(ctx context.Context, events ...Event) error
}

// StreamOutbox is an Outbox that can also list the pending events of one stream, cheaply
// enough to ask on a request path (one partition on tables, not the whole-table scan of
// Pending). Optional: the outbox dispatcher uses it when its Outbox has it.
type StreamOutbox interface {
	Outbox
	// PendingIn lists the events of stream still marked for publication, in version order.
	// A stream that does not exist has none; an invalid name is ErrInvalidStream.
	PendingIn(ctx context.Context, stream string) ([]Event, error)
}

// Publisher sends events to the context's topic. Publishing the same event twice is allowed:
// consumers dedupe by event ID (and Service Bus duplicate detection by MessageId may drop it).
type Publisher interface {
	Publish(ctx context.Context, events ...Event) error
}

// Scanner reads every event of a store, for tools that rebuild read models from scratch.
type Scanner interface {
	// Scan calls fn for every event, stream by stream, each stream in version order; it stops
	// at fn's first error and returns it.
	Scan(ctx context.Context, fn func(Event) error) error
}

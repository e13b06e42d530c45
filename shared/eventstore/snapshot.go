package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Snapshot is an aggregate's state at a version of its stream, kept beside the stream so that a
// load reads the snapshot and the events after it instead of the whole stream.
//
// A snapshot is only an optimisation: the stream stays the truth. A reader that finds no
// snapshot, or one it cannot use (another schema, unreadable), replays the stream instead
// (package aggregate does). Snapshots are written after the append they reflect, not in its
// transaction: an append already fills a Table transaction (MaxEventsPerAppend), and a lost
// snapshot write costs only a longer replay next time.
type Snapshot struct {
	Stream        string
	Version       int64           // the stream version the state reflects: events 1..Version applied
	SchemaVersion int             // version of Data's shape, chosen by the aggregate; >= 1
	Data          json.RawMessage // the state, JSON
}

// SnapshotStore keeps at most one snapshot per stream, the newest by version.
type SnapshotStore interface {
	// SaveSnapshot stores s unless the stream already has a snapshot at a higher version (then
	// it changes nothing and returns nil): a slow writer never replaces a newer snapshot with
	// an older one. One at the same version replaces the stored one (both reflect the same
	// events; this also repairs a snapshot its reader could not use). A snapshot beyond the
	// stream's current version is refused with ErrInvalidSnapshot: it cannot reflect events
	// that do not exist. Errors: ErrInvalidStream, ErrInvalidSnapshot, ErrSnapshotTooLarge;
	// nothing is written on error.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LoadSnapshot returns the stream's snapshot; ok is false if it has none. A stored snapshot
	// the store cannot read back gives an error wrapping ErrInvalidSnapshot.
	LoadSnapshot(ctx context.Context, stream string) (s Snapshot, ok bool, err error)
}

// MaxSnapshotBytes caps a snapshot's Data: a quarter of a Table entity's 1 MiB, so that
// snapshots stay quick to read. An aggregate whose state is bigger is not snapshotted (the
// save fails with ErrSnapshotTooLarge): its loads replay the stream.
const MaxSnapshotBytes = 256 << 10

// Errors of snapshots.
var (
	// ErrInvalidSnapshot: a snapshot without version or schema version, with data that is not
	// JSON, beyond the end of its stream, or stored in a shape the store cannot read.
	ErrInvalidSnapshot = errors.New("eventstore: invalid snapshot")
	// ErrSnapshotTooLarge: a snapshot's data over MaxSnapshotBytes.
	ErrSnapshotTooLarge = errors.New("eventstore: snapshot too large")
)

// ValidateSnapshot checks what every SnapshotStore checks before writing (not the stream's
// version, which only the store knows).
func ValidateSnapshot(s Snapshot) error {
	if err := ValidateStream(s.Stream); err != nil {
		return err
	}
	switch {
	case s.Version < 1:
		return fmt.Errorf("%w: stream %q: version %d, want >= 1", ErrInvalidSnapshot, truncate(s.Stream), s.Version)
	case s.SchemaVersion < 1:
		return fmt.Errorf("%w: stream %q: schema version %d, want >= 1", ErrInvalidSnapshot, truncate(s.Stream), s.SchemaVersion)
	case len(s.Data) > MaxSnapshotBytes:
		return fmt.Errorf("%w: stream %q: %d bytes, at most %d", ErrSnapshotTooLarge, truncate(s.Stream), len(s.Data), MaxSnapshotBytes)
	case len(s.Data) == 0 || !json.Valid(s.Data) || !utf8.Valid(s.Data):
		return fmt.Errorf("%w: stream %q: data is not UTF-8 JSON", ErrInvalidSnapshot, truncate(s.Stream))
	}
	return nil
}

// SnapshotBeyondEnd is the error of a snapshot whose version the stream has not reached.
func SnapshotBeyondEnd(s Snapshot, streamVersion int64) error {
	return fmt.Errorf("%w: stream %q is at version %d, the snapshot at %d", ErrInvalidSnapshot, truncate(s.Stream), streamVersion, s.Version)
}

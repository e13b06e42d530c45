// Package app is the Journal application, built from seed 001's building blocks in the shape
// every context uses, and from seed 003's source of truth:
//
//   - Services (services.go): the Recorder stores an event once (its answers: stored, already
//     stored, refused); the Reader reads by type and received time, or by stream, from the
//     tables and, for archived days, from the archive, so that callers never see the difference.
//   - Receptors (receptors.go: RecordSubscriptionsEvents, RecordCloudApiEvents): every event of
//     a topic (blocks.EveryType) is recorded; a redelivery is "already stored" and completes.
//   - Projections (projections.go: MonthlyReports): checkpointed projections (seed 003), run by
//     a timer, not by the topics: each reads the events of its types received after its
//     checkpoint and before the stable horizon, in received order, folds them into documents
//     that remember the last event they took, and then moves its checkpoint.
//   - Tasks (tasks.go): JournalProjections (repair, horizon, projections) and JournalArchive
//     (days older than the archive setting to append blobs, verified, then stubbed).
package app

import (
	"context"
	"io"
	"time"

	"meterline/functions/journal/store"
	"meterline/shared/eventstore"
)

// Records is the Journal's storage as the application uses it (*store.Journal).
type Records interface {
	Record(ctx context.Context, e eventstore.Event, now time.Time) (store.Record, bool, error)
	ByType(ctx context.Context, typ, day string, after store.Position, before time.Time, limit int) ([]store.Record, error)
	ByStream(ctx context.Context, stream string, after store.StreamPosition, limit int) ([]store.Record, error)
	InFlight(ctx context.Context) ([]store.Position, error)
	Repair(ctx context.Context, before time.Time) (int, error)
	Days(ctx context.Context) ([]string, error)
	Types(ctx context.Context) ([]string, error)
	Archived(ctx context.Context, day string, records []store.Record) error
}

// Archive keeps the archived days (*store.Journal).
type Archive interface {
	OpenDay(ctx context.Context, day string) (io.ReadCloser, error)
	AppendDay(ctx context.Context, day string, at int64, chunk []byte) error
	Seal(ctx context.Context, day string, s store.Seal) error
	Seals(ctx context.Context) (map[string]store.Seal, error)
}

package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"meterline/functions/journal/store"
	"meterline/shared/funcapp"
)

// Projection is a checkpointed projection as the task runs it.
type Projection interface {
	ProjectionName() string
	Run(ctx context.Context, src EventSource, horizon time.Time) (int, error)
}

// ProjectionRunner is the JournalProjections task (seed 003's cron, every ten seconds): it
// finishes the ingests that died half-way, computes the stable horizon and runs every
// projection up to it.
type ProjectionRunner struct {
	Records     Records
	Source      EventSource
	Projections []Projection
	Grace       time.Duration // how late an event may become visible after its received_at
	Now         func() time.Time
}

// Horizon is where projections may read up to at now: the grace period ago, and never past the
// oldest ingest in flight, whose index rows may appear at any moment with its received_at.
func (t *ProjectionRunner) Horizon(ctx context.Context, now time.Time) (time.Time, error) {
	horizon := now.Add(-t.Grace)
	inFlight, err := t.Records.InFlight(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if len(inFlight) > 0 && inFlight[0].At.Before(horizon) {
		horizon = inFlight[0].At
	}
	return horizon, nil
}

// Run is one tick. Safe to repeat and to overlap with itself.
func (t *ProjectionRunner) Run(ctx context.Context) error {
	now := t.Now()
	log := funcapp.Logger(ctx)
	// Marks older than the grace period are ingests that died: settle them, so that they do
	// not hold the horizon back (a failure here only delays it; Horizon still honours them).
	repaired, repairErr := t.Records.Repair(ctx, now.Add(-t.Grace))
	horizon, err := t.Horizon(ctx, now)
	if err != nil {
		return errors.Join(repairErr, err)
	}
	errs := []error{repairErr}
	for _, p := range t.Projections {
		n, err := p.Run(ctx, t.Source, horizon)
		if err != nil {
			errs = append(errs, fmt.Errorf("projection %s: %w", p.ProjectionName(), err))
		}
		log.InfoContext(ctx, "journal projection", "projection", p.ProjectionName(), "events", n,
			"horizon", horizon.Format(time.RFC3339Nano), "repaired", repaired)
	}
	return errors.Join(errs...)
}

// Archiver is the JournalArchive task: every day whose events are all older than After is
// copied to its archive (an append blob of gzip-compressed JSON Lines), the archive is read
// back and compared with the tables, and only then is the day sealed and its rows turned into
// stubs (store.Journal.Archived). An archive that cannot be verified leaves the day untouched.
//
// Safe to repeat and to overlap: a run appends only what the archive lacks, at the length it
// read (another run's append makes it fail, and the next run starts over), and the stubbing
// repeats harmlessly. A day is held in memory while it is archived (its rows, then its archive
// by id): ample for millions of events a day; beyond that it would go type by type.
type Archiver struct {
	Records Records
	Archive Archive
	After   time.Duration
	Now     func() time.Time
}

// ErrNotVerified: the archive of a day does not read back as the tables hold it.
var ErrNotVerified = errors.New("journal: the archive does not read back as the tables hold it")

// Run archives every day old enough.
func (a *Archiver) Run(ctx context.Context) error {
	now := a.Now()
	cutoff := now.Add(-a.After)
	days, err := a.Records.Days(ctx)
	if err != nil {
		return err
	}
	inFlight, err := a.Records.InFlight(ctx)
	if err != nil {
		return err
	}
	log := funcapp.Logger(ctx)
	var errs []error
	for _, day := range days {
		start, err := store.DayStart(day)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		end := start.Add(24 * time.Hour)
		if end.After(cutoff) {
			break // days are in order
		}
		if busy(inFlight, start, end) {
			log.InfoContext(ctx, "journal archive waits for ingests in flight", "day", day)
			continue
		}
		n, err := a.ArchiveDay(ctx, day, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("day %s: %w", day, err))
			log.ErrorContext(ctx, "journal archive failed; nothing deleted", "day", day, "error", err)
			continue
		}
		log.InfoContext(ctx, "journal archived a day", "day", day, "events", n)
	}
	return errors.Join(errs...)
}

func busy(inFlight []store.Position, start, end time.Time) bool {
	for _, p := range inFlight {
		if !p.At.Before(start) && p.At.Before(end) {
			return true
		}
	}
	return false
}

// ArchiveDay archives one day and returns how many events its archive holds.
func (a *Archiver) ArchiveDay(ctx context.Context, day string, now time.Time) (int, error) {
	recs, err := a.rowsOf(ctx, day)
	if err != nil {
		return 0, err
	}
	held, size, _, err := a.read(ctx, day)
	if err != nil {
		return 0, fmt.Errorf("the archive cannot be read: %w", err)
	}
	var missing []store.Record
	for _, r := range recs {
		h, ok := held[r.ID]
		switch {
		case !ok:
			missing = append(missing, r)
		case !h.SameAs(r):
			return 0, fmt.Errorf("%w: event %q", ErrNotVerified, r.ID)
		}
	}
	if len(missing) > 0 {
		chunks, err := store.EncodeChunks(missing)
		if err != nil {
			return 0, err
		}
		at := size
		for _, c := range chunks {
			if err := a.Archive.AppendDay(ctx, day, at, c); err != nil {
				return 0, err
			}
			at += int64(len(c))
		}
	}
	// Read it all back: what is deleted next must be in the archive, byte for byte.
	held, size, sum, err := a.read(ctx, day)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotVerified, err)
	}
	for _, r := range recs {
		if h, ok := held[r.ID]; !ok || !h.SameAs(r) {
			return 0, fmt.Errorf("%w: event %q", ErrNotVerified, r.ID)
		}
	}
	if len(held) > 0 {
		if err := a.Archive.Seal(ctx, day, store.Seal{Events: int64(len(held)), Bytes: size, SHA256: sum, At: now}); err != nil {
			return 0, err
		}
	}
	return len(held), a.Records.Archived(ctx, day, recs)
}

// rowsOf is every event of day still in the tables, type by type.
func (a *Archiver) rowsOf(ctx context.Context, day string) ([]store.Record, error) {
	start, err := store.DayStart(day)
	if err != nil {
		return nil, err
	}
	types, err := a.Records.Types(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Record
	for _, typ := range types {
		after := store.Position{At: start}
		for {
			recs, err := a.Records.ByType(ctx, typ, day, after, start.Add(24*time.Hour), 1000)
			if err != nil {
				return nil, err
			}
			out = append(out, recs...)
			if len(recs) < 1000 {
				break
			}
			after = recs[len(recs)-1].Position()
		}
	}
	return out, nil
}

// read decodes the day's archive: its records by id, its length and its SHA-256.
func (a *Archiver) read(ctx context.Context, day string) (map[string]store.Record, int64, string, error) {
	held := map[string]store.Record{}
	rc, err := a.Archive.OpenDay(ctx, day)
	if err != nil || rc == nil {
		return held, 0, "", err
	}
	defer rc.Close()
	in := &counting{r: rc, h: sha256.New()}
	err = store.DecodeArchive(in, func(r store.Record) error {
		if old, ok := held[r.ID]; ok && !old.SameAs(r) {
			return fmt.Errorf("event %q twice, with other content", r.ID)
		}
		held[r.ID] = r
		return nil
	})
	if err == nil {
		_, err = io.Copy(io.Discard, in) // count to the end, past what the decoder needed
	}
	if err != nil {
		return nil, 0, "", err
	}
	return held, in.n, hex.EncodeToString(in.h.Sum(nil)), nil
}

type counting struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	return n, err
}

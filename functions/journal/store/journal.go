package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"meterline/functions/journal/domain"
	"meterline/shared/eventstore"
)

// Journal is the event journal on a Backend (see the package doc). Safe for concurrent use.
type Journal struct {
	b     Backend
	crash func(Step, string) error
	known sync.Map // catalog rows this process has written: "day/<day>", "type/<type>"
}

// Step is a point between the writes of one event (see the package doc).
type Step string

const (
	// StepIndex: the Events row is stored; the catalog and index rows are not.
	StepIndex Step = "index"
	// StepSettle: the index rows are stored; the in-flight mark is not deleted.
	StepSettle Step = "settle"
)

// Options tune New. The zero value is what production uses.
type Options struct {
	// Crash, for tests: Record calls it at each Step and stops there, as a crash would, when
	// it returns an error.
	Crash func(step Step, id string) error
}

// New returns the Journal on b.
func New(b Backend, opt *Options) *Journal {
	j := &Journal{b: b}
	if opt != nil {
		j.crash = opt.Crash
	}
	return j
}

const (
	eventKey       = "event"
	catalogDays    = "day"
	catalogTypes   = "type"
	catalogSealed  = "sealed"
	endOfPartition = "~" // after every key the Journal writes (they start with a digit or are shorter)
	workers        = 8   // concurrent writes of a bulk operation
)

// Record stores e, received now, unless its id is stored already. It returns the record as
// stored and true when this call stored it (a duplicate received in the same microsecond may
// be told so too); for an id stored with the same content, the stored record and false, having
// written nothing but what a crash of the first attempt left undone; for other content, a
// *ConflictError, having written nothing. Data is stored in domain.CanonicalJSON, so that
// content is the same however a producer spaced and escaped it.
func (j *Journal) Record(ctx context.Context, e eventstore.Event, now time.Time) (Record, bool, error) {
	if err := Check(e); err != nil {
		return Record{}, false, err
	}
	e.CreatedAt = e.CreatedAt.UTC()
	if len(e.Data) > 0 {
		data, err := domain.CanonicalJSON(e.Data)
		if err != nil {
			return Record{}, false, fmt.Errorf("%w: data: %v", ErrInvalidEvent, err)
		}
		e.Data = data
		if string(e.Data) == "null" {
			e.Data = nil // as the envelope reads it
		}
	}
	rec := Record{Event: e, ReceivedAt: now.UTC().Truncate(time.Microsecond)}
	digest := Digest(e)
	blob := ""
	if offloaded(e.Data) {
		// The blob goes before the row that points to it: look for the id first, so that a
		// duplicate or a conflict writes no blob at all.
		if stored, ok, err := j.b.Get(ctx, Events, Escape(e.ID), eventKey); err != nil {
			return Record{}, false, err
		} else if ok {
			return j.again(ctx, stored, digest, "")
		}
		blob = payloadBlob(digest)
		if err := j.b.PutPayload(ctx, blob, e.Data); err != nil {
			return Record{}, false, err
		}
	}
	mark := markRow(rec)
	if err := j.b.Put(ctx, InFlight, mark); err != nil {
		return Record{}, false, err
	}
	row := eventRow(rec, digest, blob)
	err := j.b.Insert(ctx, Events, row)
	if errors.Is(err, ErrExists) {
		stored, ok, gerr := j.b.Get(ctx, Events, row.Partition, eventKey)
		if gerr != nil || !ok {
			return Record{}, false, fmt.Errorf("journal: event %q exists but cannot be read: %v", e.ID, gerr)
		}
		// Our mark is not needed: the stored event has its own (unless it is the very same).
		if mark.Key != markKey(stored) {
			if err := j.b.Delete(ctx, InFlight, mark.Partition, mark.Key); err != nil {
				return Record{}, false, err
			}
		}
		got, _, err := j.again(ctx, stored, digest, blob)
		// The same content received in the same microsecond is this call's own insert, which
		// the SDK retried after a lost answer: stored by this call.
		return got, err == nil && stored.ReceivedAt == row.ReceivedAt, err
	}
	if err != nil {
		return Record{}, false, err // nothing committed; Repair drops the mark
	}
	if err := j.crashAt(StepIndex, e.ID); err != nil {
		return Record{}, false, err
	}
	if err := j.index(ctx, row); err != nil {
		return Record{}, false, err
	}
	if err := j.crashAt(StepSettle, e.ID); err != nil {
		return Record{}, false, err
	}
	// Stored and indexed: a mark that cannot be deleted now only holds the horizon back until
	// Repair deletes it, so this does not fail the call.
	_ = j.b.Delete(ctx, InFlight, mark.Partition, mark.Key)
	return rec, true, nil
}

func (j *Journal) crashAt(step Step, id string) error {
	if j.crash == nil {
		return nil
	}
	if err := j.crash(step, id); err != nil {
		return fmt.Errorf("journal: stopped at %s: %w", step, err)
	}
	return nil
}

// again answers an id that is stored already: a duplicate (repairing what a crash of the first
// attempt may have left undone) or a conflict (dropping the payload blob this attempt wrote).
func (j *Journal) again(ctx context.Context, stored Row, digest, blob string) (Record, bool, error) {
	rec, err := j.record(ctx, stored)
	if err != nil {
		return Record{}, false, err
	}
	if stored.Digest != digest {
		if blob != "" && blob != stored.DataBlob {
			_ = j.b.DeletePayload(ctx, blob) // named after our content: nothing else points to it
		}
		return Record{}, false, &ConflictError{ID: rec.ID, Stored: rec}
	}
	// Its mark is still there only if its ingest has not settled (it died, or is under way):
	// then this retry settles it. Without a mark there is nothing to repair and nothing is
	// written, which also keeps a late duplicate off the rows of a day being archived.
	_, inFlight, err := j.b.Get(ctx, InFlight, shard(stored.EventID), markKey(stored))
	if err != nil {
		return Record{}, false, err
	}
	if inFlight && stored.ArchivedOn == "" {
		if err := j.settle(ctx, stored); err != nil {
			return Record{}, false, err
		}
	}
	return rec, false, nil
}

// settle writes what follows the commit of row: its catalog and index rows, then deletes its
// mark. Every write is an upsert of the same content, so settling twice is harmless.
func (j *Journal) settle(ctx context.Context, row Row) error {
	if err := j.index(ctx, row); err != nil {
		return err
	}
	return j.b.Delete(ctx, InFlight, shard(row.EventID), markKey(row))
}

// markKey is the key of the in-flight mark of an Events row.
func markKey(row Row) string { return row.ReceivedAt + "~" + Escape(row.EventID) }

// index writes the catalog rows of row (once per process) and its ByType and ByStream copies.
func (j *Journal) index(ctx context.Context, row Row) error {
	day := row.ReceivedAt[:len(time.DateOnly)]
	for _, c := range []Row{{Partition: catalogDays, Key: day}, {Partition: catalogTypes, Key: Escape(row.Type)}} {
		id := c.Partition + "/" + c.Key
		if _, ok := j.known.Load(id); ok {
			continue
		}
		if err := j.b.Put(ctx, Catalog, c); err != nil {
			return err
		}
		j.known.Store(id, true)
	}
	byType := row
	byType.Partition, byType.Key = typePartition(row.Type, day), markKey(row)
	if row.Stream == "" {
		return j.b.Put(ctx, ByType, byType)
	}
	byStream := row
	byStream.Partition = Escape(row.Stream)
	byStream.Key = StreamPosition{Version: row.Version, ID: row.EventID}.Key()
	var wg sync.WaitGroup
	var streamErr error
	wg.Go(func() { streamErr = j.b.Put(ctx, ByStream, byStream) })
	typeErr := j.b.Put(ctx, ByType, byType)
	wg.Wait()
	return errors.Join(typeErr, streamErr)
}

// Get returns the record stored under id (a stub, without payload, once archived).
func (j *Journal) Get(ctx context.Context, id string) (Record, bool, error) {
	if id == "" || len(Escape(id)) > MaxKeyUnits {
		return Record{}, false, nil
	}
	row, ok, err := j.b.Get(ctx, Events, Escape(id), eventKey)
	if err != nil || !ok {
		return Record{}, false, err
	}
	rec, err := j.record(ctx, row)
	return rec, err == nil, err
}

// ByType returns the records of type typ received on day, after position after and before
// time before, in received order, at most limit (default 1000). Days whose rows are archived
// read as empty: their records are in the day's archive.
func (j *Journal) ByType(ctx context.Context, typ, day string, after Position, before time.Time, limit int) ([]Record, error) {
	if limit <= 0 {
		limit = 1000
	}
	if typ == "" || len(Escape(typ)) > MaxKeyUnits {
		return nil, nil
	}
	if _, err := DayStart(day); err != nil {
		return nil, err
	}
	rows, err := j.b.Range(ctx, ByType, typePartition(typ, day), after.Key(), Position{At: before}.Key(), limit)
	if err != nil {
		return nil, err
	}
	return j.records(ctx, rows)
}

// ByStream returns the records of stream after position after, in stream order, at most limit
// (default 1000). Archived records come as stubs (ArchivedOn set, no payload).
func (j *Journal) ByStream(ctx context.Context, stream string, after StreamPosition, limit int) ([]Record, error) {
	if limit <= 0 {
		limit = 1000
	}
	if stream == "" || len(Escape(stream)) > MaxKeyUnits {
		return nil, nil
	}
	rows, err := j.b.Range(ctx, ByStream, Escape(stream), after.Key(), endOfPartition, limit)
	if err != nil {
		return nil, err
	}
	return j.records(ctx, rows)
}

// records decodes rows, fetching offloaded payloads.
func (j *Journal) records(ctx context.Context, rows []Row) ([]Record, error) {
	out := make([]Record, len(rows))
	for i, r := range rows {
		rec, err := j.record(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = rec
	}
	return out, nil
}

// InFlight lists the positions of ingests under way (or dead half-way), oldest first. A
// projection's horizon must not pass the first: its index rows may be about to appear.
func (j *Journal) InFlight(ctx context.Context) ([]Position, error) {
	rows, err := j.b.All(ctx, InFlight)
	if err != nil {
		return nil, err
	}
	out := make([]Position, 0, len(rows))
	for _, r := range rows {
		p, err := ParsePosition(r.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Before(out[b]) })
	return out, nil
}

// Repair finishes the ingests that died half-way: every in-flight mark received before
// `before` (the grace period ago: older ingests are not under way any more) is settled if its
// event is stored, deleted if not. It returns how many events it settled.
func (j *Journal) Repair(ctx context.Context, before time.Time) (int, error) {
	marks, err := j.b.All(ctx, InFlight)
	if err != nil {
		return 0, err
	}
	settled := 0
	var errs []error
	for _, m := range marks {
		p, err := ParsePosition(m.Key)
		if err != nil || !p.At.Before(before) {
			continue
		}
		stored, ok, err := j.b.Get(ctx, Events, Escape(m.EventID), eventKey)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case ok && stored.ReceivedAt == TimeKey(p.At) && stored.ArchivedOn == "":
			if err := j.settle(ctx, stored); err != nil {
				errs = append(errs, err)
				continue
			}
			settled++
		}
		// Not stored (it died before the commit), or the mark of an attempt that found the id
		// stored by another: nothing to settle.
		if err := j.b.Delete(ctx, InFlight, m.Partition, m.Key); err != nil {
			errs = append(errs, err)
		}
	}
	return settled, errors.Join(errs...)
}

// Days lists the days that still have rows (received, and not yet archived), in order.
func (j *Journal) Days(ctx context.Context) ([]string, error) {
	rows, err := j.b.Range(ctx, Catalog, catalogDays, "", endOfPartition, 0)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Key
	}
	return out, nil
}

// Types lists every event type ever stored, in key order.
func (j *Journal) Types(ctx context.Context) ([]string, error) {
	rows, err := j.b.Range(ctx, Catalog, catalogTypes, "", endOfPartition, 0)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		t, err := Unescape(r.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Archived turns the rows of records, all received on day and all in its sealed archive, into
// stubs: the Events and ByStream rows keep the envelope without the payload, the offloaded
// payloads are deleted, then the ByType rows, a hundred a transaction (last, since they are how
// the archiver finds what is left to do), then the day leaves the catalog. Safe to repeat.
func (j *Journal) Archived(ctx context.Context, day string, records []Record) error {
	byType := map[string][]string{} // partition -> keys
	for _, r := range records {
		if r.Day() != day {
			return fmt.Errorf("journal: event %q was received on %s, not on %s", r.ID, r.Day(), day)
		}
		p := typePartition(r.Type, day)
		byType[p] = append(byType[p], r.Position().Key())
	}
	errs := make([]error, len(records))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(records)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = j.stub(ctx, day, records[i])
			}
		})
	}
	for i := range records {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for p, keys := range byType {
		if err := j.b.DeleteRows(ctx, ByType, p, keys); err != nil {
			return err
		}
	}
	j.known.Delete(catalogDays + "/" + day)
	return j.b.Delete(ctx, Catalog, catalogDays, day)
}

func (j *Journal) stub(ctx context.Context, day string, r Record) error {
	digest := Digest(r.Event)
	stub := r
	stub.Data, stub.ArchivedOn = nil, day
	row := eventRow(stub, digest, "")
	if err := j.b.Put(ctx, Events, row); err != nil {
		return err
	}
	if r.Stream != "" {
		s := row
		s.Partition, s.Key = Escape(r.Stream), r.StreamPosition().Key()
		if err := j.b.Put(ctx, ByStream, s); err != nil {
			return err
		}
	}
	if offloaded(r.Data) {
		return j.b.DeletePayload(ctx, payloadBlob(digest))
	}
	return nil
}

// Seal is what the catalog keeps of an archived day: its archive is complete and verified, and
// reads of the day go to it.
type Seal struct {
	Events int64
	Bytes  int64  // the archive's length when sealed
	SHA256 string // of the archive's bytes
	At     time.Time
}

// OpenDay reads the archive of day from its start; nil when there is none.
func (j *Journal) OpenDay(ctx context.Context, day string) (io.ReadCloser, error) {
	if _, err := DayStart(day); err != nil {
		return nil, err
	}
	return j.b.OpenArchive(ctx, archiveBlob(day))
}

// AppendDay appends chunk (gzip members of JSON Lines, see EncodeChunks) to the archive of
// day, provided it is at bytes long: ErrArchiveMoved otherwise.
func (j *Journal) AppendDay(ctx context.Context, day string, at int64, chunk []byte) error {
	if _, err := DayStart(day); err != nil {
		return err
	}
	if len(chunk) > MaxChunkBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrChunkTooLarge, len(chunk), MaxChunkBytes)
	}
	return j.b.AppendArchive(ctx, archiveBlob(day), at, chunk)
}

// Seal records that the archive of day is complete and verified.
func (j *Journal) Seal(ctx context.Context, day string, s Seal) error {
	if _, err := DayStart(day); err != nil {
		return err
	}
	return j.b.Put(ctx, Catalog, Row{Partition: catalogSealed, Key: day, Count: s.Events, Bytes: s.Bytes,
		Digest: s.SHA256, ReceivedAt: TimeKey(s.At)})
}

// Seals returns the seal of every archived day.
func (j *Journal) Seals(ctx context.Context) (map[string]Seal, error) {
	rows, err := j.b.Range(ctx, Catalog, catalogSealed, "", endOfPartition, 0)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Seal, len(rows))
	for _, r := range rows {
		at, _ := time.Parse(timeKeyLayout, r.ReceivedAt)
		out[r.Key] = Seal{Events: r.Count, Bytes: r.Bytes, SHA256: r.Digest, At: at}
	}
	return out, nil
}

func typePartition(typ, day string) string { return Escape(typ) + "~" + day }

// shard spreads the in-flight marks over 16 partitions.
func shard(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:1])[:1]
}

// payloadBlob names an offloaded payload after the digest of its whole event.
func payloadBlob(digest string) string { return "events/" + digest + ".json" }

func archiveBlob(day string) string { return "days/" + day + ".jsonl.gz" }

func markRow(r Record) Row {
	return Row{Partition: shard(r.ID), Key: r.Position().Key(), EventID: r.ID}
}

func eventRow(r Record, digest, blob string) Row {
	row := Row{
		Partition: Escape(r.ID), Key: eventKey,
		EventID: r.ID, Type: r.Type, SchemaVersion: r.SchemaVersion, Stream: r.Stream, Version: r.Version,
		Source: r.Source, CreatedAt: r.CreatedAt.UTC().Format(time.RFC3339Nano), CorrelationID: r.CorrelationID,
		CausationID: r.CausationID, TraceParent: r.TraceParent, ReceivedAt: TimeKey(r.ReceivedAt),
		Digest: digest, ArchivedOn: r.ArchivedOn,
	}
	if blob != "" {
		row.DataBlob = blob
	} else {
		row.Data = string(r.Data)
	}
	return row
}

// record is the record of an Events, ByType or ByStream row, its payload fetched if offloaded.
func (j *Journal) record(ctx context.Context, row Row) (Record, error) {
	created, err := time.Parse(time.RFC3339Nano, row.CreatedAt)
	if err != nil {
		return Record{}, fmt.Errorf("journal: row of %q: createdAt: %w", row.EventID, err)
	}
	received, err := time.Parse(timeKeyLayout, row.ReceivedAt)
	if err != nil {
		return Record{}, fmt.Errorf("journal: row of %q: receivedAt: %w", row.EventID, err)
	}
	r := Record{
		Event: eventstore.Event{
			ID: row.EventID, Type: row.Type, SchemaVersion: row.SchemaVersion, Stream: row.Stream, Version: row.Version,
			Source: row.Source, CreatedAt: created.UTC(), CorrelationID: row.CorrelationID, CausationID: row.CausationID,
			TraceParent: row.TraceParent,
		},
		ReceivedAt: received.UTC(),
		ArchivedOn: row.ArchivedOn,
	}
	switch {
	case row.DataBlob != "":
		if r.Data, err = j.b.GetPayload(ctx, row.DataBlob); err != nil {
			return Record{}, fmt.Errorf("journal: payload of %q: %w", row.EventID, err)
		}
	case row.Data != "":
		r.Data = json.RawMessage(row.Data)
	}
	return r, nil
}

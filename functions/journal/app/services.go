package app

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"meterline/functions/journal/domain"
	"meterline/functions/journal/store"
	"meterline/shared/eventstore"
)

// Recorder stores events in the Journal, each once.
type Recorder struct {
	Records Records
	Now     func() time.Time
}

// Record stores e, an envelope checked already (domain.ParseEnvelope, acl.Envelope). It returns the record as stored and
// whether this call stored it: false when it was stored before with the same content (nothing
// changed). An id stored with other content is domain.IDReused; an envelope the Journal cannot
// keep, domain.Unstorable.
func (r Recorder) Record(ctx context.Context, e eventstore.Event) (store.Record, bool, error) {
	rec, stored, err := r.Records.Record(ctx, e, r.Now())
	var conflict *store.ConflictError
	switch {
	case errors.As(err, &conflict):
		return store.Record{}, false, domain.IDReused(e.ID, conflict.Stored.ReceivedAt)
	case errors.Is(err, store.ErrInvalidEvent):
		return store.Record{}, false, domain.Unstorable(strings.TrimPrefix(err.Error(), store.ErrInvalidEvent.Error()+": "), err)
	}
	return rec, stored, err
}

// Reader reads the Journal back: whole days from the tables, or from their archive once sealed.
type Reader struct {
	Records Records
	Archive Archive
	days    dayCache
}

// ByTypes returns the records of the types (all of them if none) received after position
// after and before time before, in received order, at most limit, and whether more follow.
func (r *Reader) ByTypes(ctx context.Context, types []string, after store.Position, before time.Time, limit int) ([]store.Record, bool, error) {
	if limit <= 0 {
		limit = 1000
	}
	if len(types) == 0 {
		var err error
		if types, err = r.Records.Types(ctx); err != nil {
			return nil, false, err
		}
	}
	days, seals, err := r.allDays(ctx)
	if err != nil {
		return nil, false, err
	}
	first, last := store.Day(after.At), store.Day(before.Add(-time.Nanosecond))
	var out []store.Record
	for _, day := range days {
		if day < first || day > last {
			continue
		}
		var recs []store.Record
		if seal, sealed := seals[day]; sealed {
			if recs, err = r.archivedOn(ctx, day, seal, types, after, before); err != nil {
				return nil, false, err
			}
		} else {
			for _, typ := range types {
				// Each type's first limit+1 events hold the merged first limit+1.
				rs, err := r.Records.ByType(ctx, typ, day, after, before, limit+1-len(out))
				if err != nil {
					return nil, false, err
				}
				recs = append(recs, rs...)
			}
			sortByPosition(recs)
		}
		out = append(out, recs...)
		if len(out) > limit {
			return out[:limit], true, nil
		}
	}
	return out, false, nil
}

// allDays is every day with events, in order: those with rows and those sealed in an archive.
func (r *Reader) allDays(ctx context.Context) ([]string, map[string]store.Seal, error) {
	days, err := r.Records.Days(ctx)
	if err != nil {
		return nil, nil, err
	}
	seals, err := r.Archive.Seals(ctx)
	if err != nil {
		return nil, nil, err
	}
	for day := range seals {
		if !slices.Contains(days, day) {
			days = append(days, day)
		}
	}
	slices.Sort(days)
	return days, seals, nil
}

func (r *Reader) archivedOn(ctx context.Context, day string, seal store.Seal, types []string, after store.Position, before time.Time) ([]store.Record, error) {
	all, err := r.day(ctx, day, seal)
	if err != nil {
		return nil, err
	}
	var out []store.Record
	for _, rec := range all {
		if slices.Contains(types, rec.Type) && after.Before(rec.Position()) && rec.ReceivedAt.Before(before) {
			out = append(out, rec)
		}
	}
	sortByPosition(out)
	return out, nil
}

// ByStream returns the records of stream after position after, in stream order, at most limit,
// and whether more follow. Archived records are read from their day's archive.
func (r *Reader) ByStream(ctx context.Context, stream string, after store.StreamPosition, limit int) ([]store.Record, bool, error) {
	if limit <= 0 {
		limit = 1000
	}
	recs, err := r.Records.ByStream(ctx, stream, after, limit+1)
	if err != nil {
		return nil, false, err
	}
	more := len(recs) > limit
	if more {
		recs = recs[:limit]
	}
	var seals map[string]store.Seal
	archived := map[string]map[string]store.Record{} // day -> id -> record
	for i, stub := range recs {
		if stub.ArchivedOn == "" {
			continue
		}
		if seals == nil {
			if seals, err = r.Archive.Seals(ctx); err != nil {
				return nil, false, err
			}
		}
		byID, ok := archived[stub.ArchivedOn]
		if !ok {
			all, err := r.day(ctx, stub.ArchivedOn, seals[stub.ArchivedOn])
			if err != nil {
				return nil, false, err
			}
			byID = make(map[string]store.Record, len(all))
			for _, a := range all {
				byID[a.ID] = a
			}
			archived[stub.ArchivedOn] = byID
		}
		whole, found := byID[stub.ID]
		stub.Data = whole.Data
		if !found || !whole.SameAs(stub) {
			return nil, false, fmt.Errorf("journal: the archive of %s does not hold event %q as its stub says", stub.ArchivedOn, stub.ID)
		}
		recs[i] = stub
	}
	return recs, more, nil
}

// day is every record of an archived day, decoded once per seal (a sealed archive never
// changes, and paging through a day would otherwise decode it again for every page).
func (r *Reader) day(ctx context.Context, day string, seal store.Seal) ([]store.Record, error) {
	if recs, ok := r.days.get(day, seal); ok {
		return recs, nil
	}
	rc, err := r.Archive.OpenDay(ctx, day)
	if err != nil {
		return nil, err
	}
	if rc == nil {
		return nil, fmt.Errorf("journal: day %s is sealed but has no archive", day)
	}
	defer rc.Close()
	var recs []store.Record
	if err := store.DecodeArchive(rc, func(rec store.Record) error { recs = append(recs, rec); return nil }); err != nil {
		return nil, fmt.Errorf("journal: archive of %s: %w", day, err)
	}
	r.days.put(day, seal, recs)
	return recs, nil
}

// dayCache keeps the last archived days read, bounded in records.
type dayCache struct {
	mu      sync.Mutex
	entries []dayEntry
}

type dayEntry struct {
	day  string
	seal store.Seal
	recs []store.Record
}

const cachedRecords = 200_000

func (c *dayCache) get(day string, seal store.Seal) ([]store.Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.day == day && e.seal == seal {
			return e.recs, true
		}
	}
	return nil, false
}

func (c *dayCache) put(day string, seal store.Seal, recs []store.Record) {
	if len(recs) > cachedRecords {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, dayEntry{day, seal, recs})
	total := 0
	for i := len(c.entries) - 1; i >= 0; i-- {
		total += len(c.entries[i].recs)
		if total > cachedRecords {
			c.entries = c.entries[i+1:]
			break
		}
	}
}

func sortByPosition(recs []store.Record) {
	slices.SortFunc(recs, func(a, b store.Record) int { return strings.Compare(a.Position().Key(), b.Position().Key()) })
}

// Token is an opaque continuation token: a position, bound to the query it continues.
func Token(query, position string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(queryHash(query) + position))
}

// ParseToken reads a Token back; false when it is not one, or was made for another query.
func ParseToken(query, token string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	h := queryHash(query)
	if err != nil || len(b) < len(h) || string(b[:len(h)]) != h {
		return "", false
	}
	return string(b[len(h):]), true
}

func queryHash(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:4])
}

package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"meterline/shared/eventstore"
)

// Record is one event as the Journal keeps it.
type Record struct {
	eventstore.Event
	// ReceivedAt is the Journal's clock when it first stored the event (UTC, microseconds).
	ReceivedAt time.Time
	// ArchivedOn is the day whose archive holds the event, once its rows are stubs: the stub
	// keeps the envelope but not the payload (Data is nil). "" while the rows are whole.
	ArchivedOn string
}

// Position is the record's place in received order.
func (r Record) Position() Position { return Position{At: r.ReceivedAt, ID: r.ID} }

// StreamPosition is the record's place in its stream.
func (r Record) StreamPosition() StreamPosition {
	return StreamPosition{Version: r.Version, ID: r.ID}
}

// Day is the UTC day the record was received on, e.g. "2026-03-04".
func (r Record) Day() string { return Day(r.ReceivedAt) }

// SameAs reports whether r and o hold the same event, received at the same time.
func (r Record) SameAs(o Record) bool {
	return r.ReceivedAt.Equal(o.ReceivedAt) && SameEvent(r.Event, o.Event)
}

// SameEvent reports whether a and b are the same envelope, field by field.
func SameEvent(a, b eventstore.Event) bool {
	return a.ID == b.ID && a.Type == b.Type && a.SchemaVersion == b.SchemaVersion && a.Stream == b.Stream &&
		a.Version == b.Version && a.Source == b.Source && a.CreatedAt.Equal(b.CreatedAt) &&
		a.CorrelationID == b.CorrelationID && a.CausationID == b.CausationID && a.TraceParent == b.TraceParent &&
		string(a.Data) == string(b.Data)
}

// Day is the UTC day of t, as the Journal names days: "2006-01-02".
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// DayStart is the first instant of day (UTC).
func DayStart(day string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: %q is not a day like 2026-03-04", day)
	}
	return t, nil
}

// Errors of the Journal. Backends translate their SDK's errors into these.
var (
	// ErrInvalidEvent: an event the Journal cannot store (no id or type, a key too long once
	// escaped, data that is not UTF-8 JSON, a payload over MaxPayloadBytes...).
	ErrInvalidEvent = errors.New("journal: invalid event")
	// ErrConflict matches a *ConflictError with errors.Is.
	ErrConflict = errors.New("journal: event id stored with other content")
	// ErrExists: a Backend insert met a row with the same keys.
	ErrExists = errors.New("journal: row exists")
	// ErrArchiveMoved: a day's archive is not at the length an append expected (another run
	// appended meanwhile); nothing was appended.
	ErrArchiveMoved = errors.New("journal: the archive changed meanwhile")
	// ErrChunkTooLarge: an archive chunk over MaxChunkBytes.
	ErrChunkTooLarge = errors.New("journal: archive chunk too large")
)

// ConflictError is an event whose id is stored with other content. Nothing was written.
type ConflictError struct {
	ID     string
	Stored Record // what the Journal holds under that id
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("journal: event id %q is stored (received %s) with other content", e.ID, TimeKey(e.Stored.ReceivedAt))
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Limits checked before anything is written.
const (
	// MaxKeyUnits: an id, a type or a stream, escaped, in UTF-16 units (escaped keys are
	// ASCII: one unit a byte). A PartitionKey or RowKey holds 1 KiB, i.e. 512 units, and the
	// keys add a received_at (27) or a day (11) to it.
	MaxKeyUnits = 480
	// MaxPayloadBytes caps a payload, as the event stores do.
	MaxPayloadBytes = eventstore.MaxPayloadBytes
	// MaxMetadataBytes caps source, correlation, causation and traceparent.
	MaxMetadataBytes = eventstore.MaxMetadataLength
	// maxPropertyBytes is a binary property's limit (the table backend keeps payloads as
	// Edm.Binary): bigger payloads go to a blob.
	maxPropertyBytes = 64 << 10
)

// Check reports why e cannot be stored (ErrInvalidEvent), or nil.
func Check(e eventstore.Event) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	for _, k := range []struct{ name, value string }{{"id", e.ID}, {"type", e.Type}, {"stream", e.Stream}} {
		switch {
		case k.value == "" && k.name != "stream":
			return bad("no %s", k.name)
		case !utf8.ValidString(k.value):
			return bad("%s is not UTF-8", k.name)
		case len(Escape(k.value)) > MaxKeyUnits:
			return bad("%s is longer than a table key allows (%d characters once escaped)", k.name, MaxKeyUnits)
		}
	}
	for _, m := range []string{e.Source, e.CorrelationID, e.CausationID, e.TraceParent} {
		if len(m) > MaxMetadataBytes || !utf8.ValidString(m) {
			return bad("source, correlation, causation and traceparent hold at most %d bytes of UTF-8", MaxMetadataBytes)
		}
	}
	switch {
	case e.Version < 0:
		return bad("negative version %d", e.Version)
	case e.CreatedAt.IsZero():
		return bad("no time")
	case e.CreatedAt.UTC().Year() < 1 || e.CreatedAt.UTC().Year() > 9999:
		return bad("a time outside the years 0001 to 9999")
	case len(e.Data) > MaxPayloadBytes:
		return bad("a payload of %d bytes; at most %d", len(e.Data), MaxPayloadBytes)
	case len(e.Data) > 0 && (!json.Valid(e.Data) || !utf8.Valid(e.Data)):
		return bad("data is not UTF-8 JSON")
	}
	return nil
}

// Digest identifies an event's content: SHA-256 over every envelope field, length-prefixed.
func Digest(e eventstore.Event) string {
	h := sha256.New()
	for _, f := range []string{
		e.ID, e.Type, strconv.Itoa(e.SchemaVersion), e.Stream, strconv.FormatInt(e.Version, 10), e.Source,
		e.CreatedAt.UTC().Format(time.RFC3339Nano), e.CorrelationID, e.CausationID, e.TraceParent, string(e.Data),
	} {
		fmt.Fprintf(h, "%d:%s|", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// offloaded says whether a payload goes to a blob: over a binary property's 64 KiB.
func offloaded(data []byte) bool { return len(data) > maxPropertyBytes }

// TimeKey is t as keys write it: fixed-width UTC microseconds, so that string order is time order.
func TimeKey(t time.Time) string { return t.UTC().Format(timeKeyLayout) }

const timeKeyLayout = "2006-01-02T15:04:05.000000Z"

// Position is a place in received order: by ReceivedAt, then by escaped id. The zero Position
// is before every event.
type Position struct {
	At time.Time
	ID string
}

// Key is the position as a RowKey; keys sort as positions do.
func (p Position) Key() string { return TimeKey(p.At) + "~" + Escape(p.ID) }

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool { return p.Key() < q.Key() }

// ParsePosition reads a Position.Key back.
func ParsePosition(key string) (Position, error) {
	n := len(timeKeyLayout)
	if len(key) < n+1 || key[n] != '~' {
		return Position{}, fmt.Errorf("store: %q is not a position", key)
	}
	at, err := time.Parse(timeKeyLayout, key[:n])
	if err != nil {
		return Position{}, fmt.Errorf("store: %q is not a position", key)
	}
	id, err := Unescape(key[n+1:])
	if err != nil {
		return Position{}, err
	}
	return Position{At: at.UTC(), ID: id}, nil
}

// StreamPosition is a place in a stream: by version, then by escaped id. The zero value is
// before every event of the stream.
type StreamPosition struct {
	Version int64
	ID      string
}

// Key is the position as a RowKey; keys sort as positions do.
func (p StreamPosition) Key() string { return fmt.Sprintf("%019d~%s", p.Version, Escape(p.ID)) }

// ParseStreamPosition reads a StreamPosition.Key back.
func ParseStreamPosition(key string) (StreamPosition, error) {
	digits, rest, ok := strings.Cut(key, "~")
	v, err := strconv.ParseInt(digits, 10, 64)
	if !ok || err != nil || len(digits) != 19 || v < 0 {
		return StreamPosition{}, fmt.Errorf("store: %q is not a stream position", key)
	}
	id, err := Unescape(rest)
	if err != nil {
		return StreamPosition{}, err
	}
	return StreamPosition{Version: v, ID: id}, nil
}

// Escape makes s a table key of printable ASCII: '%', the characters keys forbid ('/', '\\',
// '#', '?'), control characters and every byte outside ASCII become %XX. ASCII keys sort the
// same on Table Storage, in Go and in the blob names, whatever the language of an id.
func Escape(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if escaped(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; escaped(c) {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func escaped(c byte) bool {
	return c < 0x20 || c >= 0x7f || c == '%' || c == '/' || c == '\\' || c == '#' || c == '?'
}

// Unescape reverses Escape.
func Unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("store: bad escape in %q", s)
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("store: bad escape in %q", s)
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// Table names one of the Journal's tables (see the package doc).
type Table string

const (
	Events   Table = "Events"
	ByType   Table = "ByType"
	ByStream Table = "ByStream"
	InFlight Table = "InFlight"
	Catalog  Table = "Catalog"
)

// Tables lists them all.
var Tables = []Table{Events, ByType, ByStream, InFlight, Catalog}

// Row is one row as the Journal lays it out. A backend stores every field and gives it back as
// it was; it never interprets one.
type Row struct {
	Partition, Key string

	EventID       string `json:",omitempty"`
	Type          string `json:",omitempty"`
	SchemaVersion int    `json:",omitempty"`
	Stream        string `json:",omitempty"`
	Version       int64  `json:",omitempty"`
	Source        string `json:",omitempty"`
	CreatedAt     string `json:",omitempty"` // RFC 3339, to the nanosecond the envelope had
	CorrelationID string `json:",omitempty"`
	CausationID   string `json:",omitempty"`
	TraceParent   string `json:",omitempty"`
	Data          string `json:",omitempty"` // the payload, or "" when DataBlob holds it
	DataBlob      string `json:",omitempty"` // the payload's blob in the payload container
	ReceivedAt    string `json:",omitempty"` // TimeKey
	Digest        string `json:",omitempty"`
	ArchivedOn    string `json:",omitempty"`
	// Seals (Catalog "sealed" rows).
	Count int64 `json:",omitempty"`
	Bytes int64 `json:",omitempty"`
}

// Backend is what a Journal is built on: rows in the five tables, payload blobs and day
// archives. Implementations: package tablestore (Azure Storage) and package memstore.
type Backend interface {
	// Insert adds r unless a row with its keys exists (ErrExists).
	Insert(ctx context.Context, t Table, r Row) error
	// Put adds or replaces r.
	Put(ctx context.Context, t Table, r Row) error
	// Get returns the row; false if there is none.
	Get(ctx context.Context, t Table, partition, key string) (Row, bool, error)
	// Delete removes the row; a missing row is not an error.
	Delete(ctx context.Context, t Table, partition, key string) error
	// DeleteRows removes rows of one partition, a hundred a request where the service allows
	// (an entity-group transaction); missing rows are not an error.
	DeleteRows(ctx context.Context, t Table, partition string, keys []string) error
	// Range returns the rows of partition with after < Key < before, in key order, at most
	// limit (0: all).
	Range(ctx context.Context, t Table, partition, after, before string, limit int) ([]Row, error)
	// All returns every row of t, in (partition, key) order. For the small tables only.
	All(ctx context.Context, t Table) ([]Row, error)

	// PutPayload writes an offloaded payload (replacing a blob of that name).
	PutPayload(ctx context.Context, name string, data []byte) error
	// GetPayload reads one back.
	GetPayload(ctx context.Context, name string) ([]byte, error)
	// DeletePayload removes one; a missing blob is not an error.
	DeletePayload(ctx context.Context, name string) error

	// OpenArchive reads a day archive from its start; nil (and no error) when there is none.
	OpenArchive(ctx context.Context, name string) (io.ReadCloser, error)
	// AppendArchive appends chunk to the archive name, created if missing, provided it is at
	// bytes long (ErrArchiveMoved otherwise). A chunk is at most MaxChunkBytes and is appended
	// whole or not at all.
	AppendArchive(ctx context.Context, name string, at int64, chunk []byte) error
}

// MaxChunkBytes is the largest archive append: an append blob's block holds 4 MiB.
const MaxChunkBytes = 4 << 20

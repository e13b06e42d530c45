package store

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"meterline/shared/eventstore"
)

// RecordJSON is the JSON of a record, in the API's answers and, one a line, in the day
// archives: the integration envelope (its names and the CloudEvents 1.0 ones, so that a line
// is a CloudEvent and reads with eventstore.UnmarshalEnvelope) plus receivedAt. The Journal's
// own type, not the kit's, because archives are read for years: never rename a field.
type RecordJSON struct {
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	SchemaVersion   int             `json:"schemaVersion"`
	Stream          string          `json:"stream"`
	Version         int64           `json:"version"`
	Source          string          `json:"source"`
	CreatedAt       time.Time       `json:"createdAt"`
	CorrelationID   string          `json:"correlationId,omitempty"`
	CausationID     string          `json:"causationId,omitempty"`
	Data            json.RawMessage `json:"data"`
	SpecVersion     string          `json:"specversion"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Correlation     string          `json:"correlationid,omitempty"`
	Causation       string          `json:"causationid,omitempty"`
	TraceParent     string          `json:"traceparent,omitempty"`
	ReceivedAt      time.Time       `json:"receivedAt"`
}

// MarshalRecord is the JSON of r (one line: no newline inside). The payload is written as
// stored, byte for byte (no HTML escaping), so that it reads back identically.
func MarshalRecord(r Record) ([]byte, error) {
	data := r.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(RecordJSON{
		ID: r.ID, Type: r.Type, SchemaVersion: r.SchemaVersion, Stream: r.Stream, Version: r.Version,
		Source: r.Source, CreatedAt: r.CreatedAt.UTC(), CorrelationID: r.CorrelationID, CausationID: r.CausationID,
		Data: data, SpecVersion: eventstore.SpecVersion, Time: r.CreatedAt.UTC(), DataContentType: eventstore.DataContentType,
		Correlation: r.CorrelationID, Causation: r.CausationID, TraceParent: r.TraceParent, ReceivedAt: r.ReceivedAt.UTC(),
	})
	if err != nil {
		return nil, fmt.Errorf("journal: encode %q: %w", r.ID, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalRecord reads MarshalRecord's JSON back.
func UnmarshalRecord(b []byte) (Record, error) {
	var v RecordJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return Record{}, fmt.Errorf("journal: record: %w", err)
	}
	if v.ID == "" || v.Type == "" || v.ReceivedAt.IsZero() {
		return Record{}, errors.New("journal: record without id, type or receivedAt")
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = v.Time
	}
	if v.CorrelationID == "" {
		v.CorrelationID = v.Correlation
	}
	if v.CausationID == "" {
		v.CausationID = v.Causation
	}
	if string(v.Data) == "null" {
		v.Data = nil
	}
	return Record{
		Event: eventstore.Event{
			ID: v.ID, Type: v.Type, SchemaVersion: v.SchemaVersion, Stream: v.Stream, Version: v.Version,
			Source: v.Source, CreatedAt: v.CreatedAt.UTC(), CorrelationID: v.CorrelationID, CausationID: v.CausationID,
			TraceParent: v.TraceParent, Data: v.Data,
		},
		ReceivedAt: v.ReceivedAt.UTC(),
	}, nil
}

// memberBudget is how much JSON goes into one gzip member before the next starts: JSON
// compresses well below it, so a member stays under MaxChunkBytes and is one append.
const memberBudget = 3 << 20

// EncodeChunks writes records as JSON Lines in gzip members, each at most MaxChunkBytes: one
// append each, so that an archive only ever grows by whole members. Concatenated, they are one
// gzip stream (RFC 1952 members), which DecodeArchive and `zcat` read whole.
func EncodeChunks(records []Record) ([][]byte, error) {
	var chunks [][]byte
	var lines [][]byte
	size := 0
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		c, err := members(lines)
		chunks = append(chunks, c...)
		lines, size = nil, 0
		return err
	}
	for _, r := range records {
		line, err := MarshalRecord(r)
		if err != nil {
			return nil, err
		}
		if size > 0 && size+len(line)+1 > memberBudget {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		lines = append(lines, line)
		size += len(line) + 1
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return chunks, nil
}

// members compresses lines into one member, or more if it would exceed MaxChunkBytes.
func members(lines [][]byte) ([][]byte, error) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for _, l := range lines {
		zw.Write(l)
		zw.Write([]byte{'\n'})
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if b.Len() <= MaxChunkBytes {
		return [][]byte{b.Bytes()}, nil
	}
	if len(lines) == 1 {
		return nil, fmt.Errorf("%w: one event compresses to %d bytes", ErrChunkTooLarge, b.Len())
	}
	first, err := members(lines[:len(lines)/2])
	if err != nil {
		return nil, err
	}
	second, err := members(lines[len(lines)/2:])
	return append(first, second...), err
}

// DecodeArchive reads a day archive (every gzip member, in order) and calls fn for each record.
// An empty archive has none; a damaged one is an error.
func DecodeArchive(r io.Reader, fn func(Record) error) error {
	br := bufio.NewReader(r)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return fmt.Errorf("journal: archive: %w", err)
	}
	lines := bufio.NewReader(zr)
	for n := 1; ; n++ {
		line, err := lines.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				return fmt.Errorf("journal: archive: line %d is cut short", n)
			}
			rec, err := UnmarshalRecord(line[:len(line)-1])
			if err != nil {
				return fmt.Errorf("journal: archive: line %d: %w", n, err)
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("journal: archive: %w", err)
		}
	}
}

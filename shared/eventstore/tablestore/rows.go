package tablestore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"meterline/shared/eventstore"
)

// Row layout of one stream, all in the partition PartitionKey = stream name. RowKeys sort so
// that a single range query returns the events in version order followed by the header:
//
//	e0000000000000000001 ... e0000000000000000042   event rows, zero-padded version
//	e~head                                          stream header: the version
//	id-<event id>                                   idempotency: event id -> version
//	outbox-0000000000000000042                      pending publication of version 42
//	s~snap                                          the newest snapshot (snapshots.go)
//
// Read ranges over "e<from>".."e~head" and Pending over "outbox-".."outbox.", so the snapshot
// row, sorting after all of them ('s' > 'o' > 'i' > 'e'), is in neither.
const (
	headRow      = "e~head" // '~' sorts after every digit: right after the last event row
	snapshotRow  = "s~snap"
	eventPrefix  = "e"
	idPrefix     = "id-"
	outboxPrefix = "outbox-"
	// outboxEnd bounds the RowKey range of outbox rows ('.' follows '-').
	outboxEnd = "outbox."
)

func eventRowKey(version int64) string  { return fmt.Sprintf("%s%019d", eventPrefix, version) }
func outboxRowKey(version int64) string { return fmt.Sprintf("%s%019d", outboxPrefix, version) }

const (
	edmInt64    = "Edm.Int64"
	edmDateTime = "Edm.DateTime"
)

// eventEntity is an event row. Data holds the JSON payload as a binary property, or, for a
// payload over a property's 64 KiB, DataBlob names the blob that holds it. Binary keeps the
// request ASCII (base64): Azurite decodes a request body chunk by chunk and turns a character
// that straddles two chunks into U+FFFD (Azure/Azurite#2670). Rows written before kept Data
// as a string, and still read.
type eventEntity struct {
	PartitionKey  string
	RowKey        string
	EventID       string
	Type          string
	SchemaVersion int32
	Version       int64  `json:",string"`
	VersionType   string `json:"Version@odata.type"`
	Source        string `json:",omitempty"`
	CreatedAt     time.Time
	CreatedAtType string `json:"CreatedAt@odata.type"`
	CorrelationID string `json:",omitempty"`
	CausationID   string `json:",omitempty"`
	TraceParent   string `json:",omitempty"`
	Data          string `json:",omitempty"`
	DataType      string `json:"Data@odata.type,omitempty"`
	DataBlob      string `json:",omitempty"`
}

// versionEntity is the header, an event-id row or an outbox row: a key and a version.
type versionEntity struct {
	PartitionKey string
	RowKey       string
	Version      int64  `json:",string"`
	VersionType  string `json:"Version@odata.type"`
	// Timestamp is set by the service (read only): when an outbox row was written.
	Timestamp time.Time `json:",omitzero"`
}

func newEventEntity(e eventstore.Event, blob string) eventEntity {
	row := eventEntity{
		PartitionKey: e.Stream, RowKey: eventRowKey(e.Version), EventID: e.ID, Type: e.Type,
		SchemaVersion: int32(e.SchemaVersion), Version: e.Version, VersionType: edmInt64,
		Source: e.Source, CreatedAt: e.CreatedAt, CreatedAtType: edmDateTime,
		CorrelationID: e.CorrelationID, CausationID: e.CausationID, TraceParent: e.TraceParent,
	}
	if blob != "" {
		row.DataBlob = blob
	} else {
		row.Data, row.DataType = base64.StdEncoding.EncodeToString(e.Data), edmBinary
	}
	return row
}

func (r eventEntity) event() (eventstore.Event, error) {
	e := eventstore.Event{
		ID: r.EventID, Type: r.Type, SchemaVersion: int(r.SchemaVersion), Stream: r.PartitionKey,
		Version: r.Version, Source: r.Source, CreatedAt: r.CreatedAt.UTC(),
		CorrelationID: r.CorrelationID, CausationID: r.CausationID, TraceParent: r.TraceParent,
	}
	switch {
	case r.Data == "":
	case r.DataType == edmBinary:
		data, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil {
			return e, fmt.Errorf("tablestore: event %s: data: %w", r.EventID, err)
		}
		e.Data = data
	default:
		e.Data = json.RawMessage(r.Data)
	}
	return e, nil
}

func newVersionEntity(stream, rowKey string, version int64) versionEntity {
	return versionEntity{PartitionKey: stream, RowKey: rowKey, Version: version, VersionType: edmInt64}
}

// maxPropertyBytes is a binary property's limit: 64 KiB.
const maxPropertyBytes = 64 << 10

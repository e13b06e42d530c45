package tablestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/shared/eventstore"
	"meterline/shared/tablekit"
)

// Snapshots (eventstore.SnapshotStore) live in the stream's own partition, one row "s~snap"
// (Streamstone's "include", but written after the append rather than in its transaction: an
// append of MaxEventsPerAppend events already uses the transaction's 100 operations).
//
// The row holds Version, SchemaVersion and the JSON state split into binary properties Data0,
// Data1, ... of at most 64 KiB each (a property's limit); eventstore.MaxSnapshotBytes keeps the
// whole entity under 1 MiB. Binary rather than string: a binary property holds 64 KiB of bytes
// where a string holds 32 K UTF-16 units, and base64 on the wire is plain ASCII (Azurite
// replaces a multi-byte character split across its request-body chunks with U+FFFD). A save reads the row first and replaces it only if it
// holds no higher version, with If-Match on the ETag it read (or an insert when there is none),
// so of two concurrent savers the one with the newer version always ends up stored.

var _ eventstore.SnapshotStore = (*Store)(nil)

// snapshotAttempts bounds the read-compare-write rounds a save loses to concurrent savers.
const snapshotAttempts = 10

// SaveSnapshot implements eventstore.SnapshotStore.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := eventstore.ValidateSnapshot(snap); err != nil {
		return err
	}
	// Versions never go back: once seen at or past the snapshot's, no need to read the header.
	if s.knownVersion(snap.Stream) < snap.Version {
		version, _, err := s.readHeader(ctx, snap.Stream)
		if err != nil {
			return err
		}
		if version < snap.Version {
			return eventstore.SnapshotBeyondEnd(snap, version)
		}
	}
	entity, err := snapshotEntity(snap)
	if err != nil {
		return err
	}
	for range snapshotAttempts {
		stored, etag, found, err := s.storedSnapshotVersion(ctx, snap.Stream)
		if err != nil {
			return err
		}
		if found && stored > snap.Version {
			return nil // a newer one is stored already
		}
		if found {
			_, err = s.table.UpdateEntity(ctx, entity, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: &etag})
		} else {
			_, err = s.table.AddEntity(ctx, entity, nil)
		}
		if err == nil {
			return nil
		}
		if isRace(err) {
			continue // another saver wrote meanwhile: compare again
		}
		return snapshotWriteError(err, snap.Stream)
	}
	return fmt.Errorf("tablestore: snapshot of %q: %d attempts lost to concurrent savers", snap.Stream, snapshotAttempts)
}

// storedSnapshotVersion reads the snapshot row's version and ETag. A row that cannot be read
// back counts as version 0, so that any save repairs it.
func (s *Store) storedSnapshotVersion(ctx context.Context, stream string) (int64, azcore.ETag, bool, error) {
	resp, err := s.table.GetEntity(ctx, stream, snapshotRow, nil)
	if tablekit.HasCode(err, aztables.ResourceNotFound) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("tablestore: read snapshot of %q: %w", stream, err)
	}
	snap, err := parseSnapshot(stream, resp.Value)
	if err != nil {
		return 0, resp.ETag, true, nil
	}
	return snap.Version, resp.ETag, true, nil
}

// LoadSnapshot implements eventstore.SnapshotStore: one point read.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, bool, error) {
	if err := eventstore.ValidateStream(stream); err != nil {
		return eventstore.Snapshot{}, false, err
	}
	resp, err := s.table.GetEntity(ctx, stream, snapshotRow, nil)
	if tablekit.HasCode(err, aztables.ResourceNotFound) {
		return eventstore.Snapshot{}, false, nil
	}
	if err != nil {
		return eventstore.Snapshot{}, false, fmt.Errorf("tablestore: read snapshot of %q: %w", stream, err)
	}
	snap, err := parseSnapshot(stream, resp.Value)
	if err != nil {
		return eventstore.Snapshot{}, false, err
	}
	return snap, true, nil
}

func snapshotEntity(snap eventstore.Snapshot) ([]byte, error) {
	row := map[string]any{
		"PartitionKey":       snap.Stream,
		"RowKey":             snapshotRow,
		"Version":            strconv.FormatInt(snap.Version, 10),
		"Version@odata.type": edmInt64,
		"SchemaVersion":      snap.SchemaVersion,
	}
	parts := 0
	for data := []byte(snap.Data); len(data) > 0; parts++ {
		n := min(len(data), maxBinaryBytes)
		name := "Data" + strconv.Itoa(parts)
		row[name], row[name+"@odata.type"] = data[:n], edmBinary // []byte: base64 in JSON
		data = data[n:]
	}
	row["Parts"] = parts
	b, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", eventstore.ErrInvalidSnapshot, err)
	}
	return b, nil
}

const (
	edmBinary      = "Edm.Binary"
	maxBinaryBytes = 64 << 10 // a binary property's limit
)

func parseSnapshot(stream string, value []byte) (eventstore.Snapshot, error) {
	bad := func(why string) (eventstore.Snapshot, error) {
		return eventstore.Snapshot{}, fmt.Errorf("%w: stored snapshot of %q: %s", eventstore.ErrInvalidSnapshot, stream, why)
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(value, &props); err != nil {
		return bad(err.Error())
	}
	var head struct {
		Version       int64 `json:",string"`
		SchemaVersion int
		Parts         int
	}
	if err := json.Unmarshal(value, &head); err != nil {
		return bad(err.Error())
	}
	if head.Parts < 1 || head.Parts > 250 {
		return bad(fmt.Sprintf("%d parts", head.Parts))
	}
	var data []byte
	for i := range head.Parts {
		var part []byte
		if err := json.Unmarshal(props["Data"+strconv.Itoa(i)], &part); err != nil || len(part) == 0 {
			return bad(fmt.Sprintf("part %d of %d missing or unreadable", i, head.Parts))
		}
		data = append(data, part...)
	}
	snap := eventstore.Snapshot{Stream: stream, Version: head.Version, SchemaVersion: head.SchemaVersion, Data: data}
	if err := eventstore.ValidateSnapshot(snap); err != nil {
		return bad(err.Error())
	}
	return snap, nil
}

// isRace: the row was inserted or changed by someone else since we read it.
func isRace(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	return collisionCode(re.ErrorCode) || collisionStatus(re.StatusCode)
}

func snapshotWriteError(err error, stream string) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusRequestEntityTooLarge, tooLargeCode(re.ErrorCode):
			return fmt.Errorf("%w: the service refused the snapshot of %q: %s", eventstore.ErrSnapshotTooLarge, stream, re.ErrorCode)
		}
	}
	return fmt.Errorf("tablestore: write snapshot of %q: %w", stream, err)
}

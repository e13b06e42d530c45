package tablestore_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/shared/eventstore"
)

// The snapshot is one row "s~snap" in the stream's partition, after every other row, holding
// its version and the state in binary parts; Read, Pending and appends do not see it.
func TestSnapshotRow(t *testing.T) {
	f := newFixture(t, "snaprow")
	s := f.store(t, "snaprow")
	ctx := context.Background()
	if _, err := s.Append(ctx, "order-1", eventstore.NoStream, event("a", `{"n":1}`), event("b", `{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	data := `{"big":"` + strings.Repeat("é", 70<<10) + `"}` // 140 KiB: three parts
	if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "order-1", Version: 2, SchemaVersion: 3, Data: json.RawMessage(data)}); err != nil {
		t.Fatal(err)
	}
	want := []string{"e0000000000000000001", "e0000000000000000002", "e~head", "id-a", "id-b",
		"outbox-0000000000000000001", "outbox-0000000000000000002", "s~snap"}
	if got := f.rowKeys(t, "order-1"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("rows %v, want %v", got, want)
	}
	r := f.row(t, "order-1", "s~snap")
	if r["Version"] != "2" || r["Version@odata.type"] != "Edm.Int64" || r["SchemaVersion"] != float64(3) ||
		r["Parts"] != float64(3) || r["Data2@odata.type"] != "Edm.Binary" {
		t.Fatalf("snapshot row %v", r)
	}
	if events, err := s.Read(ctx, "order-1", 1); err != nil || len(events) != 2 {
		t.Fatalf("Read = %d events, %v", len(events), err)
	}
	if pending, err := s.Pending(ctx, 0); err != nil || len(pending) != 2 {
		t.Fatalf("Pending = %d events, %v", len(pending), err)
	}
	got, ok, err := s.LoadSnapshot(ctx, "order-1")
	if err != nil || !ok || string(got.Data) != data {
		t.Fatalf("LoadSnapshot = %v, %v (%d bytes)", ok, err, len(got.Data))
	}
}

// A snapshot row that cannot be read is reported as ErrInvalidSnapshot, and the next save
// replaces it whatever version it claims.
func TestUnreadableSnapshotRowIsReplaced(t *testing.T) {
	f := newFixture(t, "snapbad")
	s := f.store(t, "snapbad")
	ctx := context.Background()
	if _, err := s.Append(ctx, "s", eventstore.NoStream, event("a", `1`)); err != nil {
		t.Fatal(err)
	}
	for _, row := range []map[string]any{
		{"PartitionKey": "s", "RowKey": "s~snap", "Version": "9", "Version@odata.type": "Edm.Int64", "SchemaVersion": 1, "Parts": 2, "Data0": "e30=", "Data0@odata.type": "Edm.Binary"},
		{"PartitionKey": "s", "RowKey": "s~snap", "Version": "zz", "SchemaVersion": 1, "Parts": 1, "Data0": "e30=", "Data0@odata.type": "Edm.Binary"},
		{"PartitionKey": "s", "RowKey": "s~snap", "Version": "1", "Version@odata.type": "Edm.Int64", "SchemaVersion": 1, "Parts": 1, "Data0": "e30", "Data0@odata.type": "Edm.String"},
	} {
		b, _ := json.Marshal(row)
		if _, err := f.table.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.LoadSnapshot(ctx, "s"); ok || !errors.Is(err, eventstore.ErrInvalidSnapshot) {
			t.Fatalf("LoadSnapshot of %v = %v, %v", row, ok, err)
		}
		good := eventstore.Snapshot{Stream: "s", Version: 1, SchemaVersion: 1, Data: json.RawMessage(`{"n":1}`)}
		if err := s.SaveSnapshot(ctx, good); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.LoadSnapshot(ctx, "s")
		if err != nil || !ok || string(got.Data) != `{"n":1}` || got.Version != 1 {
			t.Fatalf("LoadSnapshot after repairing %v = %+v, %v, %v", row, got, ok, err)
		}
	}
}

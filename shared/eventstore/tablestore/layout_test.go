package tablestore_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"meterline/shared/eventstore"
	"meterline/shared/eventstore/tablestore"
)

type fixture struct {
	conn      string
	table     *aztables.Client
	blobs     *azblob.Client
	container string
}

// newFixture gives a test its own table and payload container in the shared Azurite.
func newFixture(t *testing.T, table string) fixture {
	svc, err := aztables.NewServiceClientFromConnectionString(connectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := azblob.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{connectionString, svc.NewClient(table), blobs, table + "-payloads"}
}

func (f fixture) store(t *testing.T, table string) *tablestore.Store {
	s, err := tablestore.NewFromConnectionString(context.Background(), f.conn, &tablestore.Options{Table: table, Container: f.container})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func event(id string, data string) eventstore.Event {
	return eventstore.Event{ID: id, Type: "test.Happened", Data: json.RawMessage(data)}
}

func (f fixture) row(t *testing.T, stream, rowKey string) map[string]any {
	t.Helper()
	resp, err := f.table.GetEntity(context.Background(), stream, rowKey, nil)
	if err != nil {
		t.Fatalf("row %s/%s: %v", stream, rowKey, err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Value, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f fixture) rowKeys(t *testing.T, stream string) []string {
	t.Helper()
	filter := "PartitionKey eq '" + stream + "'"
	pager := f.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var keys []string
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Entities {
			var m struct{ RowKey string }
			_ = json.Unmarshal(b, &m)
			keys = append(keys, m.RowKey)
		}
	}
	return keys
}

// One transaction writes events, id rows, outbox rows and the header; publication clears the
// outbox rows only.
func TestRowLayout(t *testing.T) {
	f := newFixture(t, "layout")
	s := f.store(t, "layout")
	ctx := context.Background()
	if _, err := s.Append(ctx, "order-1", eventstore.NoStream, event("a", `{"n":1}`), event("b", `{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	want := []string{"e0000000000000000001", "e0000000000000000002", "e~head", "id-a", "id-b",
		"outbox-0000000000000000001", "outbox-0000000000000000002"}
	if got := f.rowKeys(t, "order-1"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("rows %v, want %v", got, want)
	}
	if h := f.row(t, "order-1", "e~head"); h["Version"] != "2" {
		t.Fatalf("header %v", h)
	}
	if r := f.row(t, "order-1", "id-b"); r["Version"] != "2" {
		t.Fatalf("id row %v", r)
	}
	if r := f.row(t, "order-1", "e0000000000000000002"); r["EventID"] != "b" || r["Data"] != base64.StdEncoding.EncodeToString([]byte(`{"n":2}`)) ||
		r["Data@odata.type"] != "Edm.Binary" || r["DataBlob"] != nil {
		t.Fatalf("event row %v", r)
	}
	events, _ := s.Read(ctx, "order-1", 1)
	if err := s.MarkPublished(ctx, events...); err != nil {
		t.Fatal(err)
	}
	if got := f.rowKeys(t, "order-1"); strings.Join(got, " ") != strings.Join(want[:5], " ") {
		t.Fatalf("rows after publication %v", got)
	}
}

// A payload over a property's 64 KiB is in a blob, written in full; the row names it.
func TestBigPayloadGoesToBlob(t *testing.T) {
	f := newFixture(t, "blobs")
	s := f.store(t, "blobs")
	ctx := context.Background()
	data := `"` + strings.Repeat("x", 100<<10) + `"`
	if _, err := s.Append(ctx, "report 7", eventstore.NoStream, event("big", data)); err != nil {
		t.Fatal(err)
	}
	r := f.row(t, "report 7", "e0000000000000000001")
	name, _ := r["DataBlob"].(string)
	if r["Data"] != nil || !strings.HasPrefix(name, "report 7/big.") {
		t.Fatalf("row %v", r)
	}
	resp, err := f.blobs.DownloadStream(ctx, f.container, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != data {
		t.Fatalf("blob holds %d bytes, want %d", len(b), len(data))
	}
}

// Two Store values (two processes) on one table: each knows only what it saw, and the stale
// one is refused by the event-row inserts, never both winning.
func TestTwoProcessesNeverBothWin(t *testing.T) {
	f := newFixture(t, "shared")
	a, b := f.store(t, "shared"), f.store(t, "shared")
	ctx := context.Background()
	if _, err := a.Append(ctx, "s", eventstore.NoStream, event("1", `1`)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read(ctx, "s", 1); err != nil { // b has seen version 1
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, "s", eventstore.Exact(1), event("2a", `2`)); err != nil {
		t.Fatal(err)
	}
	_, err := b.Append(ctx, "s", eventstore.Exact(1), event("2b", `2`))
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || ce.Actual != 2 || len(ce.Committed) != 1 || ce.Committed[0].ID != "2a" {
		t.Fatalf("stale writer: %v %+v", err, ce)
	}
	// Any from a stale process lands after the others.
	if _, err := a.Append(ctx, "s", eventstore.Exact(2), event("3a", `3`)); err != nil {
		t.Fatal(err)
	}
	app, err := b.Append(ctx, "s", eventstore.Any, event("4b", `4`))
	if err != nil || app.FirstVersion != 4 {
		t.Fatalf("Any from a stale process: %+v, %v", app, err)
	}
	// A process that never saw the stream checks the header first.
	c := f.store(t, "shared")
	if _, err := c.Append(ctx, "s", eventstore.Exact(5), event("x", `0`)); !errors.As(err, &ce) || ce.Actual != 4 {
		t.Fatalf("expected beyond the end: %v", err)
	}
	if app, err := c.Append(ctx, "s", eventstore.Exact(4), event("5c", `5`)); err != nil || app.FirstVersion != 5 {
		t.Fatalf("fresh process, right version: %+v, %v", app, err)
	}
	events, err := a.Read(ctx, "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range events {
		ids = append(ids, fmt.Sprintf("%d:%s", e.Version, e.ID))
	}
	if strings.Join(ids, " ") != "1:1 2:2a 3:3a 4:4b 5:5c" {
		t.Fatalf("stream %v", ids)
	}
}

// A losing attempt (here a retry of a stored id with other bytes) leaves the stored payload
// alone and no blob behind.
func TestLosingAppendKeepsStoredPayload(t *testing.T) {
	f := newFixture(t, "losing")
	s := f.store(t, "losing")
	ctx := context.Background()
	first := `"` + strings.Repeat("1", 100<<10) + `"`
	if _, err := s.Append(ctx, "s", eventstore.NoStream, event("big", first)); err != nil {
		t.Fatal(err)
	}
	other := `"` + strings.Repeat("2", 100<<10) + `"`
	if app, err := s.Append(ctx, "s", eventstore.Any, event("big", other)); err != nil || !app.Duplicate {
		t.Fatalf("retry = %+v, %v", app, err)
	}
	if _, err := s.Append(ctx, "s", eventstore.NoStream, event("loser", other)); !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("conflicting append = %v", err)
	}
	events, err := s.Read(ctx, "s", 1)
	if err != nil || len(events) != 1 || string(events[0].Data) != first {
		t.Fatalf("stored payload changed: %d events, %v", len(events), err)
	}
	pager := f.blobs.NewListBlobsFlatPager(f.container, nil)
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Segment.BlobItems)
	}
	if n != 1 {
		t.Fatalf("%d blobs, want the stored one only", n)
	}
}

// Rows written before payloads were binary hold Data as a string, and still read.
func TestStringPayloadRowsStillRead(t *testing.T) {
	f := newFixture(t, "stringrows")
	s := f.store(t, "stringrows")
	ctx := context.Background()
	if _, err := s.Append(ctx, "order-1", eventstore.NoStream, event("a", `{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	row := f.row(t, "order-1", "e0000000000000000001")
	row["Data"] = `{"n":1,"text":"héllo"}`
	delete(row, "Data@odata.type")
	for k := range row {
		if strings.HasPrefix(k, "odata.") || k == "Timestamp" {
			delete(row, k)
		}
	}
	old, _ := json.Marshal(row)
	if _, err := f.table.UpsertEntity(ctx, old, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		t.Fatal(err)
	}
	events, err := s.Read(ctx, "order-1", 1)
	if err != nil || len(events) != 1 || string(events[0].Data) != `{"n":1,"text":"héllo"}` {
		t.Fatalf("read %+v, %v; want the string payload", events, err)
	}
}

// Package tablestore is the event store on Azure Table Storage: one stream per table partition,
// one entity-group transaction per Append, and a transactional outbox in the same partition.
//
// Each Append writes, atomically: the event rows (RowKey "e" + the zero-padded version), one
// "id-<event id>" row per event (a retried append with the same ids is recognised and writes
// nothing), one "outbox-<version>" row per event (appended and pending publication are one
// fact), and the stream header "e~head" holding the version. See rows.go for the layout.
//
// Concurrency: two writers can never both win a version, because event rows are inserted
// (never upserted): the second insert of "e<v>" fails the whole transaction. The header is
// inserted for a new stream (NoStream); for an expected version that this Store has not seen
// exist yet, it is read first and replaced with If-Match on its ETag, which also refuses an
// expected version beyond the stream's end (a gap). When the Store has seen the expected
// version exist (it appended or read it), the header is replaced unconditionally: versions
// never go back, so the event-row inserts alone decide, and an append costs one round trip —
// the service returns no ETags from a transaction, so keeping the ETag instead would cost a
// read per append.
//
// Payloads over a property's 64 KiB (counted in UTF-16), or that would push the transaction
// over 4 MiB, go to a blob (container "eventstore-payloads", name "<stream>/<event id>.<random>")
// written before the transaction; the row keeps the blob name. The blobs of an append that
// fails are deleted (best effort; a leftover is garbage no row points to).
//
// Snapshots (eventstore.SnapshotStore, snapshots.go): one row "s~snap" in the stream's
// partition, outside the ranges Read and Pending query, replaced only by a snapshot of the
// same or a higher version.
//
// The outbox: Pending scans outbox rows across all partitions, which is a full table scan on
// the Table service (no index on RowKey alone): run it from a sweep every few minutes, not per
// request. PendingIn stays in one stream's partition (two range queries), cheap enough for a
// request. MarkPublished deletes the outbox rows.
package tablestore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"meterline/shared/eventstore"
	"meterline/shared/tablekit"
)

// Options tune New. The zero value is usable.
type Options struct {
	// Table is the table of the context's streams, created if missing; default "events".
	// One table per bounded context, e.g. "subscriptionsEvents".
	Table string
	// Container holds offloaded payloads, created if missing; default "eventstore-payloads".
	Container string
	// Now stamps events appended without CreatedAt; default time.Now.
	Now func() time.Time
}

// Store is an eventstore.Store and eventstore.StreamOutbox on one table. Safe for concurrent use.
type Store struct {
	table     *aztables.Client
	blobs     *azblob.Client
	container string
	now       func() time.Time

	mu    sync.Mutex
	known map[string]int64 // stream -> a version seen to exist (see the package doc)
}

var (
	_ eventstore.Store        = (*Store)(nil)
	_ eventstore.StreamOutbox = (*Store)(nil)
)

// maxKnownStreams bounds the memory of seen versions; past it the map starts afresh (it is
// only a shortcut: an unknown stream costs one more read).
const maxKnownStreams = 100_000

// New returns a Store on tables and blobs, creating the table and the container if missing.
func New(ctx context.Context, tables *aztables.ServiceClient, blobs *azblob.Client, opt *Options) (*Store, error) {
	o := Options{}
	if opt != nil {
		o = *opt
	}
	if o.Table == "" {
		o.Table = "events"
	}
	if o.Container == "" {
		o.Container = "eventstore-payloads"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	table, err := tablekit.CreateTable(ctx, tables, o.Table)
	if err != nil {
		return nil, fmt.Errorf("tablestore: create table %q: %w", o.Table, err)
	}
	if _, err := blobs.CreateContainer(ctx, o.Container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil, fmt.Errorf("tablestore: create container %q: %w", o.Container, err)
	}
	return &Store{
		table: table, blobs: blobs, container: o.Container, now: o.Now,
		known: map[string]int64{},
	}, nil
}

// NewFromConnectionString is New for a storage account connection string (Azurite's too).
func NewFromConnectionString(ctx context.Context, connectionString string, opt *Options) (*Store, error) {
	tables, err := aztables.NewServiceClientFromConnectionString(connectionString, nil)
	if err != nil {
		return nil, fmt.Errorf("tablestore: %w", err)
	}
	blobs, err := azblob.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return nil, fmt.Errorf("tablestore: %w", err)
	}
	return New(ctx, tables, blobs, opt)
}

func (s *Store) knownVersion(stream string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known[stream]
}

func (s *Store) sawVersion(stream string, v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v <= s.known[stream] {
		return
	}
	if len(s.known) >= maxKnownStreams {
		clear(s.known)
	}
	s.known[stream] = v
}

// anyAttempts bounds the retries of an Any append racing other writers.
const anyAttempts = 10

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.Expected, events ...eventstore.Event) (eventstore.Appended, error) {
	if expected < eventstore.Any {
		return eventstore.Appended{}, fmt.Errorf("%w: %d", eventstore.ErrInvalidExpected, expected)
	}
	events, err := eventstore.Prepare(stream, events, s.now())
	if err != nil {
		return eventstore.Appended{}, err
	}
	for attempt := 1; ; attempt++ {
		base, header, err := s.planHeader(ctx, stream, expected, len(events))
		if errors.Is(err, errStale) {
			return s.refused(ctx, stream, expected, events)
		}
		if err != nil {
			return eventstore.Appended{}, err
		}
		err = s.write(ctx, stream, base, header, events)
		if err == nil {
			s.sawVersion(stream, base+int64(len(events)))
			return eventstore.Appended{Stream: stream, FirstVersion: base + 1, LastVersion: base + int64(len(events))}, nil
		}
		if !errors.Is(err, errCollision) {
			return eventstore.Appended{}, err
		}
		if expected == eventstore.Any && attempt < anyAttempts {
			if app, err, done := s.duplicate(ctx, stream, events); done {
				return app, err
			}
			s.forget(stream)
			continue
		}
		return s.refused(ctx, stream, expected, events)
	}
}

func (s *Store) forget(stream string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.known, stream)
}

// planHeader decides the version the events go after and the header operation that goes with
// them. It returns errStale when a read of the header already shows the stream is not at
// expected.
func (s *Store) planHeader(ctx context.Context, stream string, expected eventstore.Expected, n int) (int64, aztables.TransactionAction, error) {
	header := func(base int64) []byte {
		b, _ := json.Marshal(newVersionEntity(stream, headRow, base+int64(n)))
		return b
	}
	if expected == eventstore.NoStream {
		return 0, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: header(0)}, nil
	}
	known := s.knownVersion(stream)
	if expected == eventstore.Any && known > 0 {
		return known, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: header(known)}, nil
	}
	if expected > 0 && int64(expected) <= known {
		v := int64(expected)
		return v, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: header(v)}, nil
	}
	// Not seen: read the header and write it back only if unchanged.
	version, etag, err := s.readHeader(ctx, stream)
	if err != nil {
		return 0, aztables.TransactionAction{}, err
	}
	if expected != eventstore.Any && int64(expected) != version {
		return 0, aztables.TransactionAction{}, errStale
	}
	if version == 0 {
		return 0, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: header(0)}, nil
	}
	return version, aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateReplace, Entity: header(version), IfMatch: &etag}, nil
}

// readHeader returns the stream's version (0 if it does not exist) and the header's ETag.
func (s *Store) readHeader(ctx context.Context, stream string) (int64, azcore.ETag, error) {
	resp, err := s.table.GetEntity(ctx, stream, headRow, nil)
	if tablekit.HasCode(err, aztables.ResourceNotFound) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("tablestore: read header of %q: %w", stream, err)
	}
	var h versionEntity
	if err := json.Unmarshal(resp.Value, &h); err != nil {
		return 0, "", fmt.Errorf("tablestore: header of %q: %w", stream, err)
	}
	s.sawVersion(stream, h.Version)
	return h.Version, resp.ETag, nil
}

// batchBudget keeps a transaction's body under the service's 4 MiB with room for the
// multipart framing the SDK adds.
const (
	batchBudget    = 4<<20 - 64<<10
	perOpOverhead  = 1024 // request line, headers, boundaries of one operation
	maxEntityBytes = 1 << 20
)

// write sends the transaction for events after version base, offloading payloads first.
func (s *Store) write(ctx context.Context, stream string, base int64, header aztables.TransactionAction, events []eventstore.Event) error {
	for i := range events {
		events[i].Version = base + int64(i) + 1
	}
	blobs := make([]string, len(events)) // blob name of an offloaded payload, "" if inline
	var written []string
	for i, offload := range offloads(events) {
		if offload {
			name := blobName(events[i])
			if err := s.putBlob(ctx, name, events[i]); err != nil {
				s.dropBlobs(ctx, written)
				return err
			}
			blobs[i], written = name, append(written, name)
		}
	}
	actions, err := buildActions(events, blobs, header)
	if err != nil {
		s.dropBlobs(ctx, written)
		return err
	}
	if _, err := s.table.SubmitTransaction(ctx, actions, nil); err != nil {
		err = translate(err, stream)
		// Only a refusal proves nothing was written; after a timeout or a 5xx the rows may be
		// stored and point to the blobs.
		if errors.Is(err, errCollision) || errors.Is(err, eventstore.ErrPayloadTooLarge) {
			s.dropBlobs(ctx, written)
		}
		return err
	}
	return nil
}

// dropBlobs deletes the payloads of an append that did not happen. Best effort: a blob left
// behind is garbage no row points to.
func (s *Store) dropBlobs(ctx context.Context, names []string) {
	for _, name := range names {
		_, _ = s.blobs.DeleteBlob(context.WithoutCancel(ctx), s.container, name, nil)
	}
}

// offloads says which payloads go to a blob: those over a property's limit, then the largest
// until the transaction fits its size budget.
func offloads(events []eventstore.Event) []bool {
	out := make([]bool, len(events))
	total := perOpOverhead // the header
	for i, e := range events {
		if len(e.Data) > maxPropertyBytes {
			out[i] = true
		} else {
			total += inlined(e.Data)
		}
		total += 3*perOpOverhead + 2*len(e.ID) + len(e.Type) + len(e.Source) + len(e.CorrelationID) + len(e.CausationID) + len(e.TraceParent) + 4*len(e.Stream)
	}
	for total > batchBudget {
		big := -1
		for i, e := range events {
			if !out[i] && (big < 0 || len(e.Data) > len(events[big].Data)) {
				big = i
			}
		}
		if big < 0 {
			break
		}
		out[big] = true
		total -= inlined(events[big].Data)
	}
	return out
}

// inlined is what a payload adds to a transaction's body: its base64.
func inlined(data []byte) int { return base64.StdEncoding.EncodedLen(len(data)) }

// blobName is unique per write attempt, so that an attempt that loses (a conflict, a retry
// with the same event id) can never overwrite the payload of the event that won.
func blobName(e eventstore.Event) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%s.%x", e.Stream, e.ID, b)
}

func (s *Store) putBlob(ctx context.Context, name string, e eventstore.Event) error {
	if _, err := s.blobs.UploadBuffer(ctx, s.container, name, e.Data, nil); err != nil {
		return fmt.Errorf("tablestore: offload payload of event %s: %w", e.ID, err)
	}
	return nil
}

// buildActions lays out one append's transaction: events, their ids, their outbox marks, and
// the header, in that order.
func buildActions(events []eventstore.Event, blobs []string, header aztables.TransactionAction) ([]aztables.TransactionAction, error) {
	actions := make([]aztables.TransactionAction, 0, 3*len(events)+1)
	size := len(header.Entity) + perOpOverhead
	add := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%w: %v", eventstore.ErrInvalidEvent, err)
		}
		if len(b) > maxEntityBytes {
			return fmt.Errorf("%w: an entity of %d bytes", eventstore.ErrPayloadTooLarge, len(b))
		}
		size += len(b) + perOpOverhead
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: b})
		return nil
	}
	for i, e := range events {
		if err := add(newEventEntity(e, blobs[i])); err != nil {
			return nil, err
		}
	}
	for _, e := range events {
		if err := add(newVersionEntity(e.Stream, idPrefix+e.ID, e.Version)); err != nil {
			return nil, err
		}
	}
	for _, e := range events {
		if err := add(newVersionEntity(e.Stream, outboxRowKey(e.Version), e.Version)); err != nil {
			return nil, err
		}
	}
	if size > 4<<20 {
		return nil, fmt.Errorf("%w: the append needs %d bytes, a transaction holds 4 MiB", eventstore.ErrPayloadTooLarge, size)
	}
	return append(actions, header), nil
}

// refused answers an append that the stream's state refused: a duplicate of a stored append,
// or a conflict carrying the events committed after expected.
func (s *Store) refused(ctx context.Context, stream string, expected eventstore.Expected, events []eventstore.Event) (eventstore.Appended, error) {
	if app, err, done := s.duplicate(ctx, stream, events); done {
		return app, err
	}
	from := max(int64(expected), 0) + 1
	committed, err := s.Read(ctx, stream, from)
	if err != nil {
		return eventstore.Appended{}, err
	}
	actual, _, err := s.readHeader(ctx, stream)
	if err != nil {
		return eventstore.Appended{}, err
	}
	if n := len(committed); n > 0 && committed[n-1].Version > actual {
		actual = committed[n-1].Version
	}
	if committed == nil {
		committed = []eventstore.Event{}
	}
	return eventstore.Appended{}, &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: actual, Committed: committed}
}

// duplicate looks up the events' id rows. done is true when they are all stored (a retry:
// report where) or some are (ErrPartlyStored).
func (s *Store) duplicate(ctx context.Context, stream string, events []eventstore.Event) (app eventstore.Appended, err error, done bool) {
	stored := map[string]int64{}
	// One query per chunk of ids; ORed RowKey equalities stay in the partition.
	const chunk = 15
	for start := 0; start < len(events); start += chunk {
		filter := "PartitionKey eq " + tablekit.Quote(stream) + " and ("
		for i, e := range events[start:min(start+chunk, len(events))] {
			if i > 0 {
				filter += " or "
			}
			filter += "RowKey eq " + tablekit.Quote(idPrefix+e.ID)
		}
		filter += ")"
		rows, err := s.query(ctx, filter, "RowKey,Version")
		if err != nil {
			return eventstore.Appended{}, err, true
		}
		for _, b := range rows {
			var r versionEntity
			if err := json.Unmarshal(b, &r); err != nil {
				return eventstore.Appended{}, fmt.Errorf("tablestore: id row: %w", err), true
			}
			stored[r.RowKey[len(idPrefix):]] = r.Version
		}
	}
	switch {
	case len(stored) == 0:
		return eventstore.Appended{}, nil, false
	case len(stored) < len(events):
		return eventstore.Appended{}, fmt.Errorf("%w: stream %q", eventstore.ErrPartlyStored, stream), true
	}
	return eventstore.Appended{Stream: stream, FirstVersion: stored[events[0].ID], LastVersion: stored[events[len(events)-1].ID], Duplicate: true}, nil, true
}

func (s *Store) query(ctx context.Context, filter, sel string) ([][]byte, error) {
	opt := &aztables.ListEntitiesOptions{Filter: &filter}
	if sel != "" {
		opt.Select = &sel
	}
	var out [][]byte
	pager := s.table.NewListEntitiesPager(opt)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("tablestore: query: %w", err)
		}
		out = append(out, page.Entities...)
	}
	return out, nil
}

// Read implements eventstore.Store: one range query over the partition, paged by the SDK.
func (s *Store) Read(ctx context.Context, stream string, from int64) ([]eventstore.Event, error) {
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	from = max(from, 1)
	events, err := s.readEvents(ctx, stream, eventRowKey(from), headRow)
	if err != nil {
		return nil, err
	}
	if n := len(events); n > 0 {
		s.sawVersion(stream, events[n-1].Version)
	}
	return events, nil
}

// readEvents returns the events of stream whose rows lie in the RowKey range [from, to], with
// their offloaded payloads: one range query in the partition, paged by the SDK. The header
// row, if in the range, only tells the stream's version.
func (s *Store) readEvents(ctx context.Context, stream, from, to string) ([]eventstore.Event, error) {
	filter := "PartitionKey eq " + tablekit.Quote(stream) +
		" and RowKey ge " + tablekit.Quote(from) + " and RowKey le " + tablekit.Quote(to)
	pager := s.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var events []eventstore.Event
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("tablestore: read %q: %w", stream, err)
		}
		for _, b := range page.Entities {
			var row eventEntity
			if err := json.Unmarshal(b, &row); err != nil {
				return nil, fmt.Errorf("tablestore: event row of %q: %w", stream, err)
			}
			if row.RowKey == headRow {
				s.sawVersion(stream, row.Version)
				continue
			}
			e, err := s.withPayload(ctx, row)
			if err != nil {
				return nil, err
			}
			events = append(events, e)
		}
	}
	return events, nil
}

// withPayload is the event of row, with its payload fetched from the blob if offloaded.
func (s *Store) withPayload(ctx context.Context, row eventEntity) (eventstore.Event, error) {
	e, err := row.event()
	if err != nil {
		return eventstore.Event{}, err
	}
	if row.DataBlob != "" {
		if e.Data, err = s.getBlob(ctx, row.DataBlob); err != nil {
			return eventstore.Event{}, err
		}
	}
	return e, nil
}

func (s *Store) getBlob(ctx context.Context, name string) (json.RawMessage, error) {
	resp, err := s.blobs.DownloadStream(ctx, s.container, name, nil)
	if err != nil {
		return nil, fmt.Errorf("tablestore: offloaded payload %q: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("tablestore: offloaded payload %q: %w", name, err)
	}
	return b, nil
}

// Pending implements eventstore.Outbox: a scan of the outbox rows of every stream (see the
// package doc for its cost), oldest first by the time they were written.
func (s *Store) Pending(ctx context.Context, limit int) ([]eventstore.Event, error) {
	filter := "RowKey ge " + tablekit.Quote(outboxPrefix) + " and RowKey lt " + tablekit.Quote(outboxEnd)
	rows, err := s.query(ctx, filter, "PartitionKey,RowKey,Version,Timestamp")
	if err != nil {
		return nil, err
	}
	marks := make([]versionEntity, 0, len(rows))
	for _, b := range rows {
		var m versionEntity
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("tablestore: outbox row: %w", err)
		}
		marks = append(marks, m)
	}
	sort.SliceStable(marks, func(i, j int) bool {
		if !marks[i].Timestamp.Equal(marks[j].Timestamp) {
			return marks[i].Timestamp.Before(marks[j].Timestamp)
		}
		if marks[i].PartitionKey != marks[j].PartitionKey {
			return marks[i].PartitionKey < marks[j].PartitionKey
		}
		return marks[i].Version < marks[j].Version
	})
	inStreamOrder(marks)
	if limit > 0 && len(marks) > limit {
		marks = marks[:limit]
	}
	events := make([]eventstore.Event, 0, len(marks))
	for _, m := range marks {
		resp, err := s.table.GetEntity(ctx, m.PartitionKey, eventRowKey(m.Version), nil)
		if err != nil {
			return nil, fmt.Errorf("tablestore: pending event %q@%d: %w", m.PartitionKey, m.Version, err)
		}
		var row eventEntity
		if err := json.Unmarshal(resp.Value, &row); err != nil {
			return nil, fmt.Errorf("tablestore: pending event %q@%d: %w", m.PartitionKey, m.Version, err)
		}
		e, err := s.withPayload(ctx, row)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

// PendingIn implements eventstore.StreamOutbox: two range queries in the stream's partition,
// none across the table: its outbox rows, then its event rows from the lowest pending version
// to the highest (the published ones in between are read and dropped).
func (s *Store) PendingIn(ctx context.Context, stream string) ([]eventstore.Event, error) {
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	filter := "PartitionKey eq " + tablekit.Quote(stream) +
		" and RowKey ge " + tablekit.Quote(outboxPrefix) + " and RowKey lt " + tablekit.Quote(outboxEnd)
	rows, err := s.query(ctx, filter, "RowKey,Version")
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	marked := make(map[int64]bool, len(rows))
	lowest, highest := int64(math.MaxInt64), int64(0)
	for _, b := range rows {
		var m versionEntity
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("tablestore: outbox row of %q: %w", stream, err)
		}
		marked[m.Version] = true
		lowest, highest = min(lowest, m.Version), max(highest, m.Version)
	}
	events, err := s.readEvents(ctx, stream, eventRowKey(lowest), eventRowKey(highest))
	if err != nil {
		return nil, err
	}
	pending := events[:0]
	for _, e := range events {
		if marked[e.Version] {
			pending = append(pending, e)
		}
	}
	if len(pending) != len(marked) {
		return nil, fmt.Errorf("tablestore: %q has %d outbox marks but only %d of their events", stream, len(marked), len(pending))
	}
	return pending, nil
}

// inStreamOrder puts each stream's marks back in version order, keeping the places the time
// sort gave that stream: the rows of one transaction can carry timestamps out of version
// order (Azurite stamps them one by one), and a stream's events must never come out of order.
func inStreamOrder(marks []versionEntity) {
	places := map[string][]int{}
	for i, m := range marks {
		places[m.PartitionKey] = append(places[m.PartitionKey], i)
	}
	for _, idx := range places {
		own := make([]versionEntity, len(idx))
		for k, i := range idx {
			own[k] = marks[i]
		}
		sort.Slice(own, func(a, b int) bool { return own[a].Version < own[b].Version })
		for k, i := range idx {
			marks[i] = own[k]
		}
	}
}

// MarkPublished implements eventstore.Outbox: deletes the outbox rows, one transaction per
// stream; if some are already gone (another dispatcher or the sweep), one by one.
func (s *Store) MarkPublished(ctx context.Context, events ...eventstore.Event) error {
	byStream := map[string][]int64{}
	var order []string
	for _, e := range events {
		if eventstore.ValidateStream(e.Stream) != nil {
			continue // no such stream, so no mark to clear
		}
		if _, ok := byStream[e.Stream]; !ok {
			order = append(order, e.Stream)
		}
		byStream[e.Stream] = append(byStream[e.Stream], e.Version)
	}
	for _, stream := range order {
		versions := dedupe(byStream[stream])
		for start := 0; start < len(versions); start += 100 {
			if err := s.deleteMarks(ctx, stream, versions[start:min(start+100, len(versions))]); err != nil {
				return err
			}
		}
	}
	return nil
}

func dedupe(vs []int64) []int64 {
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	out := vs[:0]
	for i, v := range vs {
		if i == 0 || v != vs[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func (s *Store) deleteMarks(ctx context.Context, stream string, versions []int64) error {
	actions := make([]aztables.TransactionAction, len(versions))
	for i, v := range versions {
		b, _ := json.Marshal(map[string]string{"PartitionKey": stream, "RowKey": outboxRowKey(v)})
		actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: b}
	}
	_, err := s.table.SubmitTransaction(ctx, actions, nil)
	if err == nil {
		return nil
	}
	for _, v := range versions {
		_, err := s.table.DeleteEntity(ctx, stream, outboxRowKey(v), nil)
		if err != nil && !tablekit.HasCode(err, aztables.ResourceNotFound) {
			return fmt.Errorf("tablestore: clear outbox mark %q@%d: %w", stream, v, err)
		}
	}
	return nil
}

// errCollision: the transaction met rows written by someone else (an existing event, id or
// header row, or a changed header ETag).
var errCollision = errors.New("tablestore: transaction collided with stored rows")

// errStale: the header shows the stream is not at the expected version.
var errStale = errors.New("tablestore: stream is not at the expected version")

var (
	batchStatus = regexp.MustCompile(`HTTP/1\.1 (\d{3})`)
	errorCode   = regexp.MustCompile(`"code"\s*:\s*"([A-Za-z]+)"`)
)

// translate maps an SDK error of a transaction to our errors. A failed transaction comes back
// as 202 Accepted whose multipart body holds the failing operation's status and error code;
// the SDK does not parse it, so we do.
func translate(err error, stream string) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("tablestore: append to %q: %w", stream, err)
	}
	statuses := []int{re.StatusCode}
	codes := []string{re.ErrorCode}
	if re.RawResponse != nil {
		if body, perr := runtime.Payload(re.RawResponse); perr == nil {
			for _, m := range batchStatus.FindAllSubmatch(body, -1) {
				n, _ := strconv.Atoi(string(m[1]))
				statuses = append(statuses, n)
			}
			for _, m := range errorCode.FindAllSubmatch(body, -1) {
				codes = append(codes, string(m[1]))
			}
		}
	}
	for _, c := range codes {
		switch {
		case collisionCode(c):
			return errCollision
		case tooLargeCode(c):
			return fmt.Errorf("%w: the service refused the append to %q: %s", eventstore.ErrPayloadTooLarge, stream, c)
		}
	}
	for _, st := range statuses {
		switch {
		case collisionStatus(st):
			return errCollision
		case st == http.StatusRequestEntityTooLarge:
			return fmt.Errorf("%w: the service refused the append to %q", eventstore.ErrPayloadTooLarge, stream)
		}
	}
	return fmt.Errorf("tablestore: append to %q: %w", stream, err)
}

// collisionCode and collisionStatus: a write met rows written or changed by someone else.
// Shared by appends (translate) and snapshot saves (isRace).
func collisionCode(code string) bool {
	switch aztables.TableErrorCode(code) {
	case aztables.EntityAlreadyExists, aztables.UpdateConditionNotSatisfied, aztables.ResourceNotFound:
		return true
	}
	return false
}

func collisionStatus(status int) bool {
	return status == http.StatusConflict || status == http.StatusPreconditionFailed
}

// tooLargeCode: the service refused an entity, a property or a request body for its size.
func tooLargeCode(code string) bool {
	switch code {
	case "EntityTooLarge", "PropertyValueTooLarge", "RequestBodyTooLarge":
		return true
	}
	return false
}

var _ eventstore.Scanner = (*Store)(nil)

// Scan implements eventstore.Scanner: one query over the event rows of every partition (a
// whole-table scan, for tools), which the service returns partition by partition in key
// order: each stream in version order.
func (s *Store) Scan(ctx context.Context, fn func(eventstore.Event) error) error {
	// Event rows are "e" + digits; the header "e~head" sorts after "e~".
	filter := "RowKey gt " + tablekit.Quote(eventPrefix) + " and RowKey lt " + tablekit.Quote(eventPrefix+"~")
	pager := s.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("tablestore: scan: %w", err)
		}
		for _, b := range page.Entities {
			var row eventEntity
			if err := json.Unmarshal(b, &row); err != nil {
				return fmt.Errorf("tablestore: scan: %w", err)
			}
			e, err := s.withPayload(ctx, row)
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

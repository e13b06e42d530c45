// Package tablestore is the Journal's backend on Azure Storage: the five tables of the layout
// (package store) as tables <prefix>Events, <prefix>ByType, <prefix>ByStream, <prefix>InFlight
// and <prefix>Catalog; offloaded payloads as block blobs, day archives as append blobs.
//
// Each Backend call is one request (a query may take several pages): the Journal's order of
// writes is what makes an event safe, not transactions, since its rows are in different
// partitions. Archive appends are conditional on the archive's length
// (x-ms-blob-condition-appendpos), so two overlapping archival runs cannot both append to a day.
package tablestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"meterline/functions/journal/store"
	"meterline/shared/tablekit"
)

// Options name the storage. The zero value is the Journal's production names.
type Options struct {
	// Prefix of the table names; default "journal" (tables journalEvents, journalByType, ...).
	Prefix string
	// Payloads is the container of offloaded payloads; default "journal-payloads".
	Payloads string
	// Archive is the container of the day archives; default "journal-archive".
	Archive string
	// Journal options (tests: crash points).
	Journal *store.Options
}

// Backend is a store.Backend on one storage account. Safe for concurrent use.
type Backend struct {
	tables   map[store.Table]*aztables.Client
	payloads *container.Client
	archive  *container.Client
}

var _ store.Backend = (*Backend)(nil)

// New returns the Journal on the storage account, creating its tables and containers if missing.
func New(ctx context.Context, tables *aztables.ServiceClient, blobs *azblob.Client, opt *Options) (*store.Journal, *Backend, error) {
	o := Options{}
	if opt != nil {
		o = *opt
	}
	if o.Prefix == "" {
		o.Prefix = "journal"
	}
	if o.Payloads == "" {
		o.Payloads = "journal-payloads"
	}
	if o.Archive == "" {
		o.Archive = "journal-archive"
	}
	b := &Backend{tables: map[store.Table]*aztables.Client{}}
	for _, t := range store.Tables {
		c, err := tablekit.CreateTable(ctx, tables, o.Prefix+string(t))
		if err != nil {
			return nil, nil, fmt.Errorf("journal: create table %s%s: %w", o.Prefix, t, err)
		}
		b.tables[t] = c
	}
	for _, name := range []string{o.Payloads, o.Archive} {
		if _, err := blobs.CreateContainer(ctx, name, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return nil, nil, fmt.Errorf("journal: create container %s: %w", name, err)
		}
	}
	b.payloads = blobs.ServiceClient().NewContainerClient(o.Payloads)
	b.archive = blobs.ServiceClient().NewContainerClient(o.Archive)
	return store.New(b, o.Journal), b, nil
}

// NewFromConnectionString is New for a storage connection string (Azurite's too).
func NewFromConnectionString(ctx context.Context, connectionString string, opt *Options) (*store.Journal, *Backend, error) {
	tables, err := aztables.NewServiceClientFromConnectionString(connectionString, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	blobs, err := azblob.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	return New(ctx, tables, blobs, opt)
}

// Table is the client of one of the Journal's tables (for benchmarks that write raw entities).
func (b *Backend) Table(t store.Table) *aztables.Client { return b.tables[t] }

func (b *Backend) Insert(ctx context.Context, t store.Table, r store.Row) error {
	_, err := b.tables[t].AddEntity(ctx, Entity(r), nil)
	if tablekit.HasCode(err, aztables.EntityAlreadyExists) || tablekit.Status(err) == 409 {
		return store.ErrExists
	}
	return wrap(err, "insert into", t)
}

func (b *Backend) Put(ctx context.Context, t store.Table, r store.Row) error {
	_, err := b.tables[t].UpsertEntity(ctx, Entity(r), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	return wrap(err, "write to", t)
}

func (b *Backend) Get(ctx context.Context, t store.Table, partition, key string) (store.Row, bool, error) {
	resp, err := b.tables[t].GetEntity(ctx, partition, key, nil)
	if tablekit.HasCode(err, aztables.ResourceNotFound) || tablekit.Status(err) == 404 {
		return store.Row{}, false, nil
	}
	if err != nil {
		return store.Row{}, false, wrap(err, "read", t)
	}
	r, err := decode(resp.Value)
	return r, err == nil, err
}

func (b *Backend) Delete(ctx context.Context, t store.Table, partition, key string) error {
	_, err := b.tables[t].DeleteEntity(ctx, partition, key, nil)
	if tablekit.HasCode(err, aztables.ResourceNotFound) || tablekit.Status(err) == 404 {
		return nil
	}
	return wrap(err, "delete from", t)
}

// DeleteRows deletes a hundred rows a transaction; a transaction refused (a row was gone
// already) is done again row by row.
func (b *Backend) DeleteRows(ctx context.Context, t store.Table, partition string, keys []string) error {
	for start := 0; start < len(keys); start += 100 {
		batch := keys[start:min(start+100, len(keys))]
		actions := make([]aztables.TransactionAction, len(batch))
		for i, k := range batch {
			actions[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: Entity(store.Row{Partition: partition, Key: k})}
		}
		if _, err := b.tables[t].SubmitTransaction(ctx, actions, nil); err == nil {
			continue
		}
		for _, k := range batch {
			if err := b.Delete(ctx, t, partition, k); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *Backend) Range(ctx context.Context, t store.Table, partition, after, before string, limit int) ([]store.Row, error) {
	filter := "PartitionKey eq " + tablekit.Quote(partition) +
		" and RowKey gt " + tablekit.Quote(after) + " and RowKey lt " + tablekit.Quote(before)
	return b.query(ctx, t, filter, limit)
}

func (b *Backend) All(ctx context.Context, t store.Table) ([]store.Row, error) {
	return b.query(ctx, t, "", 0)
}

func (b *Backend) query(ctx context.Context, t store.Table, filter string, limit int) ([]store.Row, error) {
	opt := &aztables.ListEntitiesOptions{}
	if filter != "" {
		opt.Filter = &filter
	}
	if limit > 0 {
		top := int32(min(limit, 1000)) // a page holds at most 1,000 entities
		opt.Top = &top
	}
	var out []store.Row
	pager := b.tables[t].NewListEntitiesPager(opt)
	for pager.More() && (limit <= 0 || len(out) < limit) {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "query", t)
		}
		for _, raw := range page.Entities {
			r, err := decode(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func (b *Backend) PutPayload(ctx context.Context, name string, data []byte) error {
	_, err := b.payloads.NewBlockBlobClient(name).UploadBuffer(ctx, data, nil)
	if err != nil {
		return fmt.Errorf("journal: write payload %s: %w", name, err)
	}
	return nil
}

func (b *Backend) GetPayload(ctx context.Context, name string) ([]byte, error) {
	resp, err := b.payloads.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("journal: read payload %s: %w", name, err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (b *Backend) DeletePayload(ctx context.Context, name string) error {
	_, err := b.payloads.NewBlobClient(name).Delete(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("journal: delete payload %s: %w", name, err)
	}
	return nil
}

// PayloadNames lists the offloaded payloads (for tests: a refused event leaves none behind).
func (b *Backend) PayloadNames(ctx context.Context) ([]string, error) {
	var names []string
	pager := b.payloads.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("journal: list payloads: %w", err)
		}
		for _, item := range page.Segment.BlobItems {
			names = append(names, *item.Name)
		}
	}
	return names, nil
}

func (b *Backend) OpenArchive(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := b.archive.NewBlobClient(name).DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: read archive %s: %w", name, err)
	}
	return resp.Body, nil
}

func (b *Backend) AppendArchive(ctx context.Context, name string, at int64, chunk []byte) error {
	ab := b.archive.NewAppendBlobClient(name)
	if at == 0 {
		ifNone := azcore.ETagAny
		_, err := ab.Create(ctx, &appendblob.CreateOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &ifNone}}})
		if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists) {
			return fmt.Errorf("journal: create archive %s: %w", name, err)
		}
	}
	_, err := ab.AppendBlock(ctx, streaming.NopCloser(bytes.NewReader(chunk)), &appendblob.AppendBlockOptions{
		AppendPositionAccessConditions: &appendblob.AppendPositionAccessConditions{AppendPosition: &at}})
	if bloberror.HasCode(err, bloberror.AppendPositionConditionNotMet, bloberror.BlobNotFound) {
		return fmt.Errorf("%w: %s is not %d bytes long", store.ErrArchiveMoved, name, at)
	}
	if err != nil {
		return fmt.Errorf("journal: append to archive %s: %w", name, err)
	}
	return nil
}

func wrap(err error, what string, t store.Table) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("journal: %s %s: %w", what, t, err)
}

// Entity is the JSON entity of a row: its fields as typed properties, the empty ones left out.
func Entity(r store.Row) []byte {
	e := map[string]any{"PartitionKey": r.Partition, "RowKey": r.Key}
	str := func(name, v string) {
		if v != "" {
			e[name] = v
		}
	}
	i64 := func(name string, v int64) {
		if v != 0 {
			e[name], e[name+"@odata.type"] = strconv.FormatInt(v, 10), "Edm.Int64"
		}
	}
	str("EventID", r.EventID)
	str("Type", r.Type)
	if r.SchemaVersion != 0 {
		e["SchemaVersion"] = r.SchemaVersion
	}
	str("Stream", r.Stream)
	i64("Version", r.Version)
	str("Source", r.Source)
	str("CreatedAt", r.CreatedAt)
	str("CorrelationID", r.CorrelationID)
	str("CausationID", r.CausationID)
	str("TraceParent", r.TraceParent)
	if r.Data != "" {
		// Binary keeps the request ASCII (base64): Azurite decodes a request body chunk by chunk
		// and turns a character that straddles two chunks into U+FFFD, for good
		// (Azure/Azurite#2670); the SDK re-encodes entities, so escaping them would not survive.
		e["Data"], e["Data@odata.type"] = []byte(r.Data), "Edm.Binary"
	}
	str("DataBlob", r.DataBlob)
	str("ReceivedAt", r.ReceivedAt)
	str("Digest", r.Digest)
	str("ArchivedOn", r.ArchivedOn)
	i64("Count", r.Count)
	i64("Bytes", r.Bytes)
	b, _ := json.Marshal(e) // strings, numbers and bytes only: cannot fail
	return b
}

type entity struct {
	PartitionKey, RowKey                     string
	EventID, Type, Stream, Source, CreatedAt string
	SchemaVersion                            int
	Version, Count, Bytes                    int64 `json:",string"`
	CorrelationID, CausationID, TraceParent  string
	Data                                     []byte // Edm.Binary: base64 in JSON
	DataBlob, ReceivedAt, Digest, ArchivedOn string
}

func decode(raw []byte) (store.Row, error) {
	var e entity
	if err := json.Unmarshal(raw, &e); err != nil {
		return store.Row{}, fmt.Errorf("journal: entity: %w", err)
	}
	if e.PartitionKey == "" && e.RowKey == "" {
		return store.Row{}, errors.New("journal: entity without keys")
	}
	return store.Row{
		Partition: e.PartitionKey, Key: e.RowKey, EventID: e.EventID, Type: e.Type, SchemaVersion: e.SchemaVersion,
		Stream: e.Stream, Version: e.Version, Source: e.Source, CreatedAt: e.CreatedAt, CorrelationID: e.CorrelationID,
		CausationID: e.CausationID, TraceParent: e.TraceParent, Data: string(e.Data), DataBlob: e.DataBlob,
		ReceivedAt: e.ReceivedAt, Digest: e.Digest, ArchivedOn: e.ArchivedOn, Count: e.Count, Bytes: e.Bytes,
	}, nil
}

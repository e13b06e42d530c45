// Package tablestore is the Azure Table Storage views.Backend: one table per bounded context,
// PartitionKey = collection, RowKey = key, the document's JSON in string properties.
//
// Keys: Table Storage forbids / \ # ? and control characters in keys, so those (and the escape
// character ~, plus % and ' which some clients mishandle in URLs) are written as ~XX per UTF-8
// byte. The escaping is reversible and List returns the original keys.
//
// Documents: the JSON is kept readable in one string property, Data, when it is small (up to
// 32 KiB, which covers nearly every read model). A bigger one is split into binary properties
// Data, Data1, ... of at most 64 KiB each (a property's limit). A document over
// views.MaxDocumentSize is refused with views.ErrTooLarge before any write.
//
// Concurrency: Put with a version replaces the entity If-Match its ETag; without one it
// inserts, so a concurrent creator loses with views.ErrConflict.
package tablestore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/shared/tablekit"
	"meterline/shared/views"
)

// Store is a views.Backend on one table. It is safe for concurrent use.
type Store struct {
	table *aztables.Client
}

var tableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)

// New returns a store on table (created if missing), e.g. "subscriptionsviews".
func New(ctx context.Context, service *aztables.ServiceClient, table string) (*Store, error) {
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("tablestore: invalid table name %q (3-63 letters and digits, starting with a letter)", table)
	}
	client, err := tablekit.CreateTable(ctx, service, table)
	if err != nil {
		return nil, fmt.Errorf("tablestore: create table %s: %w", table, err)
	}
	return &Store{table: client}, nil
}

const (
	// A document up to textMax bytes whose entity stays under textEntityMax is stored as one
	// readable string property (Table Storage: at most 32K UTF-16 units).
	textMax       = 32 << 10
	textEntityMax = 48 << 10
	// Bigger documents are split into binary properties of at most 64 KiB. Binary also keeps
	// the request ASCII (base64): Azurite corrupts a multi-byte character that straddles a
	// 64 KiB boundary of a request body.
	binaryChunk = 64 << 10
	maxChunks   = (views.MaxDocumentSize + binaryChunk - 1) / binaryChunk
	edmBinary   = "Edm.Binary"
)

func chunkName(i int) string {
	if i == 0 {
		return "Data"
	}
	return "Data" + strconv.Itoa(i)
}

// escapeKey makes key acceptable as a PartitionKey or RowKey.
func escapeKey(key string) (string, error) {
	if err := views.CheckKey(key); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, r := range key {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || strings.ContainsRune(`/\#?~%'`, r) {
			var buf [utf8.UTFMax]byte
			n := utf8.EncodeRune(buf[:], r)
			for _, c := range buf[:n] {
				fmt.Fprintf(&b, "~%02X", c)
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}

// unescapeKey reverses escapeKey.
func unescapeKey(s string) (string, error) {
	if !strings.Contains(s, "~") {
		return s, nil
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '~' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("tablestore: malformed stored key %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("tablestore: malformed stored key %q", s)
		}
		out = append(out, byte(v))
		i += 2
	}
	return string(out), nil
}

func keys(collection, key string) (pk, rk string, err error) {
	if pk, err = escapeKey(collection); err != nil {
		return "", "", err
	}
	rk, err = escapeKey(key)
	return pk, rk, err
}

// Get implements views.Backend.
func (s *Store) Get(ctx context.Context, collection, key string) (views.Doc, error) {
	pk, rk, err := keys(collection, key)
	if err != nil {
		return views.Doc{}, err
	}
	resp, err := s.table.GetEntity(ctx, pk, rk, nil)
	if tablekit.Status(err) == http.StatusNotFound {
		return views.Doc{}, views.ErrNotFound
	}
	if err != nil {
		return views.Doc{}, fmt.Errorf("tablestore: get %s/%s: %w", collection, key, err)
	}
	data, err := documentOf(resp.Value)
	if err != nil {
		return views.Doc{}, fmt.Errorf("tablestore: get %s/%s: %w", collection, key, err)
	}
	return views.Doc{Key: key, Data: data, Version: string(resp.ETag)}, nil
}

// documentOf reads the document out of an entity: one string property Data, or binary
// chunks Data, Data1, ...
func documentOf(entity []byte) ([]byte, error) {
	var props map[string]any
	if err := json.Unmarshal(entity, &props); err != nil {
		return nil, err
	}
	if props[chunkName(0)+"@odata.type"] != edmBinary {
		text, ok := props[chunkName(0)].(string)
		if !ok {
			return nil, errors.New("entity has no Data property")
		}
		return []byte(text), nil
	}
	var data []byte
	for i := 0; i < maxChunks; i++ {
		chunk, ok := props[chunkName(i)].(string)
		if !ok {
			break
		}
		b, err := base64.StdEncoding.DecodeString(chunk)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", chunkName(i), err)
		}
		data = append(data, b...)
	}
	return data, nil
}

// entityOf lays out a document as an entity.
func entityOf(pk, rk string, data []byte) ([]byte, error) {
	if len(data) <= textMax {
		e, err := json.Marshal(map[string]any{"PartitionKey": pk, "RowKey": rk, chunkName(0): string(data)})
		if err != nil || len(e) <= textEntityMax {
			return e, err
		}
	}
	props := map[string]any{"PartitionKey": pk, "RowKey": rk}
	for i := 0; len(data) > 0; i++ {
		if i == maxChunks {
			return nil, views.ErrTooLarge
		}
		n := min(binaryChunk, len(data))
		props[chunkName(i)] = data[:n] // base64 in JSON
		props[chunkName(i)+"@odata.type"] = edmBinary
		data = data[n:]
	}
	return json.Marshal(props)
}

// Put implements views.Backend.
func (s *Store) Put(ctx context.Context, collection, key string, data []byte, version string) (string, error) {
	pk, rk, err := keys(collection, key)
	if err != nil {
		return "", err
	}
	if err := views.CheckDocument(data); err != nil {
		return "", err
	}
	entity, err := entityOf(pk, rk, data)
	if err != nil {
		return "", err
	}
	if version == "" {
		resp, err := s.table.AddEntity(ctx, entity, nil)
		if tablekit.Status(err) == http.StatusConflict {
			return "", views.ErrConflict
		}
		if err != nil {
			return "", fmt.Errorf("tablestore: insert %s/%s: %w", collection, key, err)
		}
		return string(resp.ETag), nil
	}
	etag := azcore.ETag(version)
	resp, err := s.table.UpdateEntity(ctx, entity, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	switch tablekit.Status(err) {
	case http.StatusPreconditionFailed, http.StatusNotFound: // changed or deleted since read
		return "", views.ErrConflict
	}
	if err != nil {
		return "", fmt.Errorf("tablestore: replace %s/%s: %w", collection, key, err)
	}
	return string(resp.ETag), nil
}

// Delete implements views.Backend.
func (s *Store) Delete(ctx context.Context, collection, key string) error {
	pk, rk, err := keys(collection, key)
	if err != nil {
		return err
	}
	_, err = s.table.DeleteEntity(ctx, pk, rk, nil)
	if err != nil && tablekit.Status(err) != http.StatusNotFound {
		return fmt.Errorf("tablestore: delete %s/%s: %w", collection, key, err)
	}
	return nil
}

// List implements views.Backend.
func (s *Store) List(ctx context.Context, collection string) ([]views.Doc, error) {
	pk, err := escapeKey(collection)
	if err != nil {
		return nil, err
	}
	filter := "PartitionKey eq " + tablekit.Quote(pk)
	pager := s.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []views.Doc
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("tablestore: list %s: %w", collection, err)
		}
		for _, e := range page.Entities {
			var meta struct {
				RowKey string
				ETag   string `json:"odata.etag"`
			}
			if err := json.Unmarshal(e, &meta); err != nil {
				return nil, fmt.Errorf("tablestore: list %s: %w", collection, err)
			}
			key, err := unescapeKey(meta.RowKey)
			if err != nil {
				return nil, err
			}
			data, err := documentOf(e)
			if err != nil {
				return nil, fmt.Errorf("tablestore: list %s/%s: %w", collection, key, err)
			}
			out = append(out, views.Doc{Key: key, Data: data, Version: meta.ETag})
		}
	}
	// Escaping changes the table's order; give the same order as the other backends.
	slices.SortFunc(out, func(a, b views.Doc) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

var _ views.Bulk = (*Store)(nil)

// A collection is one partition, so a rebuild writes and drops it in entity-group
// transactions: at most 100 operations and 4 MiB each (kept under, for the batch's framing).
const (
	batchOps   = 100
	batchBytes = 3 << 20
)

// PutAll implements views.Bulk: upserts in transactions of up to a hundred documents, several
// transactions at once.
func (s *Store) PutAll(ctx context.Context, collection string, docs []views.Doc) error {
	pk, err := escapeKey(collection)
	if err != nil {
		return err
	}
	var batches [][]aztables.TransactionAction
	var batch []aztables.TransactionAction
	size := 0
	for _, d := range docs {
		rk, err := escapeKey(d.Key)
		if err != nil {
			return err
		}
		if err := views.CheckDocument(d.Data); err != nil {
			return err
		}
		entity, err := entityOf(pk, rk, d.Data)
		if err != nil {
			return err
		}
		if len(batch) == batchOps || (len(batch) > 0 && size+len(entity) > batchBytes) {
			batches, batch, size = append(batches, batch), nil, 0
		}
		batch = append(batch, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: entity})
		size += len(entity)
	}
	if len(batch) > 0 {
		batches = append(batches, batch)
	}
	return s.submitAll(ctx, collection, batches)
}

// Drop implements views.Bulk: the partition's keys, then deletes in transactions.
func (s *Store) Drop(ctx context.Context, collection string) (int, error) {
	pk, err := escapeKey(collection)
	if err != nil {
		return 0, err
	}
	filter, sel := "PartitionKey eq "+tablekit.Quote(pk), "RowKey"
	pager := s.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	var batches [][]aztables.TransactionAction
	var batch []aztables.TransactionAction
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("tablestore: drop %s: %w", collection, err)
		}
		for _, e := range page.Entities {
			var meta struct{ RowKey string }
			if err := json.Unmarshal(e, &meta); err != nil {
				return 0, fmt.Errorf("tablestore: drop %s: %w", collection, err)
			}
			entity, _ := json.Marshal(map[string]string{"PartitionKey": pk, "RowKey": meta.RowKey})
			if len(batch) == batchOps {
				batches, batch = append(batches, batch), nil
			}
			batch = append(batch, aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: entity})
			n++
		}
	}
	if len(batch) > 0 {
		batches = append(batches, batch)
	}
	return n, s.submitAll(ctx, collection, batches)
}

// parallelBatches bounds the transactions in flight: one partition takes a few thousand
// entities a second, which a handful of concurrent transactions reaches.
const parallelBatches = 8

func (s *Store) submitAll(ctx context.Context, collection string, batches [][]aztables.TransactionAction) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, parallelBatches)
	errs := make(chan error, len(batches))
	for _, b := range batches {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if _, err := s.table.SubmitTransaction(ctx, b, nil); err != nil {
				cancel()
				errs <- fmt.Errorf("tablestore: write %s: %w", collection, err)
			}
		}()
	}
	for range parallelBatches {
		sem <- struct{}{}
	}
	close(errs)
	return <-errs // nil when none failed
}

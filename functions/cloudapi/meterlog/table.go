package meterlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/cloudapi/domain"
	"meterline/shared/tablekit"
)

// Table is the meter log on Azure Table Storage (see the package comment for the layout).
// Safe for concurrent use.
type Table struct {
	client  *aztables.Client
	known   sync.Map // customers already in the index partition (by this process)
	commits groupCommit
}

// NewTable opens (creating it if needed) the table name of the storage account behind svc.
func NewTable(ctx context.Context, svc *aztables.ServiceClient, name string) (*Table, error) {
	client, err := tablekit.CreateTable(ctx, svc, name)
	if err != nil {
		return nil, fmt.Errorf("meterlog: create table %s: %w", name, err)
	}
	return &Table{client: client}, nil
}

const (
	indexPartition = "customers"
	totalsRow      = "t"
)

func partition(customerID string) string { return "m-" + escapeKey(customerID) }
func requestKey(requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	return hex.EncodeToString(sum[:])
}

// escapeKey percent-escapes the characters a table key forbids.
func escapeKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '/' || r == '\\' || r == '#' || r == '?' || r == '%' || r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			fmt.Fprintf(&b, "%%%02X", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Record stores e unless its request id is already recorded for the customer; it returns the
// stored entry (the earlier one on a repeat) and whether this call stored it. The request row
// and the pending row are inserted in one transaction, shared with the other requests of the
// same customer that arrive meanwhile (see groupCommit).
func (t *Table) Record(ctx context.Context, e domain.MeterEntry) (domain.MeterEntry, bool, error) {
	if err := t.index(ctx, e.CustomerID); err != nil {
		return domain.MeterEntry{}, false, err
	}
	e.RecordedAt = e.RecordedAt.UTC()
	o := t.commits.record(ctx, t, e)
	return o.entry, o.fresh, o.err
}

// rows are the two rows a request is recorded as.
func rows(e domain.MeterEntry) []aztables.TransactionAction {
	pk, rk := partition(e.CustomerID), requestKey(e.RequestID)
	request := entity{"PartitionKey": pk, "RowKey": "r-" + rk, "CustomerID": e.CustomerID, "RequestID": e.RequestID,
		"UserID": e.UserID, "KeyID": e.KeyID, "RecordedAt": formatTime(e.RecordedAt), "RequestHash": e.RequestHash,
		"Response": string(e.Response)}
	request.setInt("Units", e.Units)
	pending := entity{"PartitionKey": pk, "RowKey": "p-" + rk, "RequestID": e.RequestID,
		"RecordedAt": formatTime(e.RecordedAt), "ReportID": ""}
	pending.setInt("Units", e.Units)
	return []aztables.TransactionAction{
		{ActionType: aztables.TransactionTypeAdd, Entity: request.json()},
		{ActionType: aztables.TransactionTypeAdd, Entity: pending.json()},
	}
}

// recordOne records a single request in its own transaction.
func (t *Table) recordOne(ctx context.Context, e domain.MeterEntry) outcome {
	_, err := t.client.SubmitTransaction(ctx, rows(e), nil)
	if err == nil {
		return outcome{entry: e, fresh: true}
	}
	// A failed transaction does not say which operation failed: look for the earlier record.
	old, found, gerr := t.get(ctx, partition(e.CustomerID), "r-"+requestKey(e.RequestID))
	if gerr != nil || !found {
		return outcome{err: fmt.Errorf("meterlog: record %s: %w", e.RequestID, err)}
	}
	return outcome{entry: old.meterEntry()}
}

// recordMany records requests of one customer (distinct request ids) in one transaction; if
// it is refused (one of them is a repeat, or any failure) each is recorded on its own.
func (t *Table) recordMany(ctx context.Context, entries []domain.MeterEntry) []outcome {
	out := make([]outcome, len(entries))
	if len(entries) > 1 {
		var actions []aztables.TransactionAction
		for _, e := range entries {
			actions = append(actions, rows(e)...)
		}
		if _, err := t.client.SubmitTransaction(ctx, actions, nil); err == nil {
			for i, e := range entries {
				out[i] = outcome{entry: e, fresh: true}
			}
			return out
		}
	}
	for i, e := range entries {
		out[i] = t.recordOne(ctx, e)
	}
	return out
}

// index puts the customer in the index partition once per process (an idempotent upsert).
func (t *Table) index(ctx context.Context, customerID string) error {
	if _, ok := t.known.Load(customerID); ok {
		return nil
	}
	row := entity{"PartitionKey": indexPartition, "RowKey": escapeKey(customerID), "CustomerID": customerID}
	if _, err := t.client.UpsertEntity(ctx, row.json(), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeMerge}); err != nil {
		return fmt.Errorf("meterlog: index customer: %w", err)
	}
	t.known.Store(customerID, true)
	return nil
}

// Customers lists every customer that ever metered usage.
func (t *Table) Customers(ctx context.Context) ([]string, error) {
	rows, err := t.list(ctx, fmt.Sprintf("PartitionKey eq '%s'", indexPartition), 0)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.str("CustomerID"))
	}
	return ids, nil
}

// OpenReports lists the customer's reports assigned but not yet marked reported.
func (t *Table) OpenReports(ctx context.Context, customerID string) ([]domain.Report, error) {
	rows, err := t.list(ctx, rangeFilter(partition(customerID), "a-"), 0)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Report, 0, len(rows))
	for _, r := range rows {
		rep, err := r.report()
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	return out, nil
}

// Unassigned lists at most limit pending entries of the customer not assigned to a report.
func (t *Table) Unassigned(ctx context.Context, customerID string, limit int) ([]domain.PendingUsage, error) {
	var out []domain.PendingUsage
	pager := t.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: ptr(rangeFilter(partition(customerID), "p-"))})
	for pager.More() && (limit <= 0 || len(out) < limit) {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("meterlog: list pending: %w", err)
		}
		for _, raw := range page.Entities {
			r, err := decode(raw)
			if err != nil {
				return nil, err
			}
			if r.str("ReportID") != "" {
				continue
			}
			out = append(out, r.pending())
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Assign makes r an open report covering entries in one transaction: the report row is
// inserted and each pending row is updated only if unchanged since read (its ETag), so two
// reporters can never assign the same request. domain.ErrAssigned if it failed for that reason.
func (t *Table) Assign(ctx context.Context, r domain.Report, entries []domain.PendingUsage) error {
	if len(entries) == 0 || len(entries) > domain.MaxRequestsPerReport {
		return fmt.Errorf("meterlog: a report covers 1 to %d requests, not %d", domain.MaxRequestsPerReport, len(entries))
	}
	pk := partition(r.CustomerID)
	ids, _ := json.Marshal(r.RequestIDs)
	report := entity{"PartitionKey": pk, "RowKey": "a-" + r.ReportID, "ReportID": r.ReportID, "CustomerID": r.CustomerID,
		"PeriodFrom": formatTime(r.PeriodFrom), "PeriodTo": formatTime(r.PeriodTo), "RequestIDs": string(ids)}
	report.setInt("Units", r.Units)
	report.setInt("Requests", r.Requests)
	actions := []aztables.TransactionAction{{ActionType: aztables.TransactionTypeAdd, Entity: report.json()}}
	for _, e := range entries {
		etag := azcore.ETag(e.Token)
		row := entity{"PartitionKey": pk, "RowKey": "p-" + requestKey(e.RequestID), "ReportID": r.ReportID}
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateMerge, Entity: row.json(), IfMatch: &etag})
	}
	if _, err := t.client.SubmitTransaction(ctx, actions, nil); err != nil {
		if isBatchRefusal(err) {
			return fmt.Errorf("%w: report %s: %v", domain.ErrAssigned, r.ReportID, err)
		}
		return fmt.Errorf("meterlog: assign report %s: %w", r.ReportID, err)
	}
	return nil
}

// MarkReported closes the open report r in one transaction: its pending rows and its report
// row are deleted and the totals row is updated (ETag-checked). A closed report is left alone.
func (t *Table) MarkReported(ctx context.Context, r domain.Report) error {
	pk := partition(r.CustomerID)
	row, found, err := t.get(ctx, pk, "a-"+r.ReportID)
	if err != nil || !found {
		return err
	}
	open, err := row.report()
	if err != nil {
		return err
	}
	totals, found, err := t.get(ctx, pk, totalsRow)
	if err != nil {
		return err
	}
	next := entity{"PartitionKey": pk, "RowKey": totalsRow}
	next.setInt("Units", totals.int("Units")+open.Units)
	next.setInt("Requests", totals.int("Requests")+open.Requests)
	next.setInt("Reports", totals.int("Reports")+1)
	rowETag := row.etag()
	actions := []aztables.TransactionAction{{ActionType: aztables.TransactionTypeDelete, Entity: entity{"PartitionKey": pk, "RowKey": "a-" + r.ReportID}.json(), IfMatch: &rowETag}}
	if found {
		etag := totals.etag()
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateReplace, Entity: next.json(), IfMatch: &etag})
	} else {
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: next.json()})
	}
	for _, id := range open.RequestIDs {
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete,
			Entity: entity{"PartitionKey": pk, "RowKey": "p-" + requestKey(id)}.json()})
	}
	if _, err := t.client.SubmitTransaction(ctx, actions, nil); err != nil {
		return fmt.Errorf("meterlog: mark report %s reported: %w", r.ReportID, err)
	}
	return nil
}

// Usage returns the customer's reported totals and its pending (unreported) usage.
func (t *Table) Usage(ctx context.Context, customerID string) (domain.Usage, error) {
	u := domain.Usage{CustomerID: customerID}
	pk := partition(customerID)
	totals, _, err := t.get(ctx, pk, totalsRow)
	if err != nil {
		return u, err
	}
	u.Reported = domain.Totals{Units: totals.int("Units"), Requests: totals.int("Requests"), Reports: totals.int("Reports")}
	rows, err := t.list(ctx, rangeFilter(pk, "p-"), 0, "Units")
	if err != nil {
		return u, err
	}
	for _, r := range rows {
		u.Unreported.Units += r.int("Units")
		u.Unreported.Requests++
	}
	return u, nil
}

func (t *Table) get(ctx context.Context, pk, rk string) (entity, bool, error) {
	resp, err := t.client.GetEntity(ctx, pk, rk, nil)
	if tablekit.HasCode(err, aztables.ResourceNotFound) {
		return entity{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("meterlog: get %s: %w", rk, err)
	}
	e, err := decode(resp.Value)
	return e, err == nil, err
}

func (t *Table) list(ctx context.Context, filter string, limit int, fields ...string) ([]entity, error) {
	opts := &aztables.ListEntitiesOptions{Filter: &filter}
	if len(fields) > 0 {
		opts.Select = ptr(strings.Join(fields, ","))
	}
	var out []entity
	pager := t.client.NewListEntitiesPager(opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("meterlog: list: %w", err)
		}
		for _, raw := range page.Entities {
			e, err := decode(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// rangeFilter selects the rows of partition pk whose RowKey starts with prefix.
func rangeFilter(pk, prefix string) string {
	end := prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)
	return fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", tablekit.Quote(pk), tablekit.Quote(prefix), tablekit.Quote(end))
}

func ptr[T any](v T) *T { return &v }

// isBatchRefusal: the service refused the transaction (a precondition or conflict inside it),
// as opposed to a transport or server failure.
func isBatchRefusal(err error) bool {
	switch tablekit.Status(err) {
	case http.StatusAccepted, http.StatusConflict, http.StatusPreconditionFailed, http.StatusNotFound, http.StatusBadRequest:
		return true
	}
	return false
}

// entity is a table row as a JSON object.
type entity map[string]any

func decode(raw []byte) (entity, error) {
	var e entity
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("meterlog: decode row: %w", err)
	}
	return e, nil
}

func (e entity) json() []byte {
	b, _ := json.Marshal(e) // strings and numbers only: cannot fail
	return b
}

// setInt stores an Edm.Int64 (the wire form is a decimal string with a type annotation).
func (e entity) setInt(name string, v int64) {
	e[name] = strconv.FormatInt(v, 10)
	e[name+"@odata.type"] = "Edm.Int64"
}

func (e entity) int(name string) int64 {
	switch v := e[name].(type) {
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	case float64:
		return int64(v)
	}
	return 0
}

func (e entity) str(name string) string { s, _ := e[name].(string); return s }

func (e entity) time(name string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, e.str(name))
	return t
}

func (e entity) etag() azcore.ETag { return azcore.ETag(e.str("odata.etag")) }

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (e entity) meterEntry() domain.MeterEntry {
	return domain.MeterEntry{CustomerID: e.str("CustomerID"), RequestID: e.str("RequestID"), UserID: e.str("UserID"),
		KeyID: e.str("KeyID"), Units: e.int("Units"), RecordedAt: e.time("RecordedAt"),
		RequestHash: e.str("RequestHash"), Response: []byte(e.str("Response"))}
}

func (e entity) pending() domain.PendingUsage {
	return domain.PendingUsage{RequestID: e.str("RequestID"), Units: e.int("Units"), RecordedAt: e.time("RecordedAt"),
		ReportID: e.str("ReportID"), Token: string(e.etag())}
}

func (e entity) report() (domain.Report, error) {
	r := domain.Report{ReportID: e.str("ReportID"), CustomerID: e.str("CustomerID"), Units: e.int("Units"),
		Requests: e.int("Requests"), PeriodFrom: e.time("PeriodFrom"), PeriodTo: e.time("PeriodTo")}
	if err := json.Unmarshal([]byte(e.str("RequestIDs")), &r.RequestIDs); err != nil {
		return r, fmt.Errorf("meterlog: report %s: bad request list: %w", r.ReportID, err)
	}
	return r, nil
}

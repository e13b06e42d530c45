package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// MeterEntry is the consumption of one metered request. It is recorded once per request id
// (the Idempotency-Key, or a random id) before the answer is sent.
type MeterEntry struct {
	CustomerID  string
	RequestID   string
	UserID      string
	KeyID       string
	Units       int64
	RecordedAt  time.Time
	RequestHash string // fingerprint of the request body: an idempotency key reused for another request is refused
	Response    []byte // the answer given, returned again for a repeated request id
}

// PendingUsage is a metered request not reported yet. ReportID is set once it has been assigned
// to a usage report (and never changes afterwards).
type PendingUsage struct {
	RequestID  string
	Units      int64
	RecordedAt time.Time
	ReportID   string
	Token      string // the store's concurrency token: assigning fails if the entry changed since it was read
}

// MaxRequestsPerReport bounds the requests one usage report covers, so that assigning them to
// the report, and later marking them reported, are each one atomic table transaction (at most
// 100 operations: the requests, the report row and the totals row).
const MaxRequestsPerReport = 98

// ReportID is the stable id of the usage report of customerID covering exactly requestIDs:
// computing it again for the same requests gives the same id, whatever their order.
func ReportID(customerID string, requestIDs []string) string {
	ids := slices.Clone(requestIDs)
	slices.Sort(ids)
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s", len(customerID), customerID)
	for _, id := range ids {
		fmt.Fprintf(h, "|%d:%s", len(id), id)
	}
	return "usage-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Report sums the consumption of the pending requests of one report.
type Report struct {
	ReportID   string
	CustomerID string
	RequestIDs []string
	Units      int64
	Requests   int64
	PeriodFrom time.Time
	PeriodTo   time.Time
}

// NewReport sums entries (all assigned to reportID) into a report.
func NewReport(customerID, reportID string, entries []PendingUsage) Report {
	r := Report{ReportID: reportID, CustomerID: customerID}
	for i, e := range entries {
		r.Units += e.Units
		r.Requests++
		r.RequestIDs = append(r.RequestIDs, e.RequestID)
		if i == 0 || e.RecordedAt.Before(r.PeriodFrom) {
			r.PeriodFrom = e.RecordedAt
		}
		if e.RecordedAt.After(r.PeriodTo) {
			r.PeriodTo = e.RecordedAt
		}
	}
	return r
}

// Usage is a customer's consumption as this context knows it.
type Usage struct {
	CustomerID string `json:"customerId"`
	Reported   Totals `json:"reported"`
	Unreported Totals `json:"unreported"`
}

// Totals counts units and requests (and, for reported usage, the reports).
type Totals struct {
	Units    int64 `json:"units"`
	Requests int64 `json:"requests"`
	Reports  int64 `json:"reports,omitempty"`
}

// ErrAssigned: some of the entries given to a report changed since they were read (another
// reporter assigned them first). Nothing was assigned; read again.
var ErrAssigned = errors.New("usage already assigned to another report")

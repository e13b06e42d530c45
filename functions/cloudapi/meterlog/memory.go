// Package meterlog stores the Cloud API's metered consumption: one entry per request, kept
// by customer, until the usage reporting task has turned it into usage reports.
//
// Layout (Table Storage; the in-memory twin mirrors it): one partition per customer, so requests
// of different customers never contend and requests of one customer never serialise on a
// shared row (each is an insert of its own rows):
//
//	"r-<hash(requestId)>"  the request: its units and the answer given (idempotency record, kept)
//	"p-<hash(requestId)>"  pending usage, written with the r-row in one transaction; carries
//	                       the id of the report it is assigned to, once assigned
//	"a-<reportId>"         an open report: what it covers, fixed when assigned
//	"t"                    totals of everything reported
//
// plus an index partition "customers" listing every customer that ever metered usage.
// Assigning pending usage to a report and marking a report reported are each one atomic
// entity-group transaction, which is why a report covers at most domain.MaxRequestsPerReport
// requests.
package meterlog

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"meterline/functions/cloudapi/domain"
)

// Memory is the in-memory twin of Table, for unit tests. Safe for concurrent use.
type Memory struct {
	mu        sync.Mutex
	customers map[string]*memCustomer
	version   int
}

type memCustomer struct {
	records map[string]domain.MeterEntry
	pending map[string]domain.PendingUsage
	open    map[string]domain.Report
	totals  domain.Totals
}

// NewMemory returns an empty log.
func NewMemory() *Memory { return &Memory{customers: map[string]*memCustomer{}} }

func (m *Memory) customer(id string) *memCustomer {
	c := m.customers[id]
	if c == nil {
		c = &memCustomer{records: map[string]domain.MeterEntry{}, pending: map[string]domain.PendingUsage{}, open: map[string]domain.Report{}}
		m.customers[id] = c
	}
	return c
}

// peek returns the customer's state without creating it.
func (m *Memory) peek(id string) *memCustomer {
	if c := m.customers[id]; c != nil {
		return c
	}
	return &memCustomer{}
}

func (m *Memory) token() string { m.version++; return strconv.Itoa(m.version) }

// Record stores e unless its request id is already recorded for the customer; it returns the
// stored entry (the earlier one on a repeat) and whether this call stored it.
func (m *Memory) Record(_ context.Context, e domain.MeterEntry) (domain.MeterEntry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.customer(e.CustomerID)
	if old, ok := c.records[e.RequestID]; ok {
		return old, false, nil
	}
	e.RecordedAt = e.RecordedAt.UTC()
	e.Response = slices.Clone(e.Response)
	c.records[e.RequestID] = e
	c.pending[e.RequestID] = domain.PendingUsage{RequestID: e.RequestID, Units: e.Units, RecordedAt: e.RecordedAt, Token: m.token()}
	return e, true, nil
}

// Customers lists every customer that ever metered usage.
func (m *Memory) Customers(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id := range m.customers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// OpenReports lists the customer's reports assigned but not yet marked reported.
func (m *Memory) OpenReports(_ context.Context, customerID string) ([]domain.Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.Report
	for _, r := range m.peek(customerID).open {
		r.RequestIDs = slices.Clone(r.RequestIDs)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b domain.Report) int { return a.PeriodFrom.Compare(b.PeriodFrom) })
	return out, nil
}

// Unassigned lists at most limit pending entries of the customer not assigned to a report.
func (m *Memory) Unassigned(_ context.Context, customerID string, limit int) ([]domain.PendingUsage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.PendingUsage
	for _, p := range m.peek(customerID).pending {
		if p.ReportID == "" {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b domain.PendingUsage) int { return a.RecordedAt.Compare(b.RecordedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Assign makes r an open report covering entries, all or nothing: domain.ErrAssigned if any of
// them changed since read.
func (m *Memory) Assign(_ context.Context, r domain.Report, entries []domain.PendingUsage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.customer(r.CustomerID)
	if _, ok := c.open[r.ReportID]; ok {
		return domain.ErrAssigned
	}
	for _, e := range entries {
		if p, ok := c.pending[e.RequestID]; !ok || p.Token != e.Token {
			return domain.ErrAssigned
		}
	}
	for _, e := range entries {
		p := c.pending[e.RequestID]
		p.ReportID, p.Token = r.ReportID, m.token()
		c.pending[e.RequestID] = p
	}
	r.RequestIDs = slices.Clone(r.RequestIDs)
	c.open[r.ReportID] = r
	return nil
}

// MarkReported closes the open report r: its entries leave the pending usage and its units join
// the reported totals, atomically. A report already closed is left alone.
func (m *Memory) MarkReported(_ context.Context, r domain.Report) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.peek(r.CustomerID)
	open, ok := c.open[r.ReportID]
	if !ok {
		return nil
	}
	for _, id := range open.RequestIDs {
		delete(c.pending, id)
	}
	delete(c.open, r.ReportID)
	c.totals.Units += open.Units
	c.totals.Requests += open.Requests
	c.totals.Reports++
	return nil
}

// Usage returns the customer's reported totals and its pending (unreported) usage.
func (m *Memory) Usage(_ context.Context, customerID string) (domain.Usage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.customers[customerID]
	u := domain.Usage{CustomerID: customerID}
	if !ok {
		return u, nil
	}
	u.Reported = c.totals
	for _, p := range c.pending {
		u.Unreported.Units += p.Units
		u.Unreported.Requests++
	}
	return u, nil
}

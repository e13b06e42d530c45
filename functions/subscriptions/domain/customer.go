package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"meterline/functions/subscriptions/contracts"
)

// Invoice statuses.
const (
	InvoiceOutstanding = "outstanding"
	InvoicePaid        = "paid"
	InvoiceExpired     = "expired" // overdue; can still be paid
)

// Invoice is one issued invoice as the Customer aggregate sees it.
type Invoice struct {
	ID       string
	Period   string
	Amount   int64
	IssuedAt time.Time
	Status   string
}

// monthTotals is what a month brought that no invoice has closed yet.
type monthTotals struct {
	units, consumption, charges int64
}

// Customer is the aggregate of one customer's account: plan terms, balance, lock state,
// consumption, charges, payments and invoices. Stream: contracts.CustomerStream(id).
//
// Balance goes down with consumption beyond the month's included units and with charges, up
// with payments. Below -CreditLimit the customer is locked (once); a payment that brings it back
// to -CreditLimit or above unlocks it. Payments settle invoices oldest first.
type Customer struct {
	id      string
	created bool
	terms   contracts.CustomerCreated
	balance int64
	locked  bool

	// The usage report ids billed most recently, at most RecentReports (see AddConsumption):
	// reportOrder oldest first, reports the same ids as a set.
	reports     map[string]bool
	reportOrder []string
	charges     map[string]int64 // chargeId -> amount
	payments    map[string]int64 // paymentId -> amount

	unitsByMonth map[string]int64        // consumption units per billing month, for included units
	unbilled     map[string]*monthTotals // month -> not yet invoiced
	invoices     map[string]*Invoice
	open         []string // ids of unpaid invoices, oldest first
	credit       int64    // payments not yet used to settle invoices
}

// NewCustomer returns the empty aggregate of customer id (before CustomerCreated).
func NewCustomer(id string) *Customer {
	return &Customer{
		id:           id,
		reports:      map[string]bool{},
		charges:      map[string]int64{},
		payments:     map[string]int64{},
		unitsByMonth: map[string]int64{},
		unbilled:     map[string]*monthTotals{},
		invoices:     map[string]*Invoice{},
	}
}

// CustomerIDFromStream returns the customer id of a "customer-<id>" stream.
func CustomerIDFromStream(stream string) string { return strings.TrimPrefix(stream, "customer-") }

// ID, Exists, Balance, Locked, CreditLimit, Currency and Invoice read the state (for tests
// and application services).
func (c *Customer) ID() string         { return c.id }
func (c *Customer) Exists() bool       { return c.created }
func (c *Customer) Balance() int64     { return c.balance }
func (c *Customer) Locked() bool       { return c.locked }
func (c *Customer) CreditLimit() int64 { return c.terms.CreditLimit }
func (c *Customer) Currency() string   { return c.terms.Currency }
func (c *Customer) Invoice(id string) (Invoice, bool) {
	inv, ok := c.invoices[id]
	if !ok {
		return Invoice{}, false
	}
	return *inv, true
}

// InvoiceID is the id of a customer's invoice for period: one invoice per customer and month.
func InvoiceID(customerID, period string) string { return customerID + "-" + period }

func monthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// Apply mutates the state from one past event.
func (c *Customer) Apply(event any) {
	switch e := event.(type) {
	case contracts.CustomerCreated:
		c.created = true
		c.terms = e
	case contracts.ConsumptionAdded:
		c.rememberReport(e.ReportID)
		c.unitsByMonth[e.Month] += e.Units
		m := c.month(e.Month)
		m.units += e.Units
		m.consumption += e.Amount
	case contracts.ChargeAdded:
		c.charges[e.ChargeID] = e.Amount
		c.month(e.Month).charges += e.Amount
	case contracts.PaymentReceived:
		c.payments[e.PaymentID] = e.Amount
		c.credit += e.Amount
	case contracts.BalanceChanged:
		c.balance = e.Balance
	case contracts.CustomerLocked:
		c.locked = true
	case contracts.CustomerUnlocked:
		c.locked = false
	case contracts.InvoiceIssued:
		for month := range c.unbilled {
			if month <= e.Period {
				delete(c.unbilled, month)
			}
		}
		c.invoices[e.InvoiceID] = &Invoice{ID: e.InvoiceID, Period: e.Period, Amount: e.Amount, IssuedAt: e.IssuedAt, Status: InvoiceOutstanding}
		c.open = append(c.open, e.InvoiceID)
	case contracts.InvoicePaid:
		if inv, ok := c.invoices[e.InvoiceID]; ok && inv.Status != InvoicePaid {
			inv.Status = InvoicePaid
			c.credit -= inv.Amount
			c.open = remove(c.open, e.InvoiceID)
		}
	case contracts.InvoiceExpired:
		if inv, ok := c.invoices[e.InvoiceID]; ok && inv.Status == InvoiceOutstanding {
			inv.Status = InvoiceExpired
		}
	}
}

// RecentReports is how many of the latest usage report ids a Customer remembers: two days at
// one report a minute. Remembering all of them would grow the state without bound (about 60 KB
// a day at that rate) and soon exceed a snapshot.
const RecentReports = 2880

func (c *Customer) rememberReport(id string) {
	if c.reports[id] {
		return
	}
	c.reports[id] = true
	c.reportOrder = append(c.reportOrder, id)
	if len(c.reportOrder) > RecentReports {
		delete(c.reports, c.reportOrder[0])
		c.reportOrder = c.reportOrder[1:]
	}
}

func (c *Customer) month(m string) *monthTotals {
	t, ok := c.unbilled[m]
	if !ok {
		t = &monthTotals{}
		c.unbilled[m] = t
	}
	return t
}

func remove(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// Create opens the account on a plan; creditLimit nil takes the plan's default. Creating the
// same customer again with the same details makes no event (a retried request).
func (c *Customer) Create(name, planName string, creditLimit *int64) ([]any, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, Invalid("name", "is required")
	}
	if utf8.RuneCountInString(name) > 200 {
		return nil, Invalid("name", "is longer than 200 characters")
	}
	plan, ok := PlanNamed(planName)
	if !ok {
		return nil, Invalid("plan", "is not a known plan (GET /api/subscriptions/plans lists them)")
	}
	limit := plan.CreditLimit
	if creditLimit != nil {
		limit = *creditLimit
	}
	if limit < 0 || limit > MaxAmount {
		return nil, Invalid("creditLimit", "must be between 0 and 1000000000000 minor units")
	}
	created := contracts.CustomerCreated{
		CustomerID: c.id, Name: name, Plan: plan.Name, Currency: plan.Currency,
		PricePerUnit: plan.PricePerUnit, IncludedUnits: plan.IncludedUnits, CreditLimit: limit,
	}
	if c.created {
		if c.terms.Name == created.Name && c.terms.Plan == created.Plan && c.terms.CreditLimit == created.CreditLimit {
			return nil, nil
		}
		return nil, ErrCustomerExists
	}
	return []any{created}, nil
}

// AddConsumption bills one usage report of the Cloud API: units beyond the month's included
// units cost PricePerUnit each. A report id among the RecentReports last billed makes no event.
//
// An older report delivered again is not recognised here; the event store recognises it: the
// application runs this command under a command id made of the report id, so its events get
// the ids they had the first time and the append stores nothing (or is refused as partly
// stored when the re-run makes other events: the report was billed all the same).
func (c *Customer) AddConsumption(reportID string, units int64, from, to time.Time) ([]any, error) {
	if !c.created {
		return nil, ErrCustomerNotFound
	}
	if reportID == "" {
		return nil, Invalid("reportId", "is required")
	}
	if units < 0 || units > MaxUnits {
		return nil, Invalid("units", "must be between 0 and 1000000000")
	}
	if from.IsZero() {
		return nil, Invalid("periodFrom", "is required")
	}
	if to.Before(from) {
		return nil, Invalid("periodTo", "is before periodFrom")
	}
	if c.reports[reportID] {
		return nil, nil
	}
	month := monthOf(from)
	free := max(0, c.terms.IncludedUnits-c.unitsByMonth[month])
	amount := max(0, units-free) * c.terms.PricePerUnit
	events := []any{contracts.ConsumptionAdded{
		CustomerID: c.id, ReportID: reportID, Units: units, Amount: amount, Currency: c.terms.Currency,
		PeriodFrom: from.UTC(), PeriodTo: to.UTC(), Month: month,
	}}
	if amount == 0 {
		return events, nil
	}
	return c.debit(events, amount)
}

// Charge adds a one-off charge. The same chargeId with the same amount again makes no event;
// with another amount it is a conflict.
func (c *Customer) Charge(chargeID string, amount int64, description string, at time.Time) ([]any, error) {
	if !c.created {
		return nil, ErrCustomerNotFound
	}
	if err := checkID("chargeId", chargeID); err != nil {
		return nil, err
	}
	if amount <= 0 || amount > MaxAmount {
		return nil, Invalid("amount", "must be between 1 and 1000000000000 minor units")
	}
	if utf8.RuneCountInString(description) > 500 {
		return nil, Invalid("description", "is longer than 500 characters")
	}
	if prev, ok := c.charges[chargeID]; ok {
		if prev == amount {
			return nil, nil
		}
		return nil, ErrChargeIDReused
	}
	events := []any{contracts.ChargeAdded{
		CustomerID: c.id, ChargeID: chargeID, Amount: amount, Currency: c.terms.Currency,
		Description: description, ChargedAt: at.UTC(), Month: monthOf(at),
	}}
	return c.debit(events, amount)
}

// debit lowers the balance by amount after events, locking the customer on overdraft.
func (c *Customer) debit(events []any, amount int64) ([]any, error) {
	balance, ok := addBalance(c.balance, -amount)
	if !ok {
		return nil, ErrBalanceOverflow
	}
	events = append(events, contracts.BalanceChanged{CustomerID: c.id, Balance: balance, Currency: c.terms.Currency})
	if !c.locked && balance < -c.terms.CreditLimit {
		events = append(events, contracts.CustomerLocked{
			CustomerID: c.id, Reason: "overdraft", Balance: balance, CreditLimit: c.terms.CreditLimit, Currency: c.terms.Currency,
		})
	}
	return events, nil
}

// Pay records a payment: it raises the balance, unlocks the customer if that ends the
// overdraft, and settles outstanding invoices oldest first. The same paymentId with the same
// amount again makes no event; with another amount it is a conflict.
func (c *Customer) Pay(paymentID string, amount int64, at time.Time) ([]any, error) {
	if !c.created {
		return nil, ErrCustomerNotFound
	}
	if err := checkID("paymentId", paymentID); err != nil {
		return nil, err
	}
	if amount <= 0 || amount > MaxAmount {
		return nil, Invalid("amount", "must be between 1 and 1000000000000 minor units")
	}
	if prev, ok := c.payments[paymentID]; ok {
		if prev == amount {
			return nil, nil
		}
		return nil, ErrPaymentIDReused
	}
	balance, ok := addBalance(c.balance, amount)
	if !ok {
		return nil, ErrBalanceOverflow
	}
	events := []any{
		contracts.PaymentReceived{CustomerID: c.id, PaymentID: paymentID, Amount: amount, Currency: c.terms.Currency, ReceivedAt: at.UTC()},
		contracts.BalanceChanged{CustomerID: c.id, Balance: balance, Currency: c.terms.Currency},
	}
	if c.locked && balance >= -c.terms.CreditLimit {
		events = append(events, contracts.CustomerUnlocked{CustomerID: c.id, Balance: balance, Currency: c.terms.Currency})
	}
	return append(events, c.settle(c.credit+amount, c.dues())...), nil
}

// due is an unpaid invoice waiting for credit.
type due struct {
	id     string
	amount int64
}

// dues lists the unpaid invoices, oldest first.
func (c *Customer) dues() []due {
	out := make([]due, 0, len(c.open))
	for _, id := range c.open {
		out = append(out, due{id, c.invoices[id].Amount})
	}
	return out
}

// MaxSettledAtOnce bounds the invoices one command settles, so that its events fit in one
// atomic append (eventstore.MaxEventsPerAppend); the next payment or invoice settles the rest.
const MaxSettledAtOnce = 25

// settle pays invoices, oldest first, while credit covers the next one.
func (c *Customer) settle(credit int64, dues []due) []any {
	var paid []any
	for _, d := range dues {
		if d.amount > credit || len(paid) == MaxSettledAtOnce {
			break
		}
		credit -= d.amount
		paid = append(paid, contracts.InvoicePaid{CustomerID: c.id, InvoiceID: d.id})
	}
	return paid
}

// IssueInvoice closes every month up to period that has unbilled consumption or charges into
// one invoice. Nothing to bill, or the period already invoiced, makes no event.
func (c *Customer) IssueInvoice(period string, issuedAt, dueAt time.Time) ([]any, error) {
	if !c.created {
		return nil, ErrCustomerNotFound
	}
	if p, err := time.Parse("2006-01", period); err != nil || p.Format("2006-01") != period {
		return nil, Invalid("period", "must be a month like 2026-11")
	}
	if dueAt.Before(issuedAt) {
		return nil, Invalid("dueAt", "is before issuedAt")
	}
	id := InvoiceID(c.id, period)
	if _, done := c.invoices[id]; done {
		return nil, nil
	}
	var units, consumption, charges int64
	for month, t := range c.unbilled {
		if month <= period {
			units += t.units
			consumption += t.consumption
			charges += t.charges
		}
	}
	amount := consumption + charges
	if amount == 0 {
		return nil, nil
	}
	issued := contracts.InvoiceIssued{
		CustomerID: c.id, InvoiceID: id, Period: period, Amount: amount, Currency: c.terms.Currency,
		IssuedAt: issuedAt.UTC(), DueAt: dueAt.UTC(), Units: units, Consumption: consumption, Charges: charges,
	}
	// Credit left over from earlier payments settles it at once (after the older ones).
	paid := c.settle(c.credit, append(c.dues(), due{id, amount}))
	return append([]any{issued}, paid...), nil
}

// ExpireInvoice marks an invoice still outstanding as expired (overdue). A paid or already
// expired invoice makes no event.
func (c *Customer) ExpireInvoice(invoiceID string) ([]any, error) {
	if !c.created {
		return nil, ErrCustomerNotFound
	}
	inv, ok := c.invoices[invoiceID]
	if !ok {
		return nil, ErrInvoiceNotFound
	}
	if inv.Status != InvoiceOutstanding {
		return nil, nil
	}
	return []any{contracts.InvoiceExpired{CustomerID: c.id, InvoiceID: invoiceID}}, nil
}

// checkID validates a client-chosen id (chargeId, paymentId, keyId): 1 to 100 printable
// characters.
func checkID(field, id string) error {
	if id == "" {
		return Invalid(field, "is required")
	}
	if len(id) > 100 {
		return Invalid(field, "is longer than 100 characters")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return Invalid(field, "holds control or invalid characters")
		}
	}
	return nil
}

package app

import (
	"context"
	"io"
	"strings"
	"time"

	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/aggregate"
	"meterline/shared/eventstore"
)

// Customers is the application service of the Customer aggregate.
type Customers struct {
	svc    *aggregate.Service[*domain.Customer]
	now    func() time.Time
	random io.Reader
	terms  time.Duration // invoice payment term: dueAt = issuedAt + terms
}

// CreateCustomer opens an account. CreditLimit nil takes the plan's default.
type CreateCustomer struct {
	Name        string
	Plan        string
	CreditLimit *int64
}

// Create opens the account and returns the new customer id. With a command id in ctx (the
// request's Idempotency-Key) the id is derived from it, so a retry returns the same customer.
func (s *Customers) Create(ctx context.Context, cmd CreateCustomer) (string, error) {
	id, err := newID(s.random, "cus", eventstore.CommandID(ctx))
	if err != nil {
		return "", err
	}
	_, err = s.svc.Execute(ctx, contracts.CustomerStream(id), func(c *domain.Customer) ([]any, error) {
		return c.Create(cmd.Name, cmd.Plan, cmd.CreditLimit)
	})
	return id, err
}

// Get loads a customer (domain.ErrCustomerNotFound if there is none).
func (s *Customers) Get(ctx context.Context, customerID string) (*domain.Customer, error) {
	if !ValidID(customerID) {
		return nil, domain.ErrCustomerNotFound
	}
	c, _, err := s.svc.Load(ctx, contracts.CustomerStream(customerID))
	if err != nil {
		return nil, err
	}
	if !c.Exists() {
		return nil, domain.ErrCustomerNotFound
	}
	return c, nil
}

// AddConsumption bills one usage report (once per report id).
type AddConsumption struct {
	CustomerID string
	ReportID   string
	Units      int64
	From, To   time.Time
}

func (s *Customers) AddConsumption(ctx context.Context, cmd AddConsumption) error {
	return s.execute(ctx, cmd.CustomerID, func(c *domain.Customer) ([]any, error) {
		return c.AddConsumption(cmd.ReportID, cmd.Units, cmd.From, cmd.To)
	})
}

// Charge adds a one-off charge (once per charge id).
type Charge struct {
	CustomerID  string
	ChargeID    string
	Amount      int64
	Description string
	Currency    string // optional; must be the customer's if given
}

func (s *Customers) Charge(ctx context.Context, cmd Charge) error {
	return s.execute(ctx, cmd.CustomerID, func(c *domain.Customer) ([]any, error) {
		if err := sameCurrency(c, cmd.Currency); err != nil {
			return nil, err
		}
		return c.Charge(cmd.ChargeID, cmd.Amount, cmd.Description, s.now())
	})
}

// Pay records a payment (once per payment id).
type Pay struct {
	CustomerID string
	PaymentID  string
	Amount     int64
	Currency   string // optional; must be the customer's if given
}

func (s *Customers) Pay(ctx context.Context, cmd Pay) error {
	return s.execute(ctx, cmd.CustomerID, func(c *domain.Customer) ([]any, error) {
		if err := sameCurrency(c, cmd.Currency); err != nil {
			return nil, err
		}
		return c.Pay(cmd.PaymentID, cmd.Amount, s.now())
	})
}

// IssueInvoice closes the customer's unbilled months up to period ("2026-11") into an invoice.
func (s *Customers) IssueInvoice(ctx context.Context, customerID, period string) error {
	now := s.now()
	return s.execute(ctx, customerID, func(c *domain.Customer) ([]any, error) {
		return c.IssueInvoice(period, now, now.Add(s.terms))
	})
}

// ExpireInvoice marks an invoice still outstanding as expired.
func (s *Customers) ExpireInvoice(ctx context.Context, customerID, invoiceID string) error {
	return s.execute(ctx, customerID, func(c *domain.Customer) ([]any, error) {
		return c.ExpireInvoice(invoiceID)
	})
}

func (s *Customers) execute(ctx context.Context, customerID string, command func(*domain.Customer) ([]any, error)) error {
	if !ValidID(customerID) {
		return domain.ErrCustomerNotFound
	}
	_, err := s.svc.Execute(ctx, contracts.CustomerStream(customerID), command)
	return err
}

// sameCurrency accepts a currency given with a charge or payment only if it is the customer's.
func sameCurrency(c *domain.Customer, currency string) error {
	if c.Exists() && currency != "" && !strings.EqualFold(currency, c.Currency()) {
		return domain.ErrCurrencyMismatch
	}
	return nil
}

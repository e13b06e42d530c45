package app

import (
	"context"
	"fmt"

	"meterline/functions/product/domain"
)

// Views are the Product context's documents. Collection names (the tables' partitions) are the
// field names in lower case; see product.Connect.
type Views struct {
	Users    Docs[domain.PortalUser] // by userId
	Emails   Docs[domain.EmailOwner] // by domain.EmailKey
	Accounts Docs[domain.Account]    // by customerId
	Usage    Docs[domain.Usage]      // by customerId
	Sessions Docs[Session]           // by SHA-256 hex of the session token
	Attempts Docs[SignInAttempts]    // failed sign-ins, by domain.EmailKey
}

// Projection applies the facts the ACL translates to the views. Every document merges its
// facts idempotently and commutatively (see domain), so redelivered, duplicated and reordered
// events converge to the same views.
type Projection struct{ Views Views }

// Apply applies one fact.
func (p Projection) Apply(ctx context.Context, fact any) error {
	v := p.Views
	switch f := fact.(type) {
	case domain.UserRegistered:
		if _, err := p.updateUser(ctx, f.UserID, f); err != nil {
			return err
		}
		// Emails are unique and never change upstream: the index entry is written once, and a
		// redelivery writes the same again.
		email := domain.NormalizeEmail(f.Email)
		_, err := v.Emails.Update(ctx, domain.EmailKey(email), func(o *domain.EmailOwner) error {
			o.Email, o.UserID = email, f.UserID
			return nil
		})
		return err
	case domain.PasswordChanged:
		_, err := p.updateUser(ctx, f.UserID, f)
		return err
	case domain.UserAccessChanged:
		_, err := p.updateUser(ctx, f.UserID, f)
		return err
	case domain.UsageReported:
		_, err := v.Usage.Update(ctx, f.CustomerID, func(u *domain.Usage) error { u.Apply(f); return nil })
		return err
	}
	if customerID, ok := accountOf(fact); ok {
		_, err := v.Accounts.Update(ctx, customerID, func(a *domain.Account) error { a.Apply(fact); return nil })
		return err
	}
	return fmt.Errorf("app: no projection for %T", fact)
}

func (p Projection) updateUser(ctx context.Context, userID string, fact any) (domain.PortalUser, error) {
	return p.Views.Users.Update(ctx, userID, func(u *domain.PortalUser) error { u.Apply(fact); return nil })
}

// accountOf is the customer whose account the fact changes; false for the facts of no account.
func accountOf(fact any) (string, bool) {
	switch f := fact.(type) {
	case domain.AccountOpened:
		return f.CustomerID, true
	case domain.AccountStatusChanged:
		return f.CustomerID, true
	case domain.BalanceChanged:
		return f.CustomerID, true
	case domain.ConsumptionBilled:
		return f.CustomerID, true
	case domain.ChargeBilled:
		return f.CustomerID, true
	case domain.PaymentMade:
		return f.CustomerID, true
	case domain.InvoiceIssued:
		return f.CustomerID, true
	case domain.InvoiceSettled:
		return f.CustomerID, true
	case domain.InvoiceWentOverdue:
		return f.CustomerID, true
	}
	return "", false
}

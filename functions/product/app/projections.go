package app

import (
	"context"

	"meterline/functions/product/acl"
	"meterline/functions/product/domain"
	"meterline/shared/blocks"
	"meterline/shared/views"
)

// Views are the Product context's documents. See product.ViewsOn for their collections.
type Views struct {
	Users    *views.Docs[domain.PortalUser] // by userId (ReplicateUsers)
	Emails   *views.Docs[domain.EmailOwner] // by domain.EmailKey: the sign-in index of Users
	Accounts *views.Docs[domain.Account]    // by customerId (ReplicateAccounts)
	Usage    *views.Docs[domain.Usage]      // by customerId (ReplicateUsage)
	Sessions *views.Docs[Session]           // by SHA-256 hex of the session token
	Attempts *views.Docs[SignInAttempts]    // failed sign-ins, by domain.EmailKey
}

// The projections keep the portal's replica of other contexts' data, one document type each.
// Their events come from other contexts' topics, in any order and with gaps (filtered), so
// they have no Store: the kit applies each stream version once, and the domain's merge rules
// are order-free.

// ReplicateUsers keeps the portal users (credentials and lock) from Subscriptions' user
// streams, and the email index that sign-in looks them up by.
func ReplicateUsers(users *views.Docs[domain.PortalUser], emails *views.Docs[domain.EmailOwner]) blocks.Projection[any, domain.PortalUser] {
	return blocks.Projection[any, domain.PortalUser]{
		Name:    "ReplicateUsers",
		Source:  blocks.Source[any]{Topic: acl.SubscriptionsTopic, Types: acl.UserTypes, Translate: acl.Translate},
		Docs:    users,
		Indexes: []blocks.Collection{emails}, // After writes each user's sign-in entry
		Key:     func(e blocks.Event[any]) string { return userOf(e.Fact) },
		When:    func(u *domain.PortalUser, e blocks.Event[any]) { u.Apply(e.Version, e.Fact) },
		// Emails are unique and never change upstream: the index entry is written once the user
		// has one, and an unchanged entry is not written again. Running on every event of the
		// user, it repairs an entry lost to a crash between the two writes.
		After: func(ctx context.Context, userID string, u domain.PortalUser) error {
			if u.Email == "" {
				return nil // UserCreated has not arrived yet
			}
			_, err := emails.Update(ctx, domain.EmailKey(u.Email), func(o *domain.EmailOwner) error {
				o.Email, o.UserID = u.Email, userID
				return nil
			})
			return err
		},
	}
}

// ReplicateAccounts keeps the customers' accounts (balance, status, invoices, billing) from
// Subscriptions' customer streams.
func ReplicateAccounts(accounts *views.Docs[domain.Account]) blocks.Projection[any, domain.Account] {
	return blocks.Projection[any, domain.Account]{
		Name:   "ReplicateAccounts",
		Source: blocks.Source[any]{Topic: acl.SubscriptionsTopic, Types: acl.AccountTypes, Translate: acl.Translate},
		Docs:   accounts,
		Key:    func(e blocks.Event[any]) string { return accountOf(e.Fact) },
		When:   func(a *domain.Account, e blocks.Event[any]) { a.Apply(e.Version, e.Fact) },
	}
}

// ReplicateUsage keeps the customers' usage from the Cloud API's usage reports.
func ReplicateUsage(usage *views.Docs[domain.Usage]) blocks.Projection[domain.UsageReported, domain.Usage] {
	return blocks.Projection[domain.UsageReported, domain.Usage]{
		Name:   "ReplicateUsage",
		Source: blocks.Source[domain.UsageReported]{Topic: acl.CloudAPITopic, Types: acl.UsageTypes, Translate: acl.Usage},
		Docs:   usage,
		Key:    func(e blocks.Event[domain.UsageReported]) string { return e.Fact.CustomerID },
		When:   func(u *domain.Usage, e blocks.Event[domain.UsageReported]) { u.Apply(e.Fact) },
	}
}

// userOf is the user whose document the fact changes; "" for the facts of no user.
func userOf(fact any) string {
	switch f := fact.(type) {
	case domain.UserRegistered:
		return f.UserID
	case domain.PasswordChanged:
		return f.UserID
	case domain.UserAccessChanged:
		return f.UserID
	}
	return ""
}

// accountOf is the customer whose account the fact changes; "" for the facts of no account.
func accountOf(fact any) string {
	switch f := fact.(type) {
	case domain.AccountOpened:
		return f.CustomerID
	case domain.AccountStatusChanged:
		return f.CustomerID
	case domain.BalanceChanged:
		return f.CustomerID
	case domain.ConsumptionBilled:
		return f.CustomerID
	case domain.ChargeBilled:
		return f.CustomerID
	case domain.PaymentMade:
		return f.CustomerID
	case domain.InvoiceIssued:
		return f.CustomerID
	case domain.InvoiceSettled:
		return f.CustomerID
	case domain.InvoiceWentOverdue:
		return f.CustomerID
	}
	return ""
}

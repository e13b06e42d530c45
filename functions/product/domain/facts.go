package domain

import "time"

// Facts say what happened, not where: the stream and version they were recorded at travel in
// the event's envelope, and the projections hand the version to the rules that order by it.

// Facts about portal users (from Subscriptions' user streams).
type (
	// UserRegistered: a customer's user who may sign in to the portal with Email.
	UserRegistered struct {
		UserID, CustomerID, Email string
	}
	// PasswordChanged: the user's password is now the one PasswordHash (bcrypt) was made from.
	PasswordChanged struct {
		UserID, CustomerID, PasswordHash string
	}
	// UserAccessChanged: the user was locked out (Locked) or let back in.
	UserAccessChanged struct {
		UserID, CustomerID string
		Locked             bool
	}
)

// Facts about customer accounts (from Subscriptions' customer streams).
type (
	AccountOpened struct {
		CustomerID, Name, Plan, Currency         string
		CreditLimit, IncludedUnits, PricePerUnit int64
	}
	// AccountStatusChanged: an overdraft locked the account (Locked) or a payment unlocked it.
	AccountStatusChanged struct {
		CustomerID string
		Locked     bool
		Balance    int64
		Currency   string
	}
	BalanceChanged struct {
		CustomerID string
		Balance    int64
		Currency   string
	}
	// ConsumptionBilled: one usage report was billed; Amount may be 0 (included units).
	ConsumptionBilled struct {
		CustomerID, ReportID string
		Units, Amount        int64
		Currency, Month      string
	}
	ChargeBilled struct {
		CustomerID, ChargeID, Description string
		Amount                            int64
		Currency, Month                   string
	}
	PaymentMade struct {
		CustomerID, PaymentID string
		Amount                int64
		Currency              string
	}
	InvoiceIssued struct {
		CustomerID, InvoiceID, Period string
		Amount                        int64
		Currency                      string
		IssuedAt, DueAt               time.Time
	}
	InvoiceSettled struct {
		CustomerID, InvoiceID string
	}
	InvoiceWentOverdue struct {
		CustomerID, InvoiceID string
	}
)

// UsageReported: the Cloud API reported consumption of the metered API (from its usage streams).
type UsageReported struct {
	CustomerID, ReportID string
	Units, Requests      int64
	PeriodFrom, PeriodTo time.Time
}

package domain

import "time"

// Origin is where a fact was recorded upstream: its stream and version there. Facts of one
// stream are ordered by Version; Product uses it to apply each once and the newest last.
type Origin struct {
	Stream  string
	Version int64
}

// Facts about portal users (from Subscriptions' user streams).
type (
	// UserRegistered: a customer's user who may sign in to the portal with Email.
	UserRegistered struct {
		Origin
		UserID, CustomerID, Email string
	}
	// PasswordChanged: the user's password is now the one PasswordHash (bcrypt) was made from.
	PasswordChanged struct {
		Origin
		UserID, CustomerID, PasswordHash string
	}
	// UserAccessChanged: the user was locked out (Locked) or let back in.
	UserAccessChanged struct {
		Origin
		UserID, CustomerID string
		Locked             bool
	}
)

// Facts about customer accounts (from Subscriptions' customer streams).
type (
	AccountOpened struct {
		Origin
		CustomerID, Name, Plan, Currency         string
		CreditLimit, IncludedUnits, PricePerUnit int64
	}
	// AccountStatusChanged: an overdraft locked the account (Locked) or a payment unlocked it.
	AccountStatusChanged struct {
		Origin
		CustomerID string
		Locked     bool
		Balance    int64
		Currency   string
	}
	BalanceChanged struct {
		Origin
		CustomerID string
		Balance    int64
		Currency   string
	}
	// ConsumptionBilled: one usage report was billed; Amount may be 0 (included units).
	ConsumptionBilled struct {
		Origin
		CustomerID, ReportID string
		Units, Amount        int64
		Currency, Month      string
	}
	ChargeBilled struct {
		Origin
		CustomerID, ChargeID, Description string
		Amount                            int64
		Currency, Month                   string
	}
	PaymentMade struct {
		Origin
		CustomerID, PaymentID string
		Amount                int64
		Currency              string
	}
	InvoiceIssued struct {
		Origin
		CustomerID, InvoiceID, Period string
		Amount                        int64
		Currency                      string
		IssuedAt, DueAt               time.Time
	}
	InvoiceSettled struct {
		Origin
		CustomerID, InvoiceID string
	}
	InvoiceWentOverdue struct {
		Origin
		CustomerID, InvoiceID string
	}
)

// UsageReported: the Cloud API reported consumption of the metered API (from its usage streams).
type UsageReported struct {
	Origin
	CustomerID, ReportID string
	Units, Requests      int64
	PeriodFrom, PeriodTo time.Time
}

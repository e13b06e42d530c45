package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"golang.org/x/crypto/bcrypt"

	"meterline/functions/product/domain"
	"meterline/shared/fault"
)

// Session refusals.
var (
	ErrNoSession = fault.New(fault.Unauthorized, "not_signed_in", "sign in first")
	// ErrTooManyAttempts: too many failed sign-ins for the email; see TooManyAttemptsError. It
	// is no fault: its answer, 429 with Retry-After, has no fault kind.
	ErrTooManyAttempts = errors.New("product: too many failed sign-ins")
)

// TooManyAttemptsError says when the email may try again.
type TooManyAttemptsError struct{ RetryAfter time.Duration }

func (e *TooManyAttemptsError) Error() string {
	return fmt.Sprintf("%v: try again in %s", ErrTooManyAttempts, e.RetryAfter.Round(time.Second))
}
func (e *TooManyAttemptsError) Unwrap() error { return ErrTooManyAttempts }

// Session is a signed-in user. It is stored under the SHA-256 of its token: the token itself
// lives only in the user's cookie, so a leaked view table signs nobody in.
type Session struct {
	UserID     string    `json:"userId"`
	CustomerID string    `json:"customerId"`
	Email      string    `json:"email"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// SignInAttempts counts an email's failed sign-ins in the current window.
type SignInAttempts struct {
	Failures    int       `json:"failures"`
	WindowStart time.Time `json:"windowStart"`
}

// Sign-in defaults.
const (
	DefaultSessionTTL     = 8 * time.Hour
	DefaultMaxFailures    = 5
	DefaultFailureWindow  = 15 * time.Minute
	sessionTokenBytes     = 32
	minimumPasswordLength = 1
)

// Sessions signs users in against the portal's own replica of their credentials.
//
// Failed sign-ins are throttled per email, durably (in the Attempts view, so every instance of
// the app sees the same count): after MaxFailures failures within FailureWindow of the first
// one, the email is refused until that window ends. Unknown emails are counted too, so the
// answer does not tell whether an account exists.
type Sessions struct {
	Views         Views
	TTL           time.Duration    // default DefaultSessionTTL
	MaxFailures   int              // default DefaultMaxFailures
	FailureWindow time.Duration    // default DefaultFailureWindow
	Now           func() time.Time // the context's clock (required)
}

// dummyHash is compared against when the email is unknown, so that an unknown email takes
// as long to refuse as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("meterline-no-such-user"), bcrypt.DefaultCost)

// SignIn checks email and password and opens a session. It returns the session token (for the
// cookie) and the session; errors: the faults domain.ErrBadCredentials and
// domain.ErrUserLocked, *TooManyAttemptsError, or a storage error.
func (s Sessions) SignIn(ctx context.Context, email, password string) (string, Session, error) {
	email = domain.NormalizeEmail(email)
	now := s.now()
	attempts, _, err := s.Views.Attempts.Get(ctx, domain.EmailKey(email))
	if err != nil {
		return "", Session{}, err
	}
	if wait := s.blockedFor(attempts, now); wait > 0 {
		return "", Session{}, &TooManyAttemptsError{RetryAfter: wait}
	}
	user, err := s.check(ctx, email, password)
	if errors.Is(err, domain.ErrBadCredentials) {
		if ferr := s.recordFailure(ctx, email, now); ferr != nil {
			return "", Session{}, ferr
		}
		return "", Session{}, err
	}
	if err != nil {
		return "", Session{}, err
	}
	if attempts.Failures > 0 {
		if err := s.Views.Attempts.Delete(ctx, domain.EmailKey(email)); err != nil {
			return "", Session{}, err
		}
	}
	token, err := newToken()
	if err != nil {
		return "", Session{}, err
	}
	session := Session{UserID: user.UserID, CustomerID: user.CustomerID, Email: user.Email, CreatedAt: now, ExpiresAt: now.Add(s.ttl())}
	if _, err := s.Views.Sessions.Update(ctx, tokenKey(token), func(d *Session) error { *d = session; return nil }); err != nil {
		return "", Session{}, err
	}
	return token, session, nil
}

// check verifies the password with bcrypt against the replicated hash; a locked user is refused
// only once the password is right, so the lock is not disclosed to strangers.
func (s Sessions) check(ctx context.Context, email, password string) (domain.PortalUser, error) {
	owner, known, err := s.Views.Emails.Get(ctx, domain.EmailKey(email))
	if err != nil {
		return domain.PortalUser{}, err
	}
	var user domain.PortalUser
	if known {
		if user, known, err = s.Views.Users.Get(ctx, owner.UserID); err != nil {
			return domain.PortalUser{}, err
		}
	}
	if !known || user.PasswordHash == "" || len(password) < minimumPasswordLength {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return domain.PortalUser{}, domain.ErrBadCredentials
	}
	if bcrypt.CompareHashAndPassword([]byte(user.PasswordHash), []byte(password)) != nil {
		return domain.PortalUser{}, domain.ErrBadCredentials
	}
	if user.Locked {
		return domain.PortalUser{}, domain.ErrUserLocked
	}
	return user, nil
}

func (s Sessions) blockedFor(a SignInAttempts, now time.Time) time.Duration {
	end := a.WindowStart.Add(s.window())
	if a.Failures >= s.maxFailures() && now.Before(end) {
		return end.Sub(now)
	}
	return 0
}

func (s Sessions) recordFailure(ctx context.Context, email string, now time.Time) error {
	_, err := s.Views.Attempts.Update(ctx, domain.EmailKey(email), func(a *SignInAttempts) error {
		if a.Failures == 0 || !now.Before(a.WindowStart.Add(s.window())) {
			*a = SignInAttempts{WindowStart: now}
		}
		a.Failures++
		return nil
	})
	return err
}

// Session returns the live session of token: ErrNoSession when unknown or expired, or when its
// user was locked since (the session is then ended).
func (s Sessions) Session(ctx context.Context, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrNoSession
	}
	key := tokenKey(token)
	session, ok, err := s.Views.Sessions.Get(ctx, key)
	if err != nil || !ok {
		return Session{}, firstErr(err, ErrNoSession)
	}
	user, _, err := s.Views.Users.Get(ctx, session.UserID)
	if err != nil {
		return Session{}, err
	}
	if !s.now().Before(session.ExpiresAt) || user.Locked {
		if err := s.Views.Sessions.Delete(ctx, key); err != nil {
			return Session{}, err
		}
		return Session{}, ErrNoSession
	}
	return session, nil
}

// SignOut ends the session of token (if any).
func (s Sessions) SignOut(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return s.Views.Sessions.Delete(ctx, tokenKey(token))
}

func newToken() (string, error) {
	b := make([]byte, sessionTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tokenKey is the storage key of a session token: a fast hash is right for 256 random bits.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s Sessions) now() time.Time { return s.Now().UTC() }

func (s Sessions) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultSessionTTL
}

func (s Sessions) maxFailures() int {
	if s.MaxFailures > 0 {
		return s.MaxFailures
	}
	return DefaultMaxFailures
}

func (s Sessions) window() time.Duration { return failureWindow(s.FailureWindow) }

func failureWindow(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return DefaultFailureWindow
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Portal answers what a signed-in user sees, from the portal's own views only.
type Portal struct{ Views Views }

// Me is GET /api/product/me.
type Me struct {
	Email       string           `json:"email"`
	UserID      string           `json:"userId"`
	CustomerID  string           `json:"customerId"`
	Name        string           `json:"name"`
	Plan        string           `json:"plan"`
	Balance     int64            `json:"balance"` // minor units
	Currency    string           `json:"currency"`
	CreditLimit int64            `json:"creditLimit"`
	Status      string           `json:"status"` // "active" | "locked"
	Payments    int64            `json:"payments"`
	Invoices    []domain.Invoice `json:"invoices"`
	Billed      []MonthBilled    `json:"billed"` // newest month first
	Usage       UsageView        `json:"usage"`
}

// MonthBilled is one month's billed consumption and charges.
type MonthBilled struct {
	Month string `json:"month"`
	domain.Billed
}

// UsageView is the Cloud API consumption: Reported as the Cloud API reported it, Billed as
// Subscriptions billed it (the two differ while a report is in flight).
type UsageView struct {
	Reported     int64             `json:"reported"` // units
	Requests     int64             `json:"requests"`
	Reports      int64             `json:"reports"`
	ReportedTill *time.Time        `json:"reportedTill,omitempty"`
	Billed       int64             `json:"billed"` // units billed, all months
	Daily        []domain.DayUsage `json:"daily"`  // oldest first
}

// Me reads the session's account and usage.
func (p Portal) Me(ctx context.Context, s Session) (Me, error) {
	account, _, err := p.Views.Accounts.Get(ctx, s.CustomerID)
	if err != nil {
		return Me{}, err
	}
	usage, _, err := p.Views.Usage.Get(ctx, s.CustomerID)
	if err != nil {
		return Me{}, err
	}
	me := Me{
		Email: s.Email, UserID: s.UserID, CustomerID: s.CustomerID,
		Name: account.Name, Plan: account.Plan, Balance: account.Balance, Currency: account.Currency,
		CreditLimit: account.CreditLimit, Status: account.StatusOrActive(), Payments: account.Payments,
		Invoices: account.IssuedInvoices(), Billed: []MonthBilled{},
		Usage: UsageView{Reported: usage.Units, Requests: usage.Requests, Reports: usage.Reports, Daily: usage.Days()},
	}
	if !usage.ReportedTill.IsZero() {
		t := usage.ReportedTill
		me.Usage.ReportedTill = &t
	}
	for month, b := range account.Billed {
		me.Billed = append(me.Billed, MonthBilled{Month: month, Billed: *b})
		me.Usage.Billed += b.Units
	}
	sort.Slice(me.Billed, func(i, j int) bool { return me.Billed[i].Month > me.Billed[j].Month })
	return me, nil
}

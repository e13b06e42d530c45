package app

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"meterline/functions/cloudapi/domain"
	"meterline/shared/blocks"
)

// The application services of the Cloud API: the Gate, which authorises a presented key
// against the access replica, and Forecasting, the metered forecast.

// Gate authorises callers against the access replica (never calling Subscriptions): the
// credential by key hash, then the user's and the customer's locks.
type Gate struct {
	Credentials Docs[domain.Credential]
	Users       Docs[domain.Lock]
	Customers   Docs[domain.Lock]
}

// NewGate reads s, reusing each read for ttl: 0 means DefaultAccessCacheTTL, negative reads the
// replica on every request. The projections write to s itself and then call Refresh, so that a
// key that just arrived, or a lock, takes effect at once in this process (another instance of
// the app sees it within ttl).
func NewGate(s AccessStore, ttl time.Duration) Gate {
	if ttl == 0 {
		ttl = DefaultAccessCacheTTL
	}
	return Gate{
		Credentials: Cached[domain.Credential](s.Credentials, ttl),
		Users:       Cached[domain.Lock](s.Users, ttl),
		Customers:   Cached[domain.Lock](s.Customers, ttl),
	}
}

// Refresh makes the gate read the replica's document of collection ("credentials", "users" or
// "customers") at key afresh: the projections call it after every write. Without it, a caller
// that tried a key before its replication would be refused for up to the cache's TTL after it
// (the p99 of key replication was that TTL).
func (g Gate) Refresh(collection, key string) {
	switch collection {
	case "credentials":
		forget(g.Credentials, key)
	case "users":
		forget(g.Users, key)
	case "customers":
		forget(g.Customers, key)
	}
}

// Authorize resolves the SHA-256 hex of a presented key to a caller, or a domain access error
// (a fault: 401 or 403).
func (g Gate) Authorize(ctx context.Context, keyHash string) (domain.Caller, error) {
	cred, known, err := g.Credentials.Get(ctx, keyHash)
	if err != nil || !known {
		return domain.Caller{}, firstErr(err, domain.ErrUnknownKey)
	}
	if cred.Revoked {
		return domain.Caller{}, domain.ErrRevokedKey
	}
	// The user and the customer are independent reads: do them at once.
	type result struct {
		lock domain.Lock
		err  error
	}
	userCh := make(chan result, 1)
	go func() {
		l, _, err := g.Users.Get(ctx, cred.UserID)
		userCh <- result{l, err}
	}()
	customer, _, cerr := g.Customers.Get(ctx, cred.CustomerID)
	user := <-userCh
	if err := firstErr(user.err, cerr); err != nil {
		return domain.Caller{}, err
	}
	return domain.Authorize(cred, known, user.lock, customer)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// MeterLog is where consumption is recorded (package meterlog implements it).
type MeterLog interface {
	// Record stores e unless its request id is already recorded for the customer; it returns
	// the stored entry (the earlier one on a repeat) and whether this call stored it.
	Record(ctx context.Context, e domain.MeterEntry) (domain.MeterEntry, bool, error)
	// Customers lists every customer that ever metered usage.
	Customers(ctx context.Context) ([]string, error)
	// OpenReports lists the customer's reports assigned but not yet marked reported.
	OpenReports(ctx context.Context, customerID string) ([]domain.Report, error)
	// Unassigned lists at most limit pending entries not assigned to a report.
	Unassigned(ctx context.Context, customerID string, limit int) ([]domain.PendingUsage, error)
	// Assign makes r an open report covering entries, atomically; domain.ErrAssigned if any
	// entry changed since it was read.
	Assign(ctx context.Context, r domain.Report, entries []domain.PendingUsage) error
	// MarkReported closes the open report r (its usage becomes reported), atomically; a
	// closed report is left alone.
	MarkReported(ctx context.Context, r domain.Report) error
	// Usage is the customer's reported and unreported consumption.
	Usage(ctx context.Context, customerID string) (domain.Usage, error)
}

// ForecastAnswer is the body of a forecast response.
type ForecastAnswer struct {
	Forecast []float64 `json:"forecast"`
}

// Forecasting is the metered forecast service.
type Forecasting struct {
	Meter MeterLog
	// Unmetered skips recording: only for measuring the cost of metering (benchmarks).
	Unmetered bool
	Now       func() time.Time // the context's clock (required)
}

// Forecast answers req for caller under requestID. The consumption (one unit per forecast
// point) is durably recorded before the answer is returned; a repeated request id returns the
// first answer (replayed true) and records nothing more; the same id for another request is
// blocks.ErrKeyReused. The answer is the JSON body to send.
func (f Forecasting) Forecast(ctx context.Context, caller domain.Caller, requestID string, req domain.ForecastRequest) (answer []byte, replayed bool, err error) {
	body, err := json.Marshal(ForecastAnswer{Forecast: domain.Forecast(req.Series, req.Horizon)})
	if err != nil {
		return nil, false, fmt.Errorf("app: encode forecast: %w", err)
	}
	if f.Unmetered {
		return body, false, nil
	}
	fingerprint := Fingerprint(req)
	stored, fresh, err := f.Meter.Record(ctx, domain.MeterEntry{
		CustomerID: caller.CustomerID, RequestID: requestID, UserID: caller.UserID, KeyID: caller.KeyID,
		Units: req.Units(), RecordedAt: f.Now(), RequestHash: fingerprint, Response: body,
	})
	if err != nil {
		return nil, false, err
	}
	if stored.RequestHash != fingerprint {
		return nil, false, blocks.ErrKeyReused
	}
	return stored.Response, !fresh, nil
}

// Fingerprint identifies a request by its content (not its JSON spelling).
func Fingerprint(req domain.ForecastRequest) string {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(req.Horizon))
	h.Write(b[:])
	for _, y := range req.Series {
		binary.BigEndian.PutUint64(b[:], math.Float64bits(y))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

package blocks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"meterline/shared/eventstore"
	"meterline/shared/fault"
	"meterline/shared/funcapp"
	"meterline/shared/views"
)

// Endpoint is one HTTP operation of a context's API. Handle writes the success answer itself
// and returns any failure, which WriteError answers: the one mapping from errors to statuses.
type Endpoint struct {
	Name   string // the function, e.g. "CreateCustomer"
	Method string
	Route  string // function.json syntax without the route prefix: "subscriptions/customers/{customerId}"
	// Auth is the host's key check: "function" (a function or host key: back-office and
	// service-to-service operations), "admin", or "anonymous" for endpoints that authenticate
	// their callers themselves (the Cloud API's bearer keys, the portal's sessions).
	Auth   string
	Handle func(w http.ResponseWriter, r *http.Request) error
	// Doc describes it in the context's OpenAPI document (blocks.OpenAPI); the context's tests
	// check its answers against it (openapitest).
	Doc *funcapp.Operation
}

// Register registers the endpoint's HTTP function.
func (e Endpoint) Register(a *funcapp.App) {
	if e.Handle == nil || e.Auth == "" || e.Doc == nil {
		panic(fmt.Sprintf("blocks: endpoint %s needs Handle, Auth and Doc", e.Name))
	}
	a.HTTP(e.Name, funcapp.HTTPTrigger{Methods: []string{e.Method}, Route: e.Route, AuthLevel: e.Auth, Doc: e.Doc},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := e.Handle(w, r); err != nil {
				WriteError(w, r, err)
			}
		}))
}

// status is the HTTP status of each fault kind.
var status = map[*fault.Kind]int{
	fault.Invalid:       http.StatusBadRequest,
	fault.Unauthorized:  http.StatusUnauthorized,
	fault.Forbidden:     http.StatusForbidden,
	fault.NotFound:      http.StatusNotFound,
	fault.Conflict:      http.StatusConflict,
	fault.TooLarge:      http.StatusRequestEntityTooLarge,
	fault.Unprocessable: http.StatusUnprocessableEntity,
}

// WriteError answers err as an RFC 9457 problem (funcapp.Problem): a fault with its kind's
// status, code and message; a write that lost too many races with 409; anything else is a
// failure of ours, logged and answered 500 without details.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	instance := r.URL.Path
	if f, ok := fault.As(err); ok && status[f.Kind] != 0 {
		funcapp.WriteProblem(w, status[f.Kind], f.Code, f.Error(), instance)
		return
	}
	if errors.Is(err, eventstore.ErrConflict) || errors.Is(err, views.ErrConflict) {
		funcapp.WriteProblem(w, http.StatusConflict, "concurrent_update", "the resource changed concurrently too often; retry", instance)
		return
	}
	funcapp.Logger(r.Context()).ErrorContext(r.Context(), "request failed", "error", err)
	funcapp.WriteProblem(w, http.StatusInternalServerError, "internal", "internal error; please retry later", instance)
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = 200

// IdempotencyKey reads the request's Idempotency-Key header: false when there is none, a fault
// when it is not 1 to MaxIdempotencyKey printable ASCII characters.
func IdempotencyKey(r *http.Request) (string, bool, error) {
	values, present := r.Header[http.CanonicalHeaderKey(funcapp.HeaderIdempotencyKey)]
	if !present {
		return "", false, nil
	}
	key := strings.Join(values, ",")
	if key == "" || len(key) > MaxIdempotencyKey || strings.IndexFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		return "", true, &fault.Error{Kind: fault.Invalid, Code: "invalid_idempotency_key", Field: funcapp.HeaderIdempotencyKey,
			Message: fmt.Sprintf("must be 1 to %d printable ASCII characters without spaces", MaxIdempotencyKey)}
	}
	return key, true, nil
}

// ErrKeyReused is the answer to an Idempotency-Key sent again with another request.
var ErrKeyReused = &fault.Error{Kind: fault.Unprocessable, Code: "idempotency_key_reused", Field: funcapp.HeaderIdempotencyKey,
	Message: "this key was used for a different request; use a new key for a new request"}

// DefaultKeyLifetime is how long an Idempotency-Key stays bound to its first request.
const DefaultKeyLifetime = 24 * time.Hour

// Idempotency is the one Idempotency-Key policy of command endpoints, as payment APIs have it:
// a key is bound to the operation and the request it was first sent with. The same key with the
// same request runs the command again under the same command id, so it stores nothing twice
// and answers as the first time did; the same key with another request or operation is
// refused (422, ErrKeyReused), so nothing is silently dropped.
type Idempotency struct {
	Keys     *views.Docs[KeyUse] // a collection of the context's views
	Now      func() time.Time
	Lifetime time.Duration // default DefaultKeyLifetime; after it the key may be used anew
}

// KeyUse is what an Idempotency-Key was first used for.
type KeyUse struct {
	Operation string    `json:"operation"`
	Request   string    `json:"request"` // digest of what the request asks
	FirstUsed time.Time `json:"firstUsed"`
}

// Command returns the context to run a command in: the request's correlation id and, when it
// has an Idempotency-Key, a command id scoped to operation and to request (the values that say
// what is asked: path ids and body fields, never a secret).
func (i Idempotency) Command(r *http.Request, operation string, request ...string) (context.Context, error) {
	ctx := r.Context()
	key, present, err := IdempotencyKey(r)
	if err != nil || !present {
		return ctx, err
	}
	h := sha256.New()
	for _, p := range request {
		fmt.Fprintf(h, "%d:%s|", len(p), p)
	}
	digest := hex.EncodeToString(h.Sum(nil)[:16])
	now := Clock(i.Now)()
	lifetime := i.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultKeyLifetime
	}
	sum := sha256.Sum256([]byte(key))
	_, err = i.Keys.Update(ctx, hex.EncodeToString(sum[:]), func(u *KeyUse) error {
		switch {
		case u.Operation == "" || now.Sub(u.FirstUsed) > lifetime:
			*u = KeyUse{Operation: operation, Request: digest, FirstUsed: now}
		case u.Operation != operation || u.Request != digest:
			return ErrKeyReused
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return eventstore.WithCommandID(ctx, operation+":"+key+":"+digest), nil
}

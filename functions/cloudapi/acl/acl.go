// Package acl is the Cloud API's anti-corruption layer towards Subscriptions: it reads
// Subscriptions' published events (their contracts) and translates the few it cares about into
// the access model of package domain. Nothing else in this context sees Subscriptions' types.
// Each access projection (package app) takes one list of types from here: its subscription's
// filter.
package acl

import (
	"fmt"
	"regexp"
	"slices"

	"meterline/functions/cloudapi/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

// ErrMalformed: an event of a handled type that can never be applied (bad JSON, missing ids, a
// key hash that is not SHA-256 hex). It wraps blocks.ErrMalformed, so its message is
// dead-lettered.
var ErrMalformed = fmt.Errorf("acl: %w", blocks.ErrMalformed)

// Topic is where Subscriptions publishes.
const Topic = subs.Topic

// The Subscriptions event types each access projection handles.
var (
	KeyTypes      = []string{subs.TypeApiKeyIssued, subs.TypeApiKeyRevoked}
	UserTypes     = []string{subs.TypeUserCreated, subs.TypeUserLocked, subs.TypeUserUnlocked}
	CustomerTypes = []string{subs.TypeCustomerCreated, subs.TypeCustomerLocked, subs.TypeCustomerUnlocked}
)

// HandledTypes are all the Subscriptions event types the Cloud API translates.
func HandledTypes() []string {
	return slices.Concat(CustomerTypes, UserTypes, KeyTypes)
}

var registry = func() *eventstore.Registry {
	r := eventstore.NewRegistry()
	subs.Register(r)
	return r
}()

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Translate turns one Subscriptions event into a change of the access model: one of
// domain.CustomerRegistered, UserRegistered, KeyIssued, KeyRevoked, LockChanged; (nil, nil) for
// a type not handled here.
func Translate(e eventstore.Event) (any, error) {
	if !slices.Contains(HandledTypes(), e.Type) {
		return nil, nil
	}
	v, err := registry.Decode(e)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %s: %s", ErrMalformed, e.Type, e.ID, fmt.Sprintf(format, args...))
	}
	lock := func(user bool, id, customerID string, locked bool) (any, error) {
		if id == "" || e.Version < 1 {
			return nil, bad("needs an id and a stream version")
		}
		return domain.LockChanged{User: user, ID: id, CustomerID: customerID, Locked: locked, Version: e.Version}, nil
	}
	switch v := v.(type) {
	case subs.CustomerCreated:
		if v.CustomerID == "" {
			return nil, bad("no customerId")
		}
		return domain.CustomerRegistered{CustomerID: v.CustomerID}, nil
	case subs.UserCreated:
		if v.UserID == "" || v.CustomerID == "" {
			return nil, bad("needs userId and customerId")
		}
		return domain.UserRegistered{UserID: v.UserID, CustomerID: v.CustomerID}, nil
	case subs.ApiKeyIssued:
		if v.KeyID == "" || v.UserID == "" || v.CustomerID == "" {
			return nil, bad("needs keyId, userId and customerId")
		}
		if !sha256Hex.MatchString(v.KeyHash) {
			return nil, bad("keyHash is not lower-case SHA-256 hex")
		}
		return domain.KeyIssued{KeyID: v.KeyID, KeyHash: v.KeyHash, UserID: v.UserID, CustomerID: v.CustomerID}, nil
	case subs.ApiKeyRevoked:
		if v.KeyID == "" {
			return nil, bad("no keyId")
		}
		return domain.KeyRevoked{KeyID: v.KeyID, UserID: v.UserID, CustomerID: v.CustomerID}, nil
	case subs.UserLocked:
		return lock(true, v.UserID, v.CustomerID, true)
	case subs.UserUnlocked:
		return lock(true, v.UserID, v.CustomerID, false)
	case subs.CustomerLocked:
		return lock(false, v.CustomerID, v.CustomerID, true)
	case subs.CustomerUnlocked:
		return lock(false, v.CustomerID, v.CustomerID, false)
	}
	return nil, bad("no translation for %T", v)
}

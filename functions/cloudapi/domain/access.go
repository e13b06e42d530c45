package domain

import (
	"meterline/shared/fault"
	"meterline/shared/views"
)

// Access errors: the first two mean "who are you?" (401), the last two "not you, not now" (403).
var (
	ErrUnknownKey     = fault.New(fault.Unauthorized, "unauthorized", "unknown API key")
	ErrRevokedKey     = fault.New(fault.Unauthorized, "unauthorized", "revoked API key")
	ErrUserLocked     = fault.New(fault.Forbidden, "locked", "the user is locked")
	ErrCustomerLocked = fault.New(fault.Forbidden, "locked", "the customer is locked")
)

// The access model is the Cloud API's own replica of who may call it, fed by Subscriptions'
// events through the anti-corruption layer. Every change is idempotent and commutative, so
// duplicated, redelivered and out-of-order events converge to the same state:
//   - facts that never change (a key's hash and owner, a user's customer) are set once;
//   - a revocation is a tombstone: a late "issued" never revives the key;
//   - lock state is last-writer-wins by the version of the event in its stream.
// The documents embed views.Tracked: the projections (package app) apply each event once.

// Key is an API key as known here, stored under its keyId. Hash is empty until the issue event
// arrives (a revocation may come first).
type Key struct {
	views.Tracked
	KeyID      string `json:"keyId"`
	KeyHash    string `json:"keyHash,omitempty"`
	UserID     string `json:"userId,omitempty"`
	CustomerID string `json:"customerId,omitempty"`
	Revoked    bool   `json:"revoked,omitempty"`
}

// Issue records the issue of the key; it never clears a revocation.
func (k *Key) Issue(e KeyIssued) {
	k.KeyID, k.KeyHash = e.KeyID, e.KeyHash
	k.own(e.UserID, e.CustomerID)
}

// Revoke marks the key revoked forever.
func (k *Key) Revoke(e KeyRevoked) {
	k.KeyID, k.Revoked = e.KeyID, true
	k.own(e.UserID, e.CustomerID)
}

func (k *Key) own(userID, customerID string) {
	if k.UserID == "" {
		k.UserID = userID
	}
	if k.CustomerID == "" {
		k.CustomerID = customerID
	}
}

// Credential is what a presented key resolves to, stored under the key's hash: the document
// the API reads on every request. It mirrors Key once the hash is known.
type Credential struct {
	KeyHash    string `json:"keyHash"`
	KeyID      string `json:"keyId"`
	UserID     string `json:"userId"`
	CustomerID string `json:"customerId"`
	Revoked    bool   `json:"revoked,omitempty"`
}

// Merge folds the key's current state into the credential; revocation only ever turns on.
func (c *Credential) Merge(k Key) {
	c.KeyHash, c.KeyID = k.KeyHash, k.KeyID
	if c.UserID == "" {
		c.UserID = k.UserID
	}
	if c.CustomerID == "" {
		c.CustomerID = k.CustomerID
	}
	c.Revoked = c.Revoked || k.Revoked
}

// Lock is the lock state of a user or a customer. Version is the stream version of the event
// that set Locked; an older or equal one is ignored.
type Lock struct {
	views.Tracked
	ID         string `json:"id"`
	CustomerID string `json:"customerId,omitempty"` // for users
	Known      bool   `json:"known,omitempty"`      // its creation event arrived
	Locked     bool   `json:"locked,omitempty"`
	Version    int64  `json:"version,omitempty"`
}

// Create records that the user or customer exists.
func (l *Lock) Create(id, customerID string) {
	l.ID, l.Known = id, true
	if l.CustomerID == "" {
		l.CustomerID = customerID
	}
}

// Set applies a lock or unlock made at version of its stream, unless a newer one was applied.
func (l *Lock) Set(e LockChanged) {
	l.ID = e.ID
	if l.CustomerID == "" {
		l.CustomerID = e.CustomerID
	}
	if e.Version > l.Version {
		l.Locked, l.Version = e.Locked, e.Version
	}
}

// Caller is an authenticated, authorised caller of the API.
type Caller struct {
	KeyID      string
	UserID     string
	CustomerID string
}

// Authorize applies the access rules to a presented key: it must be known and not revoked,
// and neither its user nor its customer may be locked. A user or customer not replicated yet is
// not locked (the key is the proof of access; lock events follow their creation).
func Authorize(cred Credential, known bool, user, customer Lock) (Caller, error) {
	switch {
	case !known || cred.KeyID == "":
		return Caller{}, ErrUnknownKey
	case cred.Revoked:
		return Caller{}, ErrRevokedKey
	case user.Locked:
		return Caller{}, ErrUserLocked
	case customer.Locked:
		return Caller{}, ErrCustomerLocked
	}
	return Caller{KeyID: cred.KeyID, UserID: cred.UserID, CustomerID: cred.CustomerID}, nil
}

// The changes the access model understands, translated from other contexts' events by the
// anti-corruption layer (package acl).
type (
	// CustomerRegistered: a customer exists.
	CustomerRegistered struct{ CustomerID string }
	// UserRegistered: a user of a customer exists.
	UserRegistered struct{ UserID, CustomerID string }
	// KeyIssued: a key (known only by its SHA-256 hex) was given to a user.
	KeyIssued struct{ KeyID, KeyHash, UserID, CustomerID string }
	// KeyRevoked: a key may no longer be used.
	KeyRevoked struct{ KeyID, UserID, CustomerID string }
	// LockChanged: a user (User true) or a customer was locked or unlocked by the event at
	// Version of its stream.
	LockChanged struct {
		User       bool
		ID         string
		CustomerID string
		Locked     bool
		Version    int64
	}
)

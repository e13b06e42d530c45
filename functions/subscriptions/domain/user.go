package domain

import (
	"strings"

	"meterline/functions/subscriptions/contracts"
)

// MaxActiveKeys bounds the API keys a user holds at once, so a leaked account cannot mint
// keys without end.
const MaxActiveKeys = 20

type apiKey struct {
	hash    string
	revoked bool
}

// User is the aggregate of one user of a customer: sign-in email, password, API keys, lock.
// Stream: contracts.UserStream(id).
type User struct {
	id         string
	created    bool
	customerID string
	email      string
	password   string // bcrypt hash
	locked     bool
	keys       map[string]*apiKey
}

// NewUser returns the empty aggregate of user id (before UserCreated).
func NewUser(id string) *User { return &User{id: id, keys: map[string]*apiKey{}} }

// UserIDFromStream returns the user id of a "user-<id>" stream.
func UserIDFromStream(stream string) string { return strings.TrimPrefix(stream, "user-") }

// ID, Exists, CustomerID, Email, Locked and PasswordHash read the state.
func (u *User) ID() string           { return u.id }
func (u *User) Exists() bool         { return u.created }
func (u *User) CustomerID() string   { return u.customerID }
func (u *User) Email() string        { return u.email }
func (u *User) Locked() bool         { return u.locked }
func (u *User) PasswordHash() string { return u.password }

// KeyActive reports whether keyID is issued and not revoked.
func (u *User) KeyActive(keyID string) bool {
	k, ok := u.keys[keyID]
	return ok && !k.revoked
}

// Apply mutates the state from one past event.
func (u *User) Apply(event any) {
	switch e := event.(type) {
	case contracts.UserCreated:
		u.created, u.customerID, u.email = true, e.CustomerID, e.Email
	case contracts.UserPasswordSet:
		u.password = e.PasswordHash
	case contracts.ApiKeyIssued:
		if _, ok := u.keys[e.KeyID]; !ok {
			u.keys[e.KeyID] = &apiKey{hash: e.KeyHash}
		}
	case contracts.ApiKeyRevoked:
		if k, ok := u.keys[e.KeyID]; ok {
			k.revoked = true
		} else {
			u.keys[e.KeyID] = &apiKey{revoked: true}
		}
	case contracts.UserLocked:
		u.locked = true
	case contracts.UserUnlocked:
		u.locked = false
	}
}

// Create registers the user under customerID with a sign-in email (see NormalizeEmail; global
// uniqueness of the email is checked by the application service, which sees every user).
// Creating the same user again with the same details makes no event.
func (u *User) Create(customerID, email string) ([]any, error) {
	if customerID == "" {
		return nil, Invalid("customerId", "is required")
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if u.created {
		if u.customerID == customerID && u.email == email {
			return nil, nil
		}
		return nil, ErrUserExists
	}
	return []any{contracts.UserCreated{UserID: u.id, CustomerID: customerID, Email: email}}, nil
}

// SetPassword replaces the user's password by one already checked and hashed (HashPassword).
func (u *User) SetPassword(p PasswordHash) ([]any, error) {
	if !u.created {
		return nil, ErrUserNotFound
	}
	if p.hash == "" {
		return nil, Invalid("password", "is required")
	}
	return []any{contracts.UserPasswordSet{UserID: u.id, CustomerID: u.customerID, PasswordHash: p.hash}}, nil
}

// IssueKey gives the user a new API key under keyID. Issuing the same key id with the same hash
// again makes no event; a key id is never reused for another key, even after revocation.
func (u *User) IssueKey(keyID string, key APIKey) ([]any, error) {
	if !u.created {
		return nil, ErrUserNotFound
	}
	if err := checkID("keyId", keyID); err != nil {
		return nil, err
	}
	if key.Hash == "" {
		return nil, Invalid("key", "is required")
	}
	if k, ok := u.keys[keyID]; ok {
		if k.hash == key.Hash {
			return nil, nil
		}
		return nil, ErrKeyIDReused
	}
	active := 0
	for _, k := range u.keys {
		if !k.revoked {
			active++
		}
	}
	if active >= MaxActiveKeys {
		return nil, ErrTooManyKeys
	}
	return []any{contracts.ApiKeyIssued{UserID: u.id, CustomerID: u.customerID, KeyID: keyID, KeyHash: key.Hash}}, nil
}

// RevokeKey stops keyID from authenticating. Revoking a revoked key makes no event.
func (u *User) RevokeKey(keyID string) ([]any, error) {
	if !u.created {
		return nil, ErrUserNotFound
	}
	k, ok := u.keys[keyID]
	if !ok {
		return nil, ErrKeyNotFound
	}
	if k.revoked {
		return nil, nil
	}
	return []any{contracts.ApiKeyRevoked{UserID: u.id, CustomerID: u.customerID, KeyID: keyID}}, nil
}

// Lock locks the user out of the Cloud API; locking a locked user makes no event.
func (u *User) Lock() ([]any, error) {
	if !u.created {
		return nil, ErrUserNotFound
	}
	if u.locked {
		return nil, nil
	}
	return []any{contracts.UserLocked{UserID: u.id, CustomerID: u.customerID}}, nil
}

// Unlock lets a locked user back in; unlocking an unlocked user makes no event.
func (u *User) Unlock() ([]any, error) {
	if !u.created {
		return nil, ErrUserNotFound
	}
	if !u.locked {
		return nil, nil
	}
	return []any{contracts.UserUnlocked{UserID: u.id, CustomerID: u.customerID}}, nil
}

// Register creates the user with its first API key and, optionally, a password, in one step.
// Registering the same user again (a retried request) makes no event: the key of the first
// attempt was already shown, and is never shown again.
func (u *User) Register(customerID, email string, password *PasswordHash, keyID string, key APIKey) ([]any, error) {
	events, err := u.Create(customerID, email)
	if err != nil || len(events) == 0 {
		return nil, err
	}
	if err := checkID("keyId", keyID); err != nil {
		return nil, err
	}
	if key.Hash == "" {
		return nil, Invalid("key", "is required")
	}
	if password != nil {
		if password.hash == "" {
			return nil, Invalid("password", "is required")
		}
		events = append(events, contracts.UserPasswordSet{UserID: u.id, CustomerID: customerID, PasswordHash: password.hash})
	}
	return append(events, contracts.ApiKeyIssued{UserID: u.id, CustomerID: customerID, KeyID: keyID, KeyHash: key.Hash}), nil
}

package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"meterline/shared/fault"
	"meterline/shared/views"
)

// Sign-in refusals. ErrBadCredentials covers an unknown email, a wrong password and a user
// without a password alike, so that the answer does not tell which.
var (
	ErrBadCredentials = fault.New(fault.Unauthorized, "invalid_credentials", "wrong email or password")
	ErrUserLocked     = fault.New(fault.Forbidden, "user_locked", "this user is locked; ask your account's administrator")
)

// PortalUser is a user as the portal knows them: enough to sign in without asking Subscriptions.
// It is a view document of the user's stream (views.Tracked holds the versions applied).
type PortalUser struct {
	views.Tracked
	UserID          string `json:"userId"`
	CustomerID      string `json:"customerId"`
	Email           string `json:"email"`
	PasswordHash    string `json:"passwordHash"`
	PasswordVersion int64  `json:"passwordVersion"` // user-stream version of PasswordHash
	Locked          bool   `json:"locked"`
	LockVersion     int64  `json:"lockVersion"` // user-stream version of Locked
}

// Apply merges one user fact, recorded at version of the user's stream; older state never
// overwrites newer, so the facts may come in any order (and twice).
func (u *PortalUser) Apply(version int64, fact any) {
	switch f := fact.(type) {
	case UserRegistered:
		u.identify(f.UserID, f.CustomerID)
		u.Email = NormalizeEmail(f.Email)
	case PasswordChanged:
		u.identify(f.UserID, f.CustomerID)
		if version > u.PasswordVersion {
			u.PasswordHash, u.PasswordVersion = f.PasswordHash, version
		}
	case UserAccessChanged:
		u.identify(f.UserID, f.CustomerID)
		if version > u.LockVersion {
			u.Locked, u.LockVersion = f.Locked, version
		}
	}
}

func (u *PortalUser) identify(userID, customerID string) {
	u.UserID = userID
	if customerID != "" {
		u.CustomerID = customerID
	}
}

// EmailOwner maps a sign-in email to its user (emails are unique in Subscriptions).
type EmailOwner struct {
	Email  string `json:"email"`
	UserID string `json:"userId"`
}

// NormalizeEmail is the form emails are compared in (Subscriptions stores them lower case).
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// EmailKey is the document key of an email: a hash, so that any character an email may hold
// is safe as a table key.
func EmailKey(email string) string {
	sum := sha256.Sum256([]byte(NormalizeEmail(email)))
	return hex.EncodeToString(sum[:])
}

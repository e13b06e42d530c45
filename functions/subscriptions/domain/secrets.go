package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password rules. bcrypt reads at most 72 bytes, so a longer password would be silently cut:
// refuse it instead.
const (
	MinPasswordLength = 10 // characters
	MaxPasswordBytes  = 72
)

// PasswordHash is a password that passed the rules, hashed with bcrypt. Only HashPassword makes
// one, so a User never stores an unchecked password.
type PasswordHash struct{ hash string }

// String returns the bcrypt hash.
func (p PasswordHash) String() string { return p.hash }

// HashPassword checks password against the rules and hashes it with bcrypt at cost
// (bcrypt.DefaultCost in production; tests may use bcrypt.MinCost).
func HashPassword(password string, cost int) (PasswordHash, error) {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return PasswordHash{}, Invalid("password", fmt.Sprintf("must be at least %d characters", MinPasswordLength))
	}
	if len(password) > MaxPasswordBytes {
		return PasswordHash{}, Invalid("password", fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes))
	}
	if !utf8.ValidString(password) {
		return PasswordHash{}, Invalid("password", "is not valid UTF-8")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return PasswordHash{}, fmt.Errorf("hash password: %w", err)
	}
	return PasswordHash{hash: string(h)}, nil
}

// APIKey is a new API key: Plain is shown to the caller once, Hash is all that is kept.
type APIKey struct {
	Plain string // "ml_" + base64url(32 random bytes)
	Hash  string // hex(SHA-256(Plain)), over the whole string including the "ml_" prefix
}

// NewAPIKey draws a key from random (crypto/rand.Reader in production).
func NewAPIKey(random io.Reader) (APIKey, error) {
	var b [32]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return APIKey{}, fmt.Errorf("new API key: %w", err)
	}
	plain := "ml_" + base64.RawURLEncoding.EncodeToString(b[:])
	return APIKey{Plain: plain, Hash: HashAPIKey(plain)}, nil
}

// HashAPIKey is the stored and published form of a key: hex(SHA-256(key)). A fast hash is
// right for 256-bit random keys and lets the Cloud API find a key by its hash.
func HashAPIKey(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// NormalizeEmail checks that s is a bare address ("name@example.com", no display name) and
// returns it in lower case, the form used for sign-in and uniqueness.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Invalid("email", "is required")
	}
	if len(s) > 254 {
		return "", Invalid("email", "is longer than 254 characters")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") {
		return "", Invalid("email", "is not an email address like name@example.com")
	}
	return strings.ToLower(s), nil
}

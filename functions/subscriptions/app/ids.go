package app

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// newID returns kind + "_" + 20 hex digits: derived from the command id when there is one (a
// retried request makes the same id, so it creates nothing twice), random otherwise.
func newID(random io.Reader, kind, commandID string) (string, error) {
	if commandID != "" {
		sum := sha256.Sum256([]byte(kind + "\x00" + commandID))
		return kind + "_" + hex.EncodeToString(sum[:10]), nil
	}
	if random == nil {
		random = rand.Reader
	}
	var b [10]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("new %s id: %w", kind, err)
	}
	return kind + "_" + hex.EncodeToString(b[:]), nil
}

// ValidID reports whether s can be a customer, user or key id: what newID makes, and nothing
// that could break a stream name or a table key.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

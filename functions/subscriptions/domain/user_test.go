package domain_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"meterline/shared/fault"

	"golang.org/x/crypto/bcrypt"

	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/aggregate/aggregatetest"
)

var userCreated = contracts.UserCreated{UserID: "u1", CustomerID: "c1", Email: "ann@example.com"}

func user() *domain.User { return domain.NewUser("u1") }

func key(t *testing.T) domain.APIKey {
	t.Helper()
	k, err := domain.NewAPIKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issued(keyID string, k domain.APIKey) contracts.ApiKeyIssued {
	return contracts.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: keyID, KeyHash: k.Hash}
}

func TestCreateUserKeepsTheEmailInLowerCase(t *testing.T) {
	aggregatetest.Given(t, user()).
		When(func(u *domain.User) ([]any, error) { return u.Create("c1", " Ann@Example.com ") }).
		Then(userCreated)
}

func TestCreateUserRejectsWhatIsNotABareEmailAddress(t *testing.T) {
	for _, email := range []string{"", "ann", "ann@", "@example.com", "Ann <ann@example.com>", "ann@localhost", "a b@example.com", strings.Repeat("a", 250) + "@example.com"} {
		aggregatetest.Given(t, user()).
			When(func(u *domain.User) ([]any, error) { return u.Create("c1", email) }).
			ThenError(fault.Invalid)
	}
}

func TestCreateUserAgainIsIdempotentOrAConflict(t *testing.T) {
	aggregatetest.Given(t, user(), userCreated).
		When(func(u *domain.User) ([]any, error) { return u.Create("c1", "ann@example.com") }).
		ThenNothing()
	aggregatetest.Given(t, user(), userCreated).
		When(func(u *domain.User) ([]any, error) { return u.Create("c2", "ann@example.com") }).
		ThenError(domain.ErrUserExists)
}

func TestSetPasswordStoresOnlyABcryptHash(t *testing.T) {
	h, err := domain.HashPassword("correct horse battery", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.String(), "horse") || bcrypt.CompareHashAndPassword([]byte(h.String()), []byte("correct horse battery")) != nil || bcrypt.CompareHashAndPassword([]byte(h.String()), []byte("wrong horse battery")) == nil {
		t.Fatalf("hash %q does not behave as a bcrypt hash of the password", h)
	}
	aggregatetest.Given(t, user(), userCreated).
		When(func(u *domain.User) ([]any, error) { return u.SetPassword(h) }).
		Then(contracts.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: h.String()})
}

func TestPasswordRules(t *testing.T) {
	for _, p := range []string{"", "short", "123456789", strings.Repeat("x", 73), "ab\xffcdefghijk"} {
		if _, err := domain.HashPassword(p, bcrypt.MinCost); !errors.Is(err, fault.Invalid) {
			t.Errorf("HashPassword(%q) = %v, want an invalid fault", p, err)
		}
	}
	aggregatetest.Given(t, user(), userCreated).
		When(func(u *domain.User) ([]any, error) { return u.SetPassword(domain.PasswordHash{}) }).
		ThenError(fault.Invalid)
}

func TestUserCommandsOnAnUnknownUserFail(t *testing.T) {
	k := key(t)
	for name, cmd := range map[string]func(*domain.User) ([]any, error){
		"password": func(u *domain.User) ([]any, error) { return u.SetPassword(domain.PasswordHash{}) },
		"issue":    func(u *domain.User) ([]any, error) { return u.IssueKey("k1", k) },
		"revoke":   func(u *domain.User) ([]any, error) { return u.RevokeKey("k1") },
		"lock":     func(u *domain.User) ([]any, error) { return u.Lock() },
		"unlock":   func(u *domain.User) ([]any, error) { return u.Unlock() },
	} {
		t.Run(name, func(t *testing.T) {
			aggregatetest.Given(t, user()).When(cmd).ThenError(domain.ErrUserNotFound)
		})
	}
}

func TestAnAPIKeyIsRandomAndKeptOnlyAsItsSHA256(t *testing.T) {
	a, b := key(t), key(t)
	if a.Plain == b.Plain || !strings.HasPrefix(a.Plain, "ml_") || len(a.Plain) != 3+43 {
		t.Fatalf("keys %q and %q are not two random ml_ keys", a.Plain, b.Plain)
	}
	sum := sha256.Sum256([]byte(a.Plain))
	if a.Hash != hex.EncodeToString(sum[:]) || domain.HashAPIKey(a.Plain) != a.Hash {
		t.Fatalf("hash %s is not hex(SHA-256(key))", a.Hash)
	}
	if _, err := domain.NewAPIKey(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("a key from a short random source was accepted")
	}
	aggregatetest.Given(t, user(), userCreated).
		When(func(u *domain.User) ([]any, error) { return u.IssueKey("k1", a) }).
		Then(issued("k1", a))
}

func TestAKeyIDIsIssuedOnce(t *testing.T) {
	a, b := key(t), key(t)
	aggregatetest.Given(t, user(), userCreated, issued("k1", a)).
		When(func(u *domain.User) ([]any, error) { return u.IssueKey("k1", a) }).
		ThenNothing()
	aggregatetest.Given(t, user(), userCreated, issued("k1", a)).
		When(func(u *domain.User) ([]any, error) { return u.IssueKey("k1", b) }).
		ThenError(domain.ErrKeyIDReused)
}

func TestAUserHoldsABoundedNumberOfActiveKeys(t *testing.T) {
	past := []any{userCreated}
	for i := range domain.MaxActiveKeys {
		past = append(past, issued("k"+string(rune('a'+i)), key(t)))
	}
	k := key(t)
	aggregatetest.Given(t, user(), past...).
		When(func(u *domain.User) ([]any, error) { return u.IssueKey("new", k) }).
		ThenError(domain.ErrTooManyKeys)
	revoked := append(past, contracts.ApiKeyRevoked{UserID: "u1", CustomerID: "c1", KeyID: "ka"})
	aggregatetest.Given(t, user(), revoked...).
		When(func(u *domain.User) ([]any, error) { return u.IssueKey("new", k) }).
		Then(issued("new", k))
}

func TestRevokeAKey(t *testing.T) {
	a := key(t)
	revoked := contracts.ApiKeyRevoked{UserID: "u1", CustomerID: "c1", KeyID: "k1"}
	aggregatetest.Given(t, user(), userCreated, issued("k1", a)).
		When(func(u *domain.User) ([]any, error) { return u.RevokeKey("k1") }).
		Then(revoked)
	aggregatetest.Given(t, user(), userCreated, issued("k1", a), revoked).
		When(func(u *domain.User) ([]any, error) { return u.RevokeKey("k1") }).
		ThenNothing()
	aggregatetest.Given(t, user(), userCreated).
		When(func(u *domain.User) ([]any, error) { return u.RevokeKey("k1") }).
		ThenError(domain.ErrKeyNotFound)
}

func TestARevokedKeyStaysRevokedWhateverTheOrder(t *testing.T) {
	a := key(t)
	u := user()
	for _, e := range []any{userCreated, contracts.ApiKeyRevoked{UserID: "u1", CustomerID: "c1", KeyID: "k1"}, issued("k1", a)} {
		u.Apply(e)
	}
	if u.KeyActive("k1") {
		t.Fatal("a late ApiKeyIssued revived a revoked key")
	}
}

func TestLockAndUnlockAUser(t *testing.T) {
	locked := contracts.UserLocked{UserID: "u1", CustomerID: "c1"}
	aggregatetest.Given(t, user(), userCreated).When((*domain.User).Lock).Then(locked)
	aggregatetest.Given(t, user(), userCreated, locked).When((*domain.User).Lock).ThenNothing()
	aggregatetest.Given(t, user(), userCreated, locked).When((*domain.User).Unlock).Then(contracts.UserUnlocked{UserID: "u1", CustomerID: "c1"})
	aggregatetest.Given(t, user(), userCreated).When((*domain.User).Unlock).ThenNothing()
}

func TestRegisterAUserWithPasswordAndFirstKey(t *testing.T) {
	k := key(t)
	h, err := domain.HashPassword("correct horse battery", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	aggregatetest.Given(t, user()).
		When(func(u *domain.User) ([]any, error) { return u.Register("c1", "ann@example.com", &h, "k1", k) }).
		Then(userCreated, contracts.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: h.String()}, issued("k1", k))
	aggregatetest.Given(t, user()).
		When(func(u *domain.User) ([]any, error) { return u.Register("c1", "ann@example.com", nil, "k1", k) }).
		Then(userCreated, issued("k1", k))
	aggregatetest.Given(t, user(), userCreated, issued("k1", k)).
		When(func(u *domain.User) ([]any, error) { return u.Register("c1", "ann@example.com", nil, "k2", key(t)) }).
		ThenNothing()
	aggregatetest.Given(t, user()).
		When(func(u *domain.User) ([]any, error) { return u.Register("c1", "ann@example.com", nil, "", k) }).
		ThenError(fault.Invalid)
}

package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"time"

	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/aggregate"
	"meterline/shared/eventstore"
)

// EmailClaim reserves a sign-in email for one user, across all customers: the email index.
// It is written before the user's events, with optimistic concurrency, so two concurrent
// requests cannot both get the same email.
type EmailClaim struct {
	Email      string    `json:"email"`
	UserID     string    `json:"userId"`
	CustomerID string    `json:"customerId"`
	ClaimedAt  time.Time `json:"claimedAt"`
}

// abandonedClaim is how old a claim must be, with its user never created (the request failed
// half-way and was not retried), before another user may take the email.
const abandonedClaim = time.Minute

// Users is the application service of the User aggregate.
type Users struct {
	svc       *aggregate.Service[*domain.User]
	customers *Customers
	directory Docs[CustomerView] // to know a customer exists without loading its whole stream
	emails    Docs[EmailClaim]
	now       func() time.Time
	random    io.Reader
	cost      int // bcrypt cost
}

// CreateUser adds a user to a customer. Password is optional ("" for none).
type CreateUser struct {
	CustomerID string
	Email      string
	Password   string
}

// NewUser is the result of CreateUser. APIKey is empty when the request was a retry of one that
// already created the user: a key is shown only once.
type NewUser struct {
	UserID string
	KeyID  string
	APIKey string
}

// Create adds a user with a first API key.
func (s *Users) Create(ctx context.Context, cmd CreateUser) (NewUser, error) {
	email, err := domain.NormalizeEmail(cmd.Email)
	if err != nil {
		return NewUser{}, err
	}
	var password *domain.PasswordHash
	if cmd.Password != "" {
		h, err := domain.HashPassword(cmd.Password, s.cost)
		if err != nil {
			return NewUser{}, err
		}
		password = &h
	}
	if err := s.customerExists(ctx, cmd.CustomerID); err != nil {
		return NewUser{}, err
	}
	commandID := eventstore.CommandID(ctx)
	userID, err := newID(s.random, "usr", commandID)
	if err != nil {
		return NewUser{}, err
	}
	keyID, err := newID(s.random, "key", commandID)
	if err != nil {
		return NewUser{}, err
	}
	key, err := domain.NewAPIKey(s.random)
	if err != nil {
		return NewUser{}, err
	}
	if err := s.claim(ctx, email, userID, cmd.CustomerID); err != nil {
		return NewUser{}, err
	}
	events, err := s.svc.Execute(ctx, contracts.UserStream(userID), func(u *domain.User) ([]any, error) {
		return u.Register(cmd.CustomerID, email, password, keyID, key)
	})
	if err != nil {
		return NewUser{}, err
	}
	if len(events) == 0 {
		return NewUser{UserID: userID}, nil
	}
	return NewUser{UserID: userID, KeyID: keyID, APIKey: key.Plain}, nil
}

// customerExists asks the customer view first (cheap), and the event store only for a
// customer too new to be in it yet.
func (s *Users) customerExists(ctx context.Context, customerID string) error {
	if !ValidID(customerID) {
		return domain.ErrCustomerNotFound
	}
	if _, ok, err := s.directory.Get(ctx, customerID); err != nil || ok {
		return err
	}
	_, err := s.customers.Get(ctx, customerID)
	return err
}

// claim reserves email for userID in the email index.
func (s *Users) claim(ctx context.Context, email, userID, customerID string) error {
	_, err := s.emails.Update(ctx, EmailKey(email), func(c *EmailClaim) error {
		if c.UserID != "" && c.UserID != userID {
			if s.now().Sub(c.ClaimedAt) < abandonedClaim {
				return domain.ErrEmailTaken
			}
			holder, _, err := s.svc.Load(ctx, contracts.UserStream(c.UserID))
			if err != nil {
				return err
			}
			if holder.Exists() {
				return domain.ErrEmailTaken
			}
		}
		if c.UserID != userID {
			*c = EmailClaim{Email: email, UserID: userID, CustomerID: customerID, ClaimedAt: s.now()}
		}
		return nil
	})
	return err
}

// EmailKey is the email index key of a normalized email: its SHA-256, because an address may
// hold characters a table key forbids.
func EmailKey(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:])
}

// IssueKey gives the user a new API key and returns its id and the key (shown once). With a
// command id in ctx a retry finds the key already issued and returns an empty key.
func (s *Users) IssueKey(ctx context.Context, customerID, userID string) (keyID, apiKey string, err error) {
	keyID, err = newID(s.random, "key", eventstore.CommandID(ctx))
	if err != nil {
		return "", "", err
	}
	key, err := domain.NewAPIKey(s.random)
	if err != nil {
		return "", "", err
	}
	events, err := s.execute(ctx, customerID, userID, func(u *domain.User) ([]any, error) {
		if u.KeyActive(keyID) {
			return nil, nil // a retry: this key id is already issued
		}
		return u.IssueKey(keyID, key)
	})
	if err != nil || len(events) == 0 {
		return keyID, "", err
	}
	return keyID, key.Plain, nil
}

// RevokeKey stops a key from authenticating.
func (s *Users) RevokeKey(ctx context.Context, customerID, userID, keyID string) error {
	_, err := s.execute(ctx, customerID, userID, func(u *domain.User) ([]any, error) { return u.RevokeKey(keyID) })
	return err
}

// SetPassword replaces the user's password.
func (s *Users) SetPassword(ctx context.Context, customerID, userID, password string) error {
	h, err := domain.HashPassword(password, s.cost)
	if err != nil {
		return err
	}
	_, err = s.execute(ctx, customerID, userID, func(u *domain.User) ([]any, error) { return u.SetPassword(h) })
	return err
}

// Lock and Unlock lock a user out of the Cloud API and back in.
func (s *Users) Lock(ctx context.Context, customerID, userID string) error {
	_, err := s.execute(ctx, customerID, userID, (*domain.User).Lock)
	return err
}

func (s *Users) Unlock(ctx context.Context, customerID, userID string) error {
	_, err := s.execute(ctx, customerID, userID, (*domain.User).Unlock)
	return err
}

// execute runs command on a user of customerID; a user of another customer is not found.
func (s *Users) execute(ctx context.Context, customerID, userID string, command func(*domain.User) ([]any, error)) ([]eventstore.Event, error) {
	if !ValidID(userID) || !ValidID(customerID) {
		return nil, domain.ErrUserNotFound
	}
	return s.svc.Execute(ctx, contracts.UserStream(userID), func(u *domain.User) ([]any, error) {
		if !u.Exists() || u.CustomerID() != customerID {
			return nil, domain.ErrUserNotFound
		}
		return command(u)
	})
}

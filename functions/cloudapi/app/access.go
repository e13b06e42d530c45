package app

import (
	"context"
	"fmt"

	"meterline/functions/cloudapi/domain"
)

// AccessStore is the access replica: keys by keyId, credentials by key hash (what requests
// read), and the lock state of users and customers by id.
type AccessStore struct {
	Keys        Docs[domain.Key]
	Credentials Docs[domain.Credential]
	Users       Docs[domain.Lock]
	Customers   Docs[domain.Lock]
}

// AccessProjection applies access changes to the replica. Every change is idempotent and
// commutative (see domain), so redelivered, duplicated and reordered events converge.
type AccessProjection struct{ Store AccessStore }

// Apply applies one change translated by the ACL.
func (p AccessProjection) Apply(ctx context.Context, change any) error {
	s := p.Store
	switch c := change.(type) {
	case domain.CustomerRegistered:
		_, err := s.Customers.Update(ctx, c.CustomerID, func(l *domain.Lock) error { l.Create(c.CustomerID, c.CustomerID); return nil })
		return err
	case domain.UserRegistered:
		_, err := s.Users.Update(ctx, c.UserID, func(l *domain.Lock) error { l.Create(c.UserID, c.CustomerID); return nil })
		return err
	case domain.LockChanged:
		docs := s.Customers
		if c.User {
			docs = s.Users
		}
		_, err := docs.Update(ctx, c.ID, func(l *domain.Lock) error { l.Set(c); return nil })
		return err
	case domain.KeyIssued:
		return p.updateKey(ctx, c.KeyID, func(k *domain.Key) { k.Issue(c) })
	case domain.KeyRevoked:
		return p.updateKey(ctx, c.KeyID, func(k *domain.Key) { k.Revoke(c) })
	}
	return fmt.Errorf("app: no projection for %T", change)
}

// updateKey changes the key by id first, then mirrors it into the credential by hash. The key
// document is the point of agreement: whichever of "issued" and "revoked" updates it second
// sees both facts, and the credential's revocation only ever turns on, so the credential ends
// revoked whatever the order. A redelivery repeats the mirror step, repairing a crash between
// the two writes.
func (p AccessProjection) updateKey(ctx context.Context, keyID string, change func(*domain.Key)) error {
	key, err := p.Store.Keys.Update(ctx, keyID, func(k *domain.Key) error { change(k); return nil })
	if err != nil || key.KeyHash == "" {
		return err // no hash yet: the issue event will mirror the key when it comes
	}
	_, err = p.Store.Credentials.Update(ctx, key.KeyHash, func(c *domain.Credential) error { c.Merge(key); return nil })
	return err
}

// Gate authorises callers against the replica.
type Gate struct{ Store AccessStore }

// Authorize resolves the SHA-256 hex of a presented key to a caller, or a domain access error.
func (g Gate) Authorize(ctx context.Context, keyHash string) (domain.Caller, error) {
	cred, known, err := g.Store.Credentials.Get(ctx, keyHash)
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
		l, _, err := g.Store.Users.Get(ctx, cred.UserID)
		userCh <- result{l, err}
	}()
	customer, _, cerr := g.Store.Customers.Get(ctx, cred.CustomerID)
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

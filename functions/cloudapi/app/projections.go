package app

import (
	"context"

	"meterline/functions/cloudapi/acl"
	"meterline/functions/cloudapi/domain"
	"meterline/shared/blocks"
	"meterline/shared/views"
)

// AccessStore is the access replica: keys by keyId, credentials by key hash (what requests
// read), and the lock state of users and customers by id.
type AccessStore struct {
	Keys        *views.Docs[domain.Key]
	Credentials *views.Docs[domain.Credential]
	Users       *views.Docs[domain.Lock]
	Customers   *views.Docs[domain.Lock]
}

// The access projections fold Subscriptions' events, translated by the ACL, into the replica:
// one projection per document type, each on its own subscription filtered to its types.
// Subscriptions' events arrive in any order, duplicated and with gaps (the other types of a
// stream go to the other projections), so every change is order-free (see domain): the kit
// applies each (stream, version) once, and the domain merges the rest.

// subscriptionsEvents is the source of an access projection: the types it handles, on
// Subscriptions' topic, through the ACL.
func subscriptionsEvents(types []string) blocks.Source[any] {
	return blocks.Source[any]{Topic: acl.Topic, Types: types, Translate: acl.Translate}
}

// ReplicateKeys is the keys projection: domain.Key by keyId, from ApiKeyIssued and
// ApiKeyRevoked. After each event it mirrors the key into the credential by hash (what a
// request reads). The key document is the point of agreement: whichever of "issued" and
// "revoked" updates it second sees both facts, and the credential's revocation only ever turns
// on, so the credential ends revoked whatever the order. After runs on a redelivery too,
// repairing a crash between the two writes.
//
// refresh (the Gate's Refresh, or nil) hears of every credential and lock written.
func ReplicateKeys(s AccessStore, refresh func(collection, key string)) blocks.Projection[any, domain.Key] {
	return blocks.Projection[any, domain.Key]{
		Name:    "ReplicateKeys",
		Source:  subscriptionsEvents(acl.KeyTypes),
		Docs:    s.Keys,
		Indexes: []blocks.Collection{s.Credentials}, // After mirrors every key into its credential
		Key: func(e blocks.Event[any]) string {
			switch c := e.Fact.(type) {
			case domain.KeyIssued:
				return c.KeyID
			case domain.KeyRevoked:
				return c.KeyID
			}
			return ""
		},
		When: func(k *domain.Key, e blocks.Event[any]) {
			switch c := e.Fact.(type) {
			case domain.KeyIssued:
				k.Issue(c)
			case domain.KeyRevoked:
				k.Revoke(c)
			}
		},
		After: func(ctx context.Context, _ string, k domain.Key) error {
			if k.KeyHash == "" {
				return nil // no hash yet: the issue event will mirror the key when it comes
			}
			_, err := s.Credentials.Update(ctx, k.KeyHash, func(c *domain.Credential) error { c.Merge(k); return nil })
			if err == nil && refresh != nil {
				refresh("credentials", k.KeyHash)
			}
			return err
		},
	}
}

// ReplicateUserLocks is the user-locks projection: domain.Lock by userId, from UserCreated,
// UserLocked and UserUnlocked.
func ReplicateUserLocks(s AccessStore, refresh func(collection, key string)) blocks.Projection[any, domain.Lock] {
	return locks("ReplicateUserLocks", acl.UserTypes, s.Users, "users", refresh)
}

// ReplicateCustomerLocks is the customer-locks projection: domain.Lock by customerId, from
// CustomerCreated, CustomerLocked and CustomerUnlocked.
func ReplicateCustomerLocks(s AccessStore, refresh func(collection, key string)) blocks.Projection[any, domain.Lock] {
	return locks("ReplicateCustomerLocks", acl.CustomerTypes, s.Customers, "customers", refresh)
}

// locks is a projection of lock states: creation is a set-once fact, the lock itself goes to
// the newest version of its stream.
func locks(name string, types []string, docs *views.Docs[domain.Lock], collection string, refresh func(collection, key string)) blocks.Projection[any, domain.Lock] {
	var after func(context.Context, string, domain.Lock) error
	if refresh != nil {
		after = func(_ context.Context, key string, _ domain.Lock) error { refresh(collection, key); return nil }
	}
	return blocks.Projection[any, domain.Lock]{
		After:  after,
		Name:   name,
		Source: subscriptionsEvents(types),
		Docs:   docs,
		Key: func(e blocks.Event[any]) string {
			switch c := e.Fact.(type) {
			case domain.CustomerRegistered:
				return c.CustomerID
			case domain.UserRegistered:
				return c.UserID
			case domain.LockChanged:
				return c.ID
			}
			return ""
		},
		When: func(l *domain.Lock, e blocks.Event[any]) {
			switch c := e.Fact.(type) {
			case domain.CustomerRegistered:
				l.Create(c.CustomerID, c.CustomerID)
			case domain.UserRegistered:
				l.Create(c.UserID, c.CustomerID)
			case domain.LockChanged:
				l.Set(c)
			}
		},
	}
}

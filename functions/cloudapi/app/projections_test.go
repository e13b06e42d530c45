package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"meterline/functions/cloudapi"
	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/blocks/projectiontest"
	"meterline/shared/eventstore"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
)

func hashOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// event builds a Subscriptions envelope as it arrives on the topic.
func event(t testing.TB, stream string, version int64, typ string, payload any) eventstore.Event {
	data, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.Event{ID: fmt.Sprintf("%s@%d", stream, version), Type: typ, SchemaVersion: 1, Stream: stream,
		Version: version, Source: "subscriptions", Data: data}
}

// The access projections, each on a views backend laid out as in production.
func keys(b views.Backend, _ blocks.StreamReader) blocks.Projection[any, domain.Key] {
	return app.ReplicateKeys(cloudapi.AccessStoreOn(b), nil)
}

func userLocks(b views.Backend, _ blocks.StreamReader) blocks.Projection[any, domain.Lock] {
	return app.ReplicateUserLocks(cloudapi.AccessStoreOn(b), nil)
}

func customerLocks(b views.Backend, _ blocks.StreamReader) blocks.Projection[any, domain.Lock] {
	return app.ReplicateCustomerLocks(cloudapi.AccessStoreOn(b), nil)
}

// replica is the whole access replica on one in-memory views backend: every event goes to
// every projection, which takes the types it handles.
type replica struct {
	store app.AccessStore
	keys  blocks.Projection[any, domain.Key]
	users blocks.Projection[any, domain.Lock]
	custs blocks.Projection[any, domain.Lock]
}

func newReplica() *replica {
	b := viewmem.New()
	return &replica{store: cloudapi.AccessStoreOn(b), keys: keys(b, nil), users: userLocks(b, nil), custs: customerLocks(b, nil)}
}

func (r *replica) apply(t testing.TB, e eventstore.Event) {
	t.Helper()
	for _, err := range []error{r.keys.Handle(context.Background(), e), r.users.Handle(context.Background(), e), r.custs.Handle(context.Background(), e)} {
		if err != nil {
			t.Fatalf("%s %s@%d: %v", e.Type, e.Stream, e.Version, err)
		}
	}
}

// history fills every collection of the replica: a key issued then revoked, a user locked then
// unlocked, a customer locked, a second key issued.
func history(t testing.TB, k1, k2 string) []eventstore.Event {
	return []eventstore.Event{
		event(t, "customer-c1", 1, subs.TypeCustomerCreated, subs.CustomerCreated{CustomerID: "c1", Name: "Acme", Plan: "basic"}),
		event(t, "user-u1", 1, subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1", Email: "a@x"}),
		event(t, "user-u1", 2, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k1", KeyHash: k1}),
		event(t, "user-u1", 3, subs.TypeApiKeyRevoked, subs.ApiKeyRevoked{UserID: "u1", CustomerID: "c1", KeyID: "k1"}),
		event(t, "user-u1", 4, subs.TypeUserLocked, subs.UserLocked{UserID: "u1", CustomerID: "c1"}),
		event(t, "user-u1", 5, subs.TypeUserUnlocked, subs.UserUnlocked{UserID: "u1", CustomerID: "c1"}),
		event(t, "customer-c1", 2, subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c1", Reason: "overdraft"}),
		event(t, "user-u1", 6, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k2", KeyHash: k2}),
	}
}

// Every order of the history, with duplicates, converges to one state: the revoked key stays
// revoked (a late "issued" does not revive it), and a key is usable before its user's creation
// arrives. The credentials, which the keys projection mirrors by hash, converge too.
func TestKeysProjectionConvergesInAnyOrder(t *testing.T) {
	k1, k2 := hashOf("ml_key-one"), hashOf("ml_key-two")
	var backends []*viewmem.Store // each delivery order's, to check the credentials afterwards
	build := func(b views.Backend, r blocks.StreamReader) blocks.Projection[any, domain.Key] {
		backends = append(backends, b.(*viewmem.Store))
		return keys(b, r)
	}
	projectiontest.Given(t, build, history(t, k1, k2)...).
		Then("k1", domain.Key{KeyID: "k1", KeyHash: k1, UserID: "u1", CustomerID: "c1", Revoked: true}).
		Then("k2", domain.Key{KeyID: "k2", KeyHash: k2, UserID: "u1", CustomerID: "c1"})

	want := map[string]domain.Credential{
		k1: {KeyHash: k1, KeyID: "k1", UserID: "u1", CustomerID: "c1", Revoked: true},
		k2: {KeyHash: k2, KeyID: "k2", UserID: "u1", CustomerID: "c1"},
	}
	if len(backends) < 2 {
		t.Fatalf("%d delivery orders tried", len(backends))
	}
	for i, b := range backends {
		creds := cloudapi.AccessStoreOn(b).Credentials
		entries, err := creds.Entries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]domain.Credential{}
		for _, e := range entries {
			got[e.Key] = e.Doc
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("delivery order %d: credentials %+v, want %+v", i, got, want)
		}
	}
}

// The latest lock wins whatever the order; creation is recorded whenever it arrives.
func TestLockProjectionsConvergeInAnyOrder(t *testing.T) {
	h := history(t, hashOf("ml_key-one"), hashOf("ml_key-two"))
	projectiontest.Given(t, userLocks, h...).
		Then("u1", domain.Lock{ID: "u1", CustomerID: "c1", Known: true, Locked: false, Version: 5}).
		ThenAbsent("c1")
	projectiontest.Given(t, customerLocks, h...).
		Then("c1", domain.Lock{ID: "c1", CustomerID: "c1", Known: true, Locked: true, Version: 2}).
		ThenAbsent("u1")
}

// The converged replica, read by the gate: the revoked key is refused, the other is refused
// for its locked customer though its user was unlocked.
func TestGateOnTheConvergedReplica(t *testing.T) {
	ctx := context.Background()
	k1, k2 := hashOf("ml_key-one"), hashOf("ml_key-two")
	r := newReplica()
	for _, e := range history(t, k1, k2) {
		r.apply(t, e)
	}
	gate := app.NewGate(r.store, -1)
	if _, err := gate.Authorize(ctx, k1); !errors.Is(err, domain.ErrRevokedKey) {
		t.Fatalf("k1: %v, want revoked", err)
	}
	if _, err := gate.Authorize(ctx, k2); !errors.Is(err, domain.ErrCustomerLocked) {
		t.Fatalf("k2: %v, want customer locked", err)
	}
	if u, _, _ := r.store.Users.Get(ctx, "u1"); u.Locked || u.Version != 5 || !u.Known {
		t.Fatalf("user %+v, want known, unlocked at version 5", u)
	}
}

func TestGate(t *testing.T) {
	ctx := context.Background()
	r := newReplica()
	key := hashOf("ml_k")
	gate := app.NewGate(r.store, -1)
	if _, err := gate.Authorize(ctx, key); !errors.Is(err, domain.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	// Known before its user and customer are: usable.
	r.apply(t, event(t, "user-u", 2, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u", CustomerID: "c", KeyID: "k", KeyHash: key}))
	caller, err := gate.Authorize(ctx, key)
	if err != nil || caller != (domain.Caller{KeyID: "k", UserID: "u", CustomerID: "c"}) {
		t.Fatalf("caller %+v err %v", caller, err)
	}
	r.apply(t, event(t, "user-u", 3, subs.TypeUserLocked, subs.UserLocked{UserID: "u", CustomerID: "c"}))
	if _, err := gate.Authorize(ctx, key); !errors.Is(err, domain.ErrUserLocked) {
		t.Fatalf("locked user: %v", err)
	}
	r.apply(t, event(t, "user-u", 4, subs.TypeUserUnlocked, subs.UserUnlocked{UserID: "u", CustomerID: "c"}))
	r.apply(t, event(t, "user-u", 3, subs.TypeUserLocked, subs.UserLocked{UserID: "u", CustomerID: "c"})) // stale redelivery
	if _, err := gate.Authorize(ctx, key); err != nil {
		t.Fatalf("unlocked user: %v", err)
	}
}

// A crash between the key's write and its credential's: the redelivered event writes the
// credential, though the key itself changes no more.
func TestKeysProjectionRepairsAMissedCredential(t *testing.T) {
	ctx := context.Background()
	r := newReplica()
	key := hashOf("ml_k")
	issued := event(t, "user-u", 2, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u", CustomerID: "c", KeyID: "k", KeyHash: key})
	r.apply(t, issued)
	if err := r.store.Credentials.Delete(ctx, key); err != nil { // the second write never happened
		t.Fatal(err)
	}
	r.apply(t, issued) // redelivered
	cred, ok, err := r.store.Credentials.Get(ctx, key)
	if err != nil || !ok || cred != (domain.Credential{KeyHash: key, KeyID: "k", UserID: "u", CustomerID: "c"}) {
		t.Fatalf("credential after redelivery: %+v %v %v", cred, ok, err)
	}
}

package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"meterline/functions/cloudapi"
	"meterline/functions/cloudapi/acl"
	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
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

// replica is the access replica on the in-memory views backend, laid out as in production.
type replica struct {
	backend *viewmem.Store
	store   app.AccessStore
}

func newReplica() *replica {
	b := viewmem.New()
	return &replica{backend: b, store: cloudapi.AccessStoreOn(b)}
}

func (r *replica) apply(t testing.TB, e eventstore.Event) {
	t.Helper()
	change, err := acl.Translate(e)
	if err != nil {
		t.Fatalf("translate %s: %v", e.Type, err)
	}
	if change == nil {
		return
	}
	if err := (app.AccessProjection{Store: r.store}).Apply(context.Background(), change); err != nil {
		t.Fatal(err)
	}
}

// state is every stored document of the replica, by collection and key. The history of the
// convergence test fills every collection: an empty one means these names went stale.
func (r *replica) state(t testing.TB) string {
	t.Helper()
	all := map[string]map[string]string{}
	for _, c := range []string{"access-keys", "access-credentials", "access-users", "access-customers"} {
		docs, err := r.backend.List(context.Background(), c)
		if err != nil || len(docs) == 0 {
			t.Fatalf("collection %s: %d documents, %v", c, len(docs), err)
		}
		all[c] = map[string]string{}
		for _, d := range docs {
			all[c][d.Key] = string(d.Data)
		}
	}
	b, _ := json.Marshal(all)
	return string(b)
}

func permutations(n int, visit func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(k int)
	rec = func(k int) {
		if k == n {
			visit(p)
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

// Every order of a small history, each event also delivered twice, converges to one state:
// the revoked key stays revoked (a late "issued" does not revive it), the latest lock wins, and
// a key is usable before its user's creation arrives.
func TestAccessProjectionConvergesInAnyOrder(t *testing.T) {
	k1, k2 := hashOf("ml_key-one"), hashOf("ml_key-two")
	history := []eventstore.Event{
		event(t, "customer-c1", 1, subs.TypeCustomerCreated, subs.CustomerCreated{CustomerID: "c1", Name: "Acme", Plan: "basic"}),
		event(t, "user-u1", 1, subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1", Email: "a@x"}),
		event(t, "user-u1", 2, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k1", KeyHash: k1}),
		event(t, "user-u1", 3, subs.TypeApiKeyRevoked, subs.ApiKeyRevoked{UserID: "u1", CustomerID: "c1", KeyID: "k1"}),
		event(t, "user-u1", 4, subs.TypeUserLocked, subs.UserLocked{UserID: "u1", CustomerID: "c1"}),
		event(t, "user-u1", 5, subs.TypeUserUnlocked, subs.UserUnlocked{UserID: "u1", CustomerID: "c1"}),
		event(t, "customer-c1", 2, subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c1", Reason: "overdraft"}),
		event(t, "user-u1", 6, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u1", CustomerID: "c1", KeyID: "k2", KeyHash: k2}),
	}
	ctx := context.Background()
	var want string
	runs := 0
	permutations(len(history), func(order []int) {
		r := newReplica()
		for _, i := range order {
			r.apply(t, history[i])
		}
		for _, i := range order[:3] { // redeliveries after the fact
			r.apply(t, history[i])
		}
		got := r.state(t)
		if runs == 0 {
			want = got
			gate := app.Gate{Store: r.store}
			if _, err := gate.Authorize(ctx, k1); !errors.Is(err, domain.ErrRevokedKey) {
				t.Fatalf("k1: %v, want revoked", err)
			}
			if _, err := gate.Authorize(ctx, k2); !errors.Is(err, domain.ErrCustomerLocked) {
				t.Fatalf("k2: %v, want customer locked", err)
			}
			if u, _, _ := r.store.Users.Get(ctx, "u1"); u.Locked || u.Version != 5 || !u.Known {
				t.Fatalf("user %+v, want known, unlocked at version 5", u)
			}
		} else if got != want {
			t.Fatalf("order %v converged to\n%s\nwant\n%s", order, got, want)
		}
		runs++
	})
	if runs != 40320 {
		t.Fatalf("%d orders tried", runs)
	}
}

func TestGate(t *testing.T) {
	ctx := context.Background()
	r := newReplica()
	key := hashOf("ml_k")
	gate := app.Gate{Store: r.store}
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

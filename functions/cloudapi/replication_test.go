package cloudapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"meterline/functions/cloudapi"
	"meterline/functions/cloudapi/meterlog"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	viewmem "meterline/shared/views/memstore"
)

// Concurrent delivery (the host runs up to 16 messages at once) of a history in which the
// same key is issued and revoked, and the user locked and unlocked, through the real projection
// functions and the views backend's optimistic concurrency: every round ends in the sequential state.
func TestReplicationUnderConcurrentDelivery(t *testing.T) {
	key := hashOf("ml_concurrent")
	history := []struct {
		stream  string
		version int64
		typ     string
		payload any
	}{
		{"customer-c", 1, subs.TypeCustomerCreated, subs.CustomerCreated{CustomerID: "c"}},
		{"user-u", 1, subs.TypeUserCreated, subs.UserCreated{UserID: "u", CustomerID: "c"}},
		{"user-u", 2, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u", CustomerID: "c", KeyID: "k", KeyHash: key}},
		{"user-u", 3, subs.TypeApiKeyRevoked, subs.ApiKeyRevoked{UserID: "u", CustomerID: "c", KeyID: "k"}},
		{"user-u", 4, subs.TypeUserLocked, subs.UserLocked{UserID: "u", CustomerID: "c"}},
		{"user-u", 5, subs.TypeUserUnlocked, subs.UserUnlocked{UserID: "u", CustomerID: "c"}},
		{"customer-c", 2, subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c"}},
	}
	bodies := make([][]byte, len(history))
	for i, h := range history {
		data, _ := json.Marshal(h.payload)
		bodies[i], _ = eventstore.MarshalEnvelope(eventstore.Event{ID: fmt.Sprint(h.stream, "@", h.version), Type: h.typ,
			SchemaVersion: 1, Stream: h.stream, Version: h.version, Source: "subscriptions", Data: data})
	}
	state := func(b *viewmem.Store) string {
		out := ""
		for _, c := range []string{"access-keys", "access-credentials", "access-users", "access-customers"} {
			docs, err := b.List(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				out += c + "/" + d.Key + "=" + string(d.Data) + "\n"
			}
		}
		return out
	}
	var want string
	for round := range 30 {
		backend := viewmem.New()
		w := newWorld(t, cloudapi.Deps{Access: cloudapi.AccessStoreOn(backend), Meter: meterlog.NewMemory(), Events: memstore.New(), AccessCacheTTL: -1})
		if round == 0 {
			for i, b := range bodies {
				w.deliverTo(w.route(history[i].typ), b)
			}
			want = state(backend)
			continue
		}
		var wg sync.WaitGroup
		deliveries := make([]int, len(bodies))
		for i := range deliveries {
			deliveries[i] = i
		}
		for _, i := range append(deliveries, 2, 3) { // with two duplicates
			fn := w.route(history[i].typ)
			wg.Add(1)
			go func() { defer wg.Done(); w.deliverTo(fn, bodies[i]) }()
		}
		wg.Wait()
		if got := state(backend); got != want {
			t.Fatalf("round %d:\n%s\nwant\n%s", round, got, want)
		}
		if r := w.call("POST", "/api/cloud/forecast", "ml_concurrent", "", line); r.status != 401 {
			t.Fatalf("round %d: revoked key answered %d", round, r.status)
		}
	}
}

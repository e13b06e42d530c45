package acl_test

import (
	"encoding/json"
	"errors"
	"testing"

	"meterline/functions/cloudapi/acl"
	"meterline/functions/cloudapi/domain"
	subs "meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
)

func event(t testing.TB, stream string, version int64, typ string, payload any) eventstore.Event {
	data, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.Event{ID: "e", Type: typ, SchemaVersion: 1, Stream: stream, Version: version, Source: "subscriptions", Data: data}
}

func TestTranslatesEachHandledType(t *testing.T) {
	h := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		e    eventstore.Event
		want any
	}{
		{event(t, "customer-c", 1, subs.TypeCustomerCreated, subs.CustomerCreated{CustomerID: "c"}), domain.CustomerRegistered{CustomerID: "c"}},
		{event(t, "customer-c", 5, subs.TypeCustomerLocked, subs.CustomerLocked{CustomerID: "c"}), domain.LockChanged{ID: "c", CustomerID: "c", Locked: true, Version: 5}},
		{event(t, "customer-c", 6, subs.TypeCustomerUnlocked, subs.CustomerUnlocked{CustomerID: "c"}), domain.LockChanged{ID: "c", CustomerID: "c", Version: 6}},
		{event(t, "user-u", 1, subs.TypeUserCreated, subs.UserCreated{UserID: "u", CustomerID: "c"}), domain.UserRegistered{UserID: "u", CustomerID: "c"}},
		{event(t, "user-u", 2, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u", CustomerID: "c", KeyID: "k", KeyHash: h}), domain.KeyIssued{KeyID: "k", KeyHash: h, UserID: "u", CustomerID: "c"}},
		{event(t, "user-u", 3, subs.TypeApiKeyRevoked, subs.ApiKeyRevoked{UserID: "u", CustomerID: "c", KeyID: "k"}), domain.KeyRevoked{KeyID: "k", UserID: "u", CustomerID: "c"}},
		{event(t, "user-u", 4, subs.TypeUserLocked, subs.UserLocked{UserID: "u", CustomerID: "c"}), domain.LockChanged{User: true, ID: "u", CustomerID: "c", Locked: true, Version: 4}},
		{event(t, "user-u", 7, subs.TypeUserUnlocked, subs.UserUnlocked{UserID: "u", CustomerID: "c"}), domain.LockChanged{User: true, ID: "u", CustomerID: "c", Version: 7}},
	} {
		got, err := acl.Translate(c.e)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.e.Type, got, err, c.want)
		}
	}
	if len(acl.HandledTypes()) != 8 {
		t.Fatalf("handled types %v", acl.HandledTypes())
	}
}

func TestACL(t *testing.T) {
	// Types the Cloud API does not handle translate to nothing.
	if c, err := acl.Translate(event(t, "customer-c", 3, subs.TypeBalanceChanged, subs.BalanceChanged{CustomerID: "c"})); c != nil || err != nil {
		t.Fatalf("unhandled type: %v %v", c, err)
	}
	if c, err := acl.Translate(eventstore.Event{ID: "x", Type: "someone.Else", Data: []byte(`{}`)}); c != nil || err != nil {
		t.Fatalf("foreign type: %v %v", c, err)
	}
	// Malformed events of handled types are errors (poison), whatever is wrong with them.
	for name, e := range map[string]eventstore.Event{
		"bad hash":   event(t, "user-u", 1, subs.TypeApiKeyIssued, subs.ApiKeyIssued{UserID: "u", CustomerID: "c", KeyID: "k", KeyHash: "ml_plain"}),
		"no key id":  event(t, "user-u", 1, subs.TypeApiKeyRevoked, subs.ApiKeyRevoked{UserID: "u"}),
		"no version": event(t, "user-u", 0, subs.TypeUserLocked, subs.UserLocked{UserID: "u"}),
		"no user":    event(t, "user-u", 1, subs.TypeUserCreated, subs.UserCreated{CustomerID: "c"}),
		"not json":   {ID: "e", Type: subs.TypeCustomerCreated, Stream: "customer-c", Version: 1, Data: []byte(`[1]`)},
	} {
		if _, err := acl.Translate(e); !errors.Is(err, acl.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// The kit dead-letters what the ACL calls malformed.
	if !errors.Is(acl.ErrMalformed, blocks.ErrMalformed) {
		t.Errorf("acl.ErrMalformed does not wrap blocks.ErrMalformed")
	}
	// Unknown fields are ignored. (A broken envelope never reaches the ACL: the kit
	// dead-letters it first.)
	body := []byte(`{"id":"e1","type":"subscriptions.CustomerLocked","stream":"customer-c","version":4,"data":{"customerId":"c","future":"field"},"extra":1}`)
	e, err := eventstore.UnmarshalEnvelope(body)
	if err != nil || e.ID != "e1" {
		t.Fatalf("envelope: %+v %v", e, err)
	}
	change, err := acl.Translate(e)
	if err != nil || change != (domain.LockChanged{ID: "c", CustomerID: "c", Locked: true, Version: 4}) {
		t.Fatalf("translate: %+v %v", change, err)
	}
}

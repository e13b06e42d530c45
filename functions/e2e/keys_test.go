package e2e

import (
	"net/http"
	"net/url"
	"testing"
)

// TestBackOfficeNeedsAFunctionKey: Subscriptions' back office is authLevel function, so the
// local host, like the real one (azure-functions-host AuthenticationLevelHandler and
// SecretManager.GetAuthorizationLevelAsync), answers 401 to a caller without a key or with a
// wrong one, lets the app's key in through x-functions-key or ?code=, and leaves the public
// plans list (anonymous) open.
func TestBackOfficeNeedsAFunctionKey(t *testing.T) {
	dumpLogsOnFailure(t)
	customers := sys.url(subscriptionsApp) + "/api/subscriptions/customers"
	body := func() any { return map[string]any{"name": uniq("keyed"), "plan": "payg"} }

	if s, b, err := call(anonymous, "POST", customers, body(), nil); err != nil || s != http.StatusUnauthorized {
		t.Fatalf("anonymous POST customers: %d %s %v, want 401", s, b, err)
	}
	if s, b, err := call(anonymous, "POST", customers, body(), map[string]string{"x-functions-key": "not-the-key"}); err != nil || s != http.StatusUnauthorized {
		t.Fatalf("POST customers with a wrong key: %d %s %v, want 401", s, b, err)
	}
	key := sys.functionKey(sys.apps[subscriptionsApp].addr)
	if s, b, err := call(anonymous, "POST", customers, body(), map[string]string{"x-functions-key": key}); err != nil || s != http.StatusCreated {
		t.Fatalf("POST customers with x-functions-key: %d %s %v, want 201", s, b, err)
	}
	if s, b, err := call(anonymous, "POST", customers+"?code="+url.QueryEscape(key), body(), nil); err != nil || s != http.StatusCreated {
		t.Fatalf("POST customers with ?code=: %d %s %v, want 201", s, b, err)
	}
	if s, b, err := call(anonymous, "GET", sys.url(subscriptionsApp)+"/api/subscriptions/plans", nil, nil); err != nil || s != http.StatusOK {
		t.Fatalf("anonymous GET plans: %d %s %v, want 200", s, b, err)
	}
}

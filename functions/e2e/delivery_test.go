package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"meterline/functions/cloudapi"
	cloudcontracts "meterline/functions/cloudapi/contracts"
	"meterline/functions/subscriptions"
	subcontracts "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

// access is the Cloud API's answer to key on an unmetered endpoint (0 on a transport error):
// 200 allowed, 401 unknown or revoked, 403 locked.
func access(apiKey string) int {
	s, _, _ := call(client, "GET", sys.url(cloudapiApp)+"/api/cloud/usage", nil, map[string]string{"Authorization": "Bearer " + apiKey})
	return s
}

func waitForAccess(t testing.TB, apiKey string, want int) {
	t.Helper()
	if _, ok := eventually(30*time.Second, 20*time.Millisecond, func() bool { return access(apiKey) == want }); !ok {
		t.Fatalf("GET /api/cloud/usage never answered %d (last %d)", want, access(apiKey))
	}
}

// observed is everything a consumer of the events shows about one customer.
type observed struct {
	Subscriptions money
	Cloud         cloudUsage
	Portal        me
	Access        [2]int // the kept user's key, the revoked one
}

func observe(t testing.TB, customer string, kept, revoked user, portal *portalSession) observed {
	t.Helper()
	return observed{
		Subscriptions: getCustomer(t, customer).money(),
		Cloud:         getCloudUsage(t, kept.APIKey),
		Portal:        portal.me(t),
		Access:        [2]int{access(kept.APIKey), access(revoked.APIKey)},
	}
}

// TestRedeliveredDuplicatedAndReorderedEventsChangeNothing: issue 5, "redelivered, duplicated and
// out-of-order events change nothing twice". A customer goes through usage, an overdraft lock and
// unlock, a user lock and unlock and a key revocation; then every event of its streams is
// published again, newest first (so a lock arrives after its unlock and a key's issue after its
// revocation), once with the original message ids and once with fresh ones that get past
// duplicate detection; the Cloud API's usage reports likewise. Every context must show exactly
// what it showed before.
func TestRedeliveredDuplicatedAndReorderedEventsChangeNothing(t *testing.T) {
	dumpLogsOnFailure(t)
	customer := createCustomer(t, "Replay KG")
	kept := createUser(t, customer, "a long enough password")
	revoked := createUser(t, customer, "")
	waitForStatus(t, kept.APIKey, http.StatusOK, 30*time.Second)
	waitForStatus(t, revoked.APIKey, http.StatusOK, 30*time.Second)
	units := int64(2)
	for _, h := range []int{5, 8} {
		mustForecast(t, kept.APIKey, h)
		units += int64(h)
	}
	if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool { return getCustomer(t, customer).Consumption.Units == units }); !ok {
		t.Fatalf("usage not billed: %+v, want %d units", getCustomer(t, customer).Consumption, units)
	}

	// Overdraft and back; a user locked and unlocked; a key revoked.
	charge(t, customer, paygCreditLimit+500)
	waitForAccess(t, kept.APIKey, http.StatusForbidden)
	pay(t, customer, 1_200)
	waitForAccess(t, kept.APIKey, http.StatusOK)
	base := sys.url(subscriptionsApp) + "/api/subscriptions/customers/" + customer + "/users/"
	mustCall(t, "POST", base+kept.UserID+"/lock", nil, http.StatusNoContent)
	waitForAccess(t, kept.APIKey, http.StatusForbidden)
	mustCall(t, "POST", base+kept.UserID+"/unlock", nil, http.StatusNoContent)
	waitForAccess(t, kept.APIKey, http.StatusOK)
	mustCall(t, "DELETE", base+revoked.UserID+"/keys/"+revoked.KeyID, nil, http.StatusNoContent)
	waitForAccess(t, revoked.APIKey, http.StatusUnauthorized)

	portal := newPortalSession()
	portal.signInEventually(t, kept)
	// Settled: Subscriptions' view is active again and the portal shows the same balance.
	var before observed
	if _, ok := eventually(15*reportPeriod, 100*time.Millisecond, func() bool {
		before = observe(t, customer, kept, revoked, portal)
		return before.Subscriptions.Status == "active" && before.Portal.Balance == before.Subscriptions.Balance &&
			before.Portal.Status == "active" && before.Cloud.Unreported.Units == 0
	}); !ok {
		t.Fatalf("the contexts never agreed before the replay: %+v", before)
	}
	if before.Subscriptions.Units != units || before.Access != [2]int{200, 401} {
		t.Fatalf("before the replay: %+v, want %d units and access [200 401]", before, units)
	}

	subEvents := readEvents(t, subscriptions.EventsTable, subscriptions.PayloadContainer,
		subcontracts.CustomerStream(customer), subcontracts.UserStream(kept.UserID), subcontracts.UserStream(revoked.UserID))
	usageEvents := readEvents(t, cloudapi.EventsTable, cloudapi.EventsContainer, cloudcontracts.UsageStream(customer))
	want := []string{subcontracts.TypeCustomerLocked, subcontracts.TypeCustomerUnlocked, subcontracts.TypeUserLocked,
		subcontracts.TypeUserUnlocked, subcontracts.TypeApiKeyRevoked, subcontracts.TypeConsumptionAdded}
	for _, typ := range want {
		if !slices.ContainsFunc(subEvents, func(e eventstore.Event) bool { return e.Type == typ }) {
			t.Fatalf("no %s among the customer's %d events: the scenario did not happen as planned", typ, len(subEvents))
		}
	}
	t.Logf("replaying %d Subscriptions events and %d usage reports", len(subEvents), len(usageEvents))

	bus := busClient(t)
	marks := map[string]int{}
	for _, app := range appNames {
		marks[app] = sys.apps[app].logs.mark()
	}
	slices.Reverse(subEvents)
	slices.Reverse(usageEvents)
	fresh := func(eventstore.Event) string { return eventstore.NewID() }
	var subIDs, usageIDs []string
	subIDs = append(subIDs, publish(t, bus, subcontracts.Topic, subEvents, nil)...) // dropped by duplicate detection
	subIDs = append(subIDs, publish(t, bus, subcontracts.Topic, subEvents, fresh)...)
	usageIDs = append(usageIDs, publish(t, bus, cloudcontracts.Source, usageEvents, nil)...)
	usageIDs = append(usageIDs, publish(t, bus, cloudcontracts.Source, usageEvents, fresh)...)
	took := max(waitDelivered(t, bus, subcontracts.Topic, subIDs), waitDelivered(t, bus, cloudcontracts.Source, usageIDs))
	t.Logf("replayed messages consumed by every subscriber in %v", took)
	if dl := deadLettered(t, bus, append(subIDs, usageIDs...)); len(dl) > 0 {
		t.Errorf("replayed events were dead-lettered: %+v", dl)
	}

	// The fresh ids reached the functions (they were not just dropped somewhere).
	for _, c := range []struct {
		app, function string
		atLeast       int
	}{
		{subscriptionsApp, "ApplyUsage", len(usageEvents)},
		{cloudapiApp, "ReplicateKeys", 1},
		{cloudapiApp, "ReplicateUserLocks", 1},
		{cloudapiApp, "ReplicateCustomerLocks", 1},
		{productApp, "ReplicateAccounts", 1},
		{productApp, "ReplicateUsers", 1},
		{productApp, "ReplicateUsage", len(usageEvents)},
	} {
		if n := sys.apps[c.app].logs.executions(marks[c.app], c.function, "Succeeded"); n < c.atLeast {
			t.Errorf("%s/%s ran %d times on the replay, want at least %d", c.app, c.function, n, c.atLeast)
		}
	}

	// Past the Cloud API's access cache and a report period, everything is as it was.
	time.Sleep(max(2*reportPeriod, time.Second))
	after := observe(t, customer, kept, revoked, portal)
	if after != before {
		t.Errorf("the replay changed what the contexts show:\nbefore %+v\nafter  %+v", before, after)
	}
}

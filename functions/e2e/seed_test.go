package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	cloudcontracts "meterline/functions/cloudapi/contracts"
	"meterline/shared/eventstore"
)

// seedBound is seed 000's replication requirement: "within 1-2 seconds".
const seedBound = 2 * time.Second

// TestNewUsersKeyIsAcceptedWithinTwoSeconds: seed 000, "if new user is added to the
// subscriptions, its auth credentials should be immediately (within 1-2 seconds) replicated to
// Cloud Services". Clock from the 201 of POST users to the Cloud API's first 200.
func TestNewUsersKeyIsAcceptedWithinTwoSeconds(t *testing.T) {
	dumpLogsOnFailure(t)
	customer := createCustomer(t, "Replication Ltd")
	var latencies, fromRequest []time.Duration
	for range 5 {
		sent := time.Now()
		u := createUser(t, customer, "")
		created := time.Now()
		// Before replication the key is unknown (401); the poll gives up far beyond the bound
		// so that a slow run reports its figure instead of just failing.
		waitForStatus(t, u.APIKey, http.StatusOK, 30*time.Second)
		latencies = append(latencies, time.Since(created))
		fromRequest = append(fromRequest, time.Since(sent))
	}
	slices.Sort(latencies)
	slices.Sort(fromRequest)
	t.Logf("201 of POST users -> key accepted: %v (max %v, bound %v)", latencies, latencies[len(latencies)-1], seedBound)
	t.Logf("POST users sent -> key accepted: %v", fromRequest)
	for _, d := range latencies {
		if d > seedBound {
			t.Errorf("a new user's key was accepted %v after the 201: over the seed's %v", d, seedBound)
		}
	}
	// An unknown key is refused, so the 200s above are the replicated keys at work.
	if s := status("ml_" + uniq("not-a-key")); s != http.StatusUnauthorized {
		t.Errorf("an unknown key: %d, want 401", s)
	}
}

// TestOverdraftLocksEveryUserOutAndPaymentUnlocks: seed 000, "if customer's account is locked
// out due to balance overdraft, then all related users should be locked out of the API"; issue 5
// asks for it within 2 s, and a payment that brings the balance back unlocks them as fast.
func TestOverdraftLocksEveryUserOutAndPaymentUnlocks(t *testing.T) {
	dumpLogsOnFailure(t)
	debtor := createCustomer(t, "Overdraft GmbH")
	other := createCustomer(t, "Bystander Sarl")
	var users []user
	for range 3 {
		users = append(users, createUser(t, debtor, ""))
	}
	bystander := createUser(t, other, "")
	for _, u := range append(slices.Clone(users), bystander) {
		waitForStatus(t, u.APIKey, http.StatusOK, 30*time.Second)
	}

	// Beyond the credit limit: balance -1,500 (plus the few units above) < -1,000.
	charge(t, debtor, paygCreditLimit+500)
	charged := time.Now()
	lockedAfter := waitAll(t, users, http.StatusForbidden, charged)
	t.Logf("overdraft charge accepted -> every user refused (403): %v (bound %v)", lockedAfter, seedBound)
	if lockedAfter > seedBound {
		t.Errorf("the users were locked out %v after the overdraft: over %v", lockedAfter, seedBound)
	}
	if s := status(bystander.APIKey); s != http.StatusOK {
		t.Errorf("another customer's user: %d while this customer is locked, want 200", s)
	}
	if v := getCustomer(t, debtor); v.Status != "locked" {
		t.Errorf("customer view after the overdraft: status %q, balance %d; want locked", v.Status, v.Balance)
	}

	// Back above the limit. Every 200 the polls above got while the lock was on its way is a
	// metered unit, and their usage report can land before or after the payment: pay well past
	// them (10,000 = 1,000 such polls), so the balance ends above the limit whatever the order.
	pay(t, debtor, paygCreditLimit+500+10_000)
	paid := time.Now()
	unlockedAfter := waitAll(t, users, http.StatusOK, paid)
	t.Logf("payment accepted -> every user served again (200): %v (bound %v)", unlockedAfter, seedBound)
	if unlockedAfter > seedBound {
		t.Errorf("the users were unlocked %v after the payment: over %v", unlockedAfter, seedBound)
	}
	if _, ok := eventually(10*time.Second, 50*time.Millisecond, func() bool { return getCustomer(t, debtor).Status == "active" }); !ok {
		t.Errorf("customer view after the payment: %+v, want active", getCustomer(t, debtor))
	}
}

// waitAll polls every user's key until each answers want, and returns the time from since to
// the last one.
func waitAll(t testing.TB, users []user, want int, since time.Time) time.Duration {
	t.Helper()
	pending := slices.Clone(users)
	deadline := since.Add(30 * time.Second)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d users still not answered %d after 30s (last: %d)", len(pending), len(users), want, status(pending[0].APIKey))
		}
		pending = slices.DeleteFunc(pending, func(u user) bool { return status(u.APIKey) == want })
		if len(pending) > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return time.Since(since)
}

// TestConsumptionReachesTheBalance: seed 000, "when services consumption is detected in the API,
// it should be within 5 minutes reported to subscriptions portal"; issue 5 asks for one report
// period (2 s here). Units and money are checked exactly; the delay is reported, not asserted
// (the poll gives up after 15 periods, far inside the seed's 5 minutes).
func TestConsumptionReachesTheBalance(t *testing.T) {
	dumpLogsOnFailure(t)
	customer := createCustomer(t, "Metered Oy")
	u := createUser(t, customer, "")
	waitForStatus(t, u.APIKey, http.StatusOK, 30*time.Second) // 1 unit: the one 200
	units := int64(1)
	for _, h := range []int{3, 5, 7} {
		mustForecast(t, u.APIKey, h)
		units += int64(h)
	}
	// A retried request with the same Idempotency-Key is answered again but metered once.
	for range 2 {
		if s, b, err := forecast(u.APIKey, 4, "retried-request-"+customer); err != nil || s != http.StatusOK {
			t.Fatalf("forecast with an Idempotency-Key: %d %s %v", s, b, err)
		}
	}
	units += 4

	var v customerView
	took, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool {
		v = getCustomer(t, customer)
		return v.Consumption.Units >= units
	})
	if !ok {
		t.Fatalf("consumption never reached the customer: %+v, want %d units", v.Consumption, units)
	}
	t.Logf("last metered call -> consumption in the customer's balance: %v (report period %v)", took, reportPeriod)
	want := money{Balance: -paygPrice * units, Units: units, Amount: paygPrice * units, CreditLimit: paygCreditLimit, Status: "active"}
	if got := v.money(); got != want {
		t.Errorf("customer after %d units: %+v, want %+v", units, got, want)
	}

	// A few more report periods: nothing is billed twice.
	time.Sleep(3 * reportPeriod)
	if got := getCustomer(t, customer).money(); got != want {
		t.Errorf("customer %v later: %+v, want %+v", 3*reportPeriod, got, want)
	}
	usage := getCloudUsage(t, u.APIKey)
	if usage.Reported.Units != units || usage.Unreported.Units != 0 || usage.Reported.Requests != 5 {
		t.Errorf("GET /api/cloud/usage: %+v, want %d units in 5 requests reported, none unreported", usage, units)
	}
}

// TestContextsWorkWhileSubscriptionsIsDown: seed 000, "if subscriptions are down for maintenance,
// Cloud Services and Product 1 should continue working as they were (all pending changes should
// be replicated after system comes back online)". The Subscriptions app (host and handler) is
// stopped; the Cloud API keeps serving and metering, the portal keeps signing in and showing its
// views; back up, Subscriptions applies every pending usage report exactly once.
func TestContextsWorkWhileSubscriptionsIsDown(t *testing.T) {
	dumpLogsOnFailure(t)
	subs := sys.apps[subscriptionsApp]
	t.Cleanup(func() { // the next tests need it, whatever happened here
		if !subs.running() {
			if err := subs.start(); err != nil {
				t.Errorf("restart %s: %v", subscriptionsApp, err)
			}
		}
	})
	customer := createCustomer(t, "Independent AB")
	u := createUser(t, customer, "correct horse battery staple")
	waitForStatus(t, u.APIKey, http.StatusOK, 30*time.Second)
	units := int64(1)
	// Everything metered so far is billed before the stop, so what follows is "pending".
	if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool { return getCustomer(t, customer).Consumption.Units == units }); !ok {
		t.Fatalf("the first unit never reached the customer: %+v", getCustomer(t, customer))
	}
	before := getCustomer(t, customer)
	portal := newPortalSession()
	portal.signInEventually(t, u)

	if err := subs.stop(); err != nil {
		t.Fatalf("stop %s: %v", subscriptionsApp, err)
	}
	stopped := time.Now()
	if _, _, err := call(client, "GET", sys.url(subscriptionsApp)+"/api/subscriptions/plans", nil, nil); err == nil {
		t.Fatalf("the Subscriptions app still answers after it was stopped")
	}

	// The Cloud API serves and meters.
	pending := int64(0)
	for _, h := range []int{2, 9, 4, 6} {
		mustForecast(t, u.APIKey, h)
		pending += int64(h)
	}
	units += pending
	// The reporter reports while nobody receives on Subscriptions' side.
	if _, ok := eventually(15*reportPeriod, 100*time.Millisecond, func() bool {
		return getCloudUsage(t, u.APIKey).Reported.Units == units
	}); !ok {
		t.Fatalf("the Cloud API did not report its usage while Subscriptions was down: %+v", getCloudUsage(t, u.APIKey))
	}
	// ... and the report waits in Subscriptions' subscription.
	waiting := 0
	for _, m := range peek(t, busClient(t), cloudcontracts.Source, usageInbox, "", 0) {
		if e, err := eventstore.UnmarshalEnvelope(m.Body); err == nil && e.Stream == cloudcontracts.UsageStream(customer) {
			waiting++
		}
	}
	if waiting == 0 {
		t.Fatalf("no usage report of the customer waits in topic cloudapi, subscription %s", usageInbox)
	}

	// The portal signs in (a new session, from its own replica) and shows the account.
	fresh := newPortalSession()
	if s, b, err := fresh.signIn(u.Email, u.Password); err != nil || s != http.StatusOK {
		t.Fatalf("sign-in while Subscriptions is down: %d %s %v", s, b, err)
	}
	if s, _, _ := fresh.signIn(u.Email, "wrong password"); s != http.StatusUnauthorized {
		t.Errorf("a wrong password while Subscriptions is down: %d, want 401", s)
	}
	for _, p := range []*portalSession{portal, fresh} {
		m := p.me(t)
		if m.CustomerID != customer || m.UserID != u.UserID || m.Email != u.Email || m.Balance != before.Balance || m.Status != "active" {
			t.Errorf("GET /api/product/me while Subscriptions is down: %+v; want customer %s, user %s, balance %d", m, customer, u.UserID, before.Balance)
		}
	}
	// The portal's usage follows the Cloud API's reports, not Subscriptions.
	if _, ok := eventually(10*time.Second, 100*time.Millisecond, func() bool { return fresh.me(t).Usage.Reported == units }); !ok {
		t.Errorf("the portal's usage while Subscriptions is down: %+v, want %d units reported", fresh.me(t).Usage, units)
	}
	if s := status(u.APIKey); s != http.StatusOK {
		t.Errorf("the Cloud API after %v without Subscriptions: %d", time.Since(stopped), s)
	}
	units++ // that call

	// Back online: the backlog is applied, once.
	downFor := time.Since(stopped)
	if err := subs.start(); err != nil {
		t.Fatalf("restart %s: %v", subscriptionsApp, err)
	}
	restarted := time.Now()
	var v customerView
	took, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool {
		v = getCustomer(t, customer)
		return v.Consumption.Units >= units
	})
	if !ok {
		t.Fatalf("pending usage never applied after the restart: %+v, want %d units", v.Consumption, units)
	}
	t.Logf("Subscriptions down %v; restarted -> %d pending units applied in %v", downFor.Round(time.Millisecond), units-before.Consumption.Units, took)
	want := money{Balance: -paygPrice * units, Units: units, Amount: paygPrice * units, CreditLimit: paygCreditLimit, Status: "active"}
	if got := v.money(); got != want {
		t.Errorf("customer after the restart: %+v, want %+v", got, want)
	}
	time.Sleep(3 * reportPeriod)
	if got := getCustomer(t, customer).money(); got != want {
		t.Errorf("customer %v after the restart: %+v, want %+v (applied twice?)", time.Since(restarted).Round(time.Second), got, want)
	}
	// And the portal catches up with the balance Subscriptions now publishes.
	if _, ok := eventually(10*time.Second, 100*time.Millisecond, func() bool { return fresh.me(t).Balance == want.Balance }); !ok {
		t.Errorf("the portal's balance after the restart: %d, want %d", fresh.me(t).Balance, want.Balance)
	}
}

// TestConsumersCatchUpAfterDowntime: the other side of seed 000's independence. The Cloud API and
// the Product portal are stopped; Subscriptions keeps taking users, charges and payments; back
// up, both replicate everything they missed: the new user's key and password, the customer's
// lock, and the usage metered just before the stop is billed exactly once.
func TestConsumersCatchUpAfterDowntime(t *testing.T) {
	dumpLogsOnFailure(t)
	consumers := []*appHost{sys.apps[cloudapiApp], sys.apps[productApp]}
	t.Cleanup(func() {
		for _, a := range consumers {
			if !a.running() {
				if err := a.start(); err != nil {
					t.Errorf("restart %s: %v", a.name, err)
				}
			}
		}
	})
	customer := createCustomer(t, "Patient Ltd")
	old := createUser(t, customer, "first user's password")
	waitForStatus(t, old.APIKey, http.StatusOK, 30*time.Second)
	units := int64(1)
	mustForecast(t, old.APIKey, 6) // metered just before the stop: maybe not reported yet
	units += 6
	t.Logf("at the stop: %+v", getCloudUsage(t, old.APIKey))
	for _, a := range consumers {
		if err := a.stop(); err != nil {
			t.Fatalf("stop %s: %v", a.name, err)
		}
	}
	stopped := time.Now()

	// Subscriptions does its part alone.
	fresh := createUser(t, customer, "second user's password")
	charge(t, customer, paygCreditLimit+500)
	if _, ok := eventually(10*time.Second, 50*time.Millisecond, func() bool { return getCustomer(t, customer).Status == "locked" }); !ok {
		t.Fatalf("Subscriptions did not lock the customer on its own: %+v", getCustomer(t, customer))
	}

	for _, a := range consumers {
		if err := a.start(); err != nil {
			t.Fatalf("restart %s: %v", a.name, err)
		}
	}
	restarted := time.Now()
	t.Logf("Cloud API and portal down %v", restarted.Sub(stopped).Round(time.Millisecond))
	// The new key is known and both keys are refused for the lock (403, not 401).
	for _, u := range []user{fresh, old} {
		if _, ok := eventually(30*time.Second, 20*time.Millisecond, func() bool { return access(u.APIKey) == http.StatusForbidden }); !ok {
			t.Fatalf("after the restart, user %s: %d, want 403 (known key, customer locked)", u.UserID, access(u.APIKey))
		}
	}
	t.Logf("restart -> Cloud API caught up (new key known, lock applied): %v", time.Since(restarted))
	portal := newPortalSession()
	portal.signInEventually(t, fresh)
	if m := portal.me(t); m.Status != "locked" || m.CustomerID != customer {
		t.Errorf("the portal after the restart: %+v, want the customer locked", m)
	}

	// The usage metered before the stop is billed once, whoever reported it when.
	var v customerView
	if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool {
		v = getCustomer(t, customer)
		return v.Consumption.Units >= units
	}); !ok {
		t.Fatalf("the usage metered before the stop was never billed: %+v, want %d units", v.Consumption, units)
	}
	time.Sleep(2 * reportPeriod)
	if got := getCustomer(t, customer); got.Consumption.Units != units || got.Consumption.Amount != paygPrice*units {
		t.Errorf("consumption after the restart: %+v, want %d units, %d", got.Consumption, units, paygPrice*units)
	}
	pay(t, customer, 1_200)
	waitAll(t, []user{old, fresh}, http.StatusOK, time.Now())
}

package e2e

import (
	"context"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	cloudcontracts "meterline/functions/cloudapi/contracts"
	subcontracts "meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
)

// TestPoisonMessageEndsInTheAppsDeadLetterQueue: issue 4, "a poison message that ends in the
// dead-letter queue with nothing else affected". A body that is no event envelope, with a type
// every subscriber handles, is sent to each topic: every receiving app puts it, with a reason,
// in its own dead-letter queue at once (no retries), and the system goes on as before.
func TestPoisonMessageEndsInTheAppsDeadLetterQueue(t *testing.T) {
	dumpLogsOnFailure(t)
	customer := createCustomer(t, "Poison Pill plc")
	u := createUser(t, customer, "")
	waitForStatus(t, u.APIKey, http.StatusOK, 30*time.Second)
	// The 200 that waitForStatus got was metered: wait until its unit is billed, or its usage
	// report could land after "before" and look like the poison changed the customer (the
	// rare failure on a loaded machine, where the dead-lettering below outlasts a report period).
	if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool { return getCustomer(t, customer).Consumption.Units == 1 }); !ok {
		t.Fatalf("the first forecast was never billed: %+v", getCustomer(t, customer).Consumption)
	}
	before := getCustomer(t, customer).money()

	bus := busClient(t)
	poison := map[string]struct {
		typ  string
		body string
	}{
		subcontracts.Topic:    {subcontracts.TypeUserCreated, `{"this is": "not an event envelope"`},
		cloudcontracts.Source: {cloudcontracts.UsageReportedType, "\x00\x01 garbage"},
	}
	for topic, p := range poison {
		sender, err := bus.NewSender(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := eventstore.NewID()
		err = sender.SendMessage(context.Background(), &azservicebus.Message{
			MessageID: &id, Body: []byte(p.body), ApplicationProperties: map[string]any{"type": p.typ},
		}, nil)
		sender.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		took := waitDelivered(t, bus, topic, []string{id})
		dl := deadLettered(t, bus, []string{id})
		t.Logf("poison %s on topic %s: consumed in %v, dead-lettered by %d apps", p.typ, topic, took, len(dl))
		// Every function whose subscription takes the type got the message and dead-lettered
		// it, each into its own app's queue; no other function saw it.
		receivers := receiversOf(t, topic, p.typ)
		if len(receivers) == 0 {
			t.Fatalf("no subscription on %s takes %s: the test sends the wrong type", topic, p.typ)
		}
		byApp := map[string][]string{}
		for _, r := range receivers {
			byApp[r.App] = append(byApp[r.App], r.Function)
		}
		for app, functions := range byApp {
			got := dl[app]
			if len(got) != len(functions) {
				t.Errorf("%s-deadletters holds %d copies of the poison message from topic %s, want %d (from %v)", app, len(got), topic, len(functions), functions)
				continue
			}
			for _, d := range got {
				if d.Reason == "" || d.App != app || !slices.Contains(functions, d.Function) || string(d.Body) != p.body || d.DeliveryCount != 1 {
					t.Errorf("%s dead-letter entry: reason %q, app %q, function %s, body %q, delivery %d; want a reason, the app, one of %v, the original body, first delivery",
						app, d.Reason, d.App, d.Function, d.Body, d.DeliveryCount, functions)
				}
				t.Logf("  %s: reason %q (%s), function %s", app, d.Reason, d.Error, d.Function)
			}
		}
		for app := range dl {
			if byApp[app] == nil {
				t.Errorf("%s dead-lettered a message none of its subscriptions takes", app)
			}
		}
	}

	// Nothing else is affected: the customer is as it was, and new work flows.
	if got := getCustomer(t, customer).money(); got != before {
		t.Errorf("customer after the poison messages: %+v, want %+v", got, before)
	}
	if s := status(u.APIKey); s != http.StatusOK {
		t.Errorf("the user's key after the poison messages: %d", s)
	}
	next := createUser(t, customer, "")
	waitForStatus(t, next.APIKey, http.StatusOK, 30*time.Second)
	if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool { return getCustomer(t, customer).Consumption.Units == 3 }); !ok {
		t.Errorf("usage after the poison messages: %+v, want 3 units", getCustomer(t, customer).Consumption)
	}
}

// TestHandlerCrashMidInvocationIsRedeliveredAndAppliedOnce: issue 4, "a handler crash
// mid-invocation whose message is redelivered and processed once". The Subscriptions handler is
// frozen (SIGSTOP) so that the usage report's invocation is held open, and killed (SIGKILL) once
// the host has the message locked for it; the host restarts the handler, the message comes back,
// and the consumption is billed exactly once.
func TestHandlerCrashMidInvocationIsRedeliveredAndAppliedOnce(t *testing.T) {
	dumpLogsOnFailure(t)
	subs := sys.apps[subscriptionsApp]
	customer := createCustomer(t, "Crash Test Dummies Inc")
	u := createUser(t, customer, "")
	waitForStatus(t, u.APIKey, http.StatusOK, 30*time.Second)
	units := int64(1)
	if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool { return getCustomer(t, customer).Consumption.Units == units }); !ok {
		t.Fatalf("the first unit never reached the customer")
	}

	pid := subs.handlerPID()
	if pid == 0 {
		t.Fatal("no Subscriptions handler pid in the host's log")
	}
	mark := subs.logs.mark()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) }) // if the test ends before the kill
	for _, h := range []int{7, 11} {
		mustForecast(t, u.APIKey, h)
		units += int64(h)
	}

	// The report is published and the host has it locked, waiting on the frozen handler.
	bus := busClient(t)
	stream := cloudcontracts.UsageStream(customer)
	var held *azservicebus.ReceivedMessage
	if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool {
		for _, m := range peek(t, bus, cloudcontracts.Source, usageInbox, "", 0) {
			if e, err := eventstore.UnmarshalEnvelope(m.Body); err == nil && e.Stream == stream && m.LockedUntil != nil && m.LockedUntil.After(time.Now()) {
				held = m
				return true
			}
		}
		return false
	}); !ok {
		t.Fatalf("the usage report never got locked by the Subscriptions host")
	}
	// The host logs the invocation just after it locks the message.
	if _, ok := eventually(10*time.Second, 10*time.Millisecond, func() bool {
		return len(subs.logs.since(mark, func(l logLine) bool { return strings.HasPrefix(l.msg, "Executing 'Functions.ApplyUsage'") })) > 0
	}); !ok {
		t.Fatalf("the host holds the report but logged no ApplyUsage invocation")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	var v customerView
	took, ok := eventually(30*time.Second, 50*time.Millisecond, func() bool {
		s, b, err := call(client, "GET", sys.url(subscriptionsApp)+"/api/subscriptions/customers/"+customer, nil, nil)
		if err != nil || s != http.StatusOK {
			return false
		}
		v = decode[customerView](t, b)
		return v.Consumption.Units >= units
	})
	if !ok {
		t.Fatalf("the report was not applied after the crash: %+v, want %d units", v.Consumption, units)
	}
	newPID := subs.handlerPID()
	t.Logf("handler %d killed mid-invocation (message %s, delivery %d); handler %d applied it %v later",
		pid, held.MessageID, held.DeliveryCount, newPID, took)
	if newPID == pid {
		t.Errorf("the host did not restart the handler (pid still %d)", pid)
	}
	if n := subs.logs.executions(mark, "ApplyUsage", "Failed"); n == 0 {
		t.Errorf("no failed ApplyUsage invocation logged: the crash did not hit the invocation")
	}
	want := money{Balance: -paygPrice * units, Units: units, Amount: paygPrice * units, CreditLimit: paygCreditLimit, Status: "active"}
	if got := v.money(); got != want {
		t.Errorf("customer after the crash: %+v, want %+v", got, want)
	}
	time.Sleep(3 * reportPeriod)
	if got := getCustomer(t, customer).money(); got != want {
		t.Errorf("customer %v after the crash: %+v, want %+v (applied twice?)", time.Since(killed).Round(time.Second), got, want)
	}
}

// TestHandlerKilledDuringABurstAppliesEveryReportOnce: the crash above hits an invocation before
// the handler did anything; this one kills the Subscriptions handler (SIGKILL) as soon as the host
// starts applying a burst of usage reports for several customers, so that invocations die at
// whatever point they reached (events appended or not, views updated or not). Every customer
// must end up billed exactly once for its usage.
func TestHandlerKilledDuringABurstAppliesEveryReportOnce(t *testing.T) {
	dumpLogsOnFailure(t)
	subs := sys.apps[subscriptionsApp]
	type account struct {
		customer string
		key      string
		units    int64
	}
	accounts := make([]account, 6)
	for i := range accounts {
		c := createCustomer(t, "Burst "+string(rune('A'+i)))
		u := createUser(t, c, "")
		accounts[i] = account{customer: c, key: u.APIKey, units: 0}
	}
	for i := range accounts {
		waitForStatus(t, accounts[i].key, http.StatusOK, 30*time.Second)
		accounts[i].units = 1
	}
	for _, a := range accounts {
		if _, ok := eventually(15*reportPeriod, 50*time.Millisecond, func() bool { return getCustomer(t, a.customer).Consumption.Units == 1 }); !ok {
			t.Fatalf("the first unit of %s never reached it", a.customer)
		}
	}

	pid := subs.handlerPID()
	mark := subs.logs.mark()
	for i := range accounts {
		h := 3 + 4*i
		mustForecast(t, accounts[i].key, h)
		accounts[i].units += int64(h)
	}
	// Kill on the first ApplyUsage of the burst, while the others are being received and run.
	if _, ok := eventually(15*reportPeriod, time.Millisecond, func() bool {
		return len(subs.logs.since(mark, func(l logLine) bool { return strings.HasPrefix(l.msg, "Executing 'Functions.ApplyUsage'") })) > 0
	}); !ok {
		t.Fatal("no ApplyUsage invocation for the burst")
	}
	// A random few milliseconds in: the invocation is somewhere in its storage round trips.
	delay := time.Duration(mathrand.IntN(20)) * time.Millisecond
	time.Sleep(delay)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()

	for _, a := range accounts {
		var v customerView
		if _, ok := eventually(30*time.Second, 50*time.Millisecond, func() bool {
			s, b, err := call(client, "GET", sys.url(subscriptionsApp)+"/api/subscriptions/customers/"+a.customer, nil, nil)
			if err != nil || s != http.StatusOK {
				return false
			}
			v = decode[customerView](t, b)
			return v.Consumption.Units >= a.units
		}); !ok {
			t.Fatalf("%s never billed after the crash: %+v, want %d units", a.customer, v.Consumption, a.units)
		}
	}
	t.Logf("handler %d killed %v into the burst: %d ApplyUsage invocations failed; all applied %v after the kill",
		pid, delay, subs.logs.executions(mark, "ApplyUsage", "Failed"), time.Since(killed).Round(time.Millisecond))
	time.Sleep(2 * reportPeriod)
	for _, a := range accounts {
		want := money{Balance: -paygPrice * a.units, Units: a.units, Amount: paygPrice * a.units, CreditLimit: paygCreditLimit, Status: "active"}
		if got := getCustomer(t, a.customer).money(); got != want {
			t.Errorf("%s after the crash: %+v, want %+v", a.customer, got, want)
		}
	}
}

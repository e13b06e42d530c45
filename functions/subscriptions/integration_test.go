package subscriptions_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
	evtables "meterline/shared/eventstore/tablestore"
	"meterline/shared/views"
	viewtables "meterline/shared/views/tablestore"
)

func timerInvocation() string {
	return `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"IsPastDue":false}},"Metadata":{}}`
}

func envelopeInvocation(t *testing.T, e eventstore.Event) string {
	t.Helper()
	body, err := eventstore.MarshalEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	return invocation(body, e.ID)
}

func expectHandled(t *testing.T, res response) {
	t.Helper()
	if res.status != 200 {
		t.Fatalf("invocation failed: %d %s", res.status, res.raw)
	}
	if out, _ := res.body["Outputs"].(map[string]any); out["deadLetter"] != nil {
		t.Fatalf("dead-lettered: %s", res.raw)
	}
}

// The whole context on Azurite (event store and views in Table Storage), driven through the
// custom-handler surface the Functions host talks to: HTTP, Service Bus and timer invocations.
func TestSubscriptionsOnAzurite(t *testing.T) {
	ctx := context.Background()
	az := azuritetest.Start(t)
	store, err := evtables.NewFromConnectionString(ctx, az.ConnectionString(), &evtables.Options{Table: "subscriptionsEvents"})
	if err != nil {
		t.Fatal(err)
	}
	service, err := aztables.NewServiceClientFromConnectionString(az.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	viewStore := func(table string) views.Backend {
		b, err := viewtables.New(ctx, service, table)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hs := newHarnessOn(t, store, viewStore("subscriptionsViews"))

	// A customer, created twice under one Idempotency-Key.
	body := `{"name":"Acme","plan":"payg","creditLimit":100}`
	a := hs.do("POST", "/api/subscriptions/customers", body, "Idempotency-Key", "acme-1")
	b := hs.do("POST", "/api/subscriptions/customers", body, "Idempotency-Key", "acme-1")
	hs.expect(a, 201, "")
	if b.status != 201 || b.body["customerId"] != a.body["customerId"] {
		t.Fatalf("retry made another customer: %s / %s", a.raw, b.raw)
	}
	id := a.body["customerId"].(string)
	base := "/api/subscriptions/customers/" + id

	// A user; its email is taken afterwards.
	u := hs.do("POST", base+"/users", `{"email":"ann@example.com","password":"correct horse battery"}`)
	hs.expect(u, 201, "")
	hs.expect(hs.do("POST", base+"/users", `{"email":"ANN@example.com"}`), 409, "email_taken")

	// Usage: the same report three times, then an overdraft by a second report.
	r1, m1 := usageEnvelope(t, id, "r1", 7)
	for range 3 {
		expectHandled(t, hs.do("POST", "/ApplyUsage", invocation(r1, m1)))
	}
	r2, m2 := usageEnvelope(t, id, "r2", 5)
	expectHandled(t, hs.do("POST", "/ApplyUsage", invocation(r2, m2)))
	res := hs.do("GET", base, "")
	if res.body["balance"] != -120.0 || res.body["status"] != "locked" {
		t.Fatalf("after usage: %s", res.raw)
	}
	hs.expect(hs.do("POST", base+"/payments", `{"paymentId":"p1","amount":20}`), 202, "")
	if res := hs.do("GET", base, ""); res.body["balance"] != -100.0 || res.body["status"] != "active" {
		t.Fatalf("after payment: %s", res.raw)
	}

	// Month end: invoice November (twice: once only), then the reminder period passes.
	hs.now = time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC)
	for range 2 {
		expectHandled(t, hs.do("POST", "/MonthlyInvoicing", timerInvocation()))
	}
	if n := hs.pub.count(contracts.TypeInvoiceIssued); n != 1 {
		t.Fatalf("%d InvoiceIssued", n)
	}
	hs.now = hs.now.Add(16 * 24 * time.Hour)
	for range 2 {
		expectHandled(t, hs.do("POST", "/InvoiceExpiryTracker", timerInvocation()))
	}
	tracker, err := store.Read(ctx, contracts.InvoiceTrackerStream, 1)
	if err != nil || len(tracker) != 1 || tracker[0].Type != contracts.TypeInvoicePossiblyExpired {
		t.Fatalf("invoice-tracker stream: %v %v", tracker, err)
	}
	// The topic brings it to the ExpireInvoices receptor, twice (a redelivery).
	for range 2 {
		expectHandled(t, hs.do("POST", "/ExpireInvoices", envelopeInvocation(t, tracker[0])))
	}
	res = hs.do("GET", base, "")
	invoices, _ := res.body["invoices"].([]any)
	if len(invoices) != 1 || invoices[0].(map[string]any)["status"] != "expired" || invoices[0].(map[string]any)["amount"] != 120.0 {
		t.Fatalf("invoices: %s", res.raw)
	}
	if n := hs.pub.count(contracts.TypeInvoiceExpired); n != 1 {
		t.Fatalf("%d InvoiceExpired", n)
	}

	// Everything was published right after its append: the sweep finds nothing.
	if pending, err := store.Pending(ctx, 0); err != nil || len(pending) != 0 {
		t.Fatalf("pending after publication: %d, %v", len(pending), err)
	}
	expectHandled(t, hs.do("POST", "/SubscriptionsOutboxSweep", timerInvocation()))

	// A second app on fresh view tables, its projections fed every published event backwards
	// and twice (a rebuild), builds the same customer view; its receptor, fed them too, does
	// nothing again.
	want := hs.do("GET", base, "")
	replay := newHarnessOn(t, store, viewStore("subscriptionsReplay"))
	events := hs.pub.events
	for i := len(events) - 1; i >= 0; i-- {
		for range 2 {
			if err := replay.app.Project(ctx, events[i:i+1]); err != nil {
				t.Fatal(err)
			}
			expectHandled(t, replay.do("POST", "/ExpireInvoices", envelopeInvocation(t, events[i])))
		}
	}
	got := replay.do("GET", base, "")
	if !reflect.DeepEqual(got.body, want.body) {
		w, _ := json.Marshal(want.body)
		g, _ := json.Marshal(got.body)
		t.Fatalf("replayed view differs\n got %s\nwant %s", g, w)
	}
	// ... and changed nothing in the store: the invoice was already expired.
	if n := replay.pub.count(contracts.TypeInvoiceExpired); n != 0 {
		t.Fatalf("replay expired the invoice again (%d events)", n)
	}
}

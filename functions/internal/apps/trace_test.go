package apps_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/crypto/bcrypt"

	"meterline/functions/cloudapi"
	"meterline/functions/subscriptions"
	subcontracts "meterline/functions/subscriptions/contracts"
	emulator "meterline/infra/servicebus-emulator"
	"meterline/shared/servicebus"
)

// One trace follows a flow across contexts: a Subscriptions POST that creates a user, its
// command and append, the publication of ApiKeyIssued over Service Bus (the real SDK and the
// emulator), and the Cloud API projection that replicates the key, which continues the trace
// from the message's traceparent as its invocation arrives from the host.
func TestOneTraceFromASubscriptionsPostToTheCloudAPIsReplica(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	ctx := context.Background()
	bus := emulator.ForTest(t, nil) // the shipped topology
	client, err := azservicebus.NewClientFromConnectionString(bus.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(ctx) })
	pub, err := servicebus.NewPublisher(client, subcontracts.Topic)
	if err != nil {
		t.Fatal(err)
	}
	deps := subscriptions.InMemoryDeps()
	deps.Publisher, deps.PasswordCost = pub, bcrypt.MinCost
	subs := httptest.NewServer(subscriptions.New(deps).Handler())
	t.Cleanup(subs.Close)
	cloudDeps := cloudapi.InMemoryDeps()
	cloud := httptest.NewServer(cloudapi.New(cloudDeps).Handler())
	t.Cleanup(cloud.Close)

	post := func(path, body string) map[string]string {
		t.Helper()
		resp, err := http.Post(subs.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
		}
		return out
	}
	customer := post("/api/subscriptions/customers", `{"name":"Acme","plan":"payg"}`)["customerId"]
	recorder.Reset() // the trace of interest starts with the user's creation
	user := post("/api/subscriptions/customers/"+customer+"/users", `{"email":"ann@example.com","password":"correct horse battery"}`)

	// What the Functions host would deliver to the Cloud API: the message as the broker has it.
	receiver, err := client.NewReceiverForSubscription(subcontracts.Topic, "cloudapi-replicate-keys", nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msgs, err := receiver.ReceiveMessages(rctx, 1, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("no ApiKeyIssued on the Cloud API's subscription: %v", err)
	}
	m := msgs[0]
	props := map[string]any{}
	for k, v := range m.ApplicationProperties {
		props[k] = v
	}
	props["createdAt"], props["cloudEvents:time"] = nil, nil // times are not JSON-friendly here; not read
	invocation, _ := json.Marshal(map[string]any{
		"Data":     map[string]any{"message": base64.StdEncoding.EncodeToString(m.Body)},
		"Metadata": map[string]any{"MessageId": `"` + m.MessageID + `"`, "DeliveryCount": "1", "ApplicationProperties": props},
	})
	resp, err := http.Post(cloud.URL+"/ReplicateKeys", "application/json", bytes.NewReader(invocation))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ReplicateKeys: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if err := receiver.CompleteMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	// The replica has the key: the flow really reached the Cloud API's view.
	if k, ok, err := cloudDeps.Access.Keys.Get(ctx, user["keyId"]); err != nil || !ok || k.KeyHash == "" {
		t.Fatalf("the Cloud API's replica has no key %s: %v %v", user["keyId"], ok, err)
	}

	spans := recorder.Ended()
	trace := spans[0].SpanContext().TraceID()
	names := map[string]bool{}
	for _, s := range spans {
		if s.SpanContext().TraceID() != trace {
			t.Errorf("span %q is in trace %s, not %s", s.Name(), s.SpanContext().TraceID(), trace)
		}
		names[s.Name()] = true
	}
	for _, want := range []string{
		"POST subscriptions/customers/{customerId}/users", "command subscriptions", "publish subscriptions",
		"servicebus ReplicateKeys", "projection ReplicateKeys",
	} {
		if !names[want] {
			t.Errorf("no span %q in the trace; spans: %v", want, names)
		}
	}
	var appended bool
	for name := range names {
		appended = appended || strings.HasPrefix(name, "append user-")
	}
	if !appended {
		t.Errorf("no append span in the trace; spans: %v", names)
	}
}

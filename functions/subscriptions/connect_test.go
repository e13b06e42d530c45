package subscriptions_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"meterline/functions/subscriptions"
	"meterline/functions/subscriptions/contracts"
	emulator "meterline/infra/servicebus-emulator"
	"meterline/shared/eventstore"
)

func TestConnectNeedsBothConnections(t *testing.T) {
	_, err := subscriptions.Connect(context.Background(), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "AzureWebJobsStorage") || !strings.Contains(err.Error(), "ServiceBusConnection") {
		t.Fatalf("Connect without settings: %v", err)
	}
}

// Connected to Azurite and the Service Bus emulator from app settings, the app publishes its
// events to topic "subscriptions", where the other contexts' subscriptions receive them, and
// bills a usage report received from topic "cloudapi".
func TestConnectedAppPublishesToItsTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	az := azuritetest.Start(t)
	sb := emulator.ForTest(t, nil)
	settings := map[string]string{"AzureWebJobsStorage": az.ConnectionString(), "ServiceBusConnection": sb.ConnectionString()}
	deps, err := subscriptions.Connect(ctx, func(n string) string { return settings[n] })
	if err != nil {
		t.Fatal(err)
	}
	deps.Logger = quiet
	hs := &harness{t: t, h: subscriptions.New(deps).Handler(), store: deps.Store}
	id := hs.createCustomer(`{"name":"Acme","plan":"payg"}`)

	client, err := azservicebus.NewClientFromConnectionString(sb.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	receiver, err := client.NewReceiverForSubscription(contracts.Topic, "cloudapi-replicate-customer-locks", nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := receiver.ReceiveMessages(ctx, 1, nil)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %d messages, %v", len(msgs), err)
	}
	m := msgs[0]
	e, err := eventstore.UnmarshalEnvelope(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != contracts.TypeCustomerCreated || e.Stream != contracts.CustomerStream(id) || m.MessageID != e.ID || m.ApplicationProperties["type"] != contracts.TypeCustomerCreated {
		t.Fatalf("message %s type %v: envelope %+v", m.MessageID, m.ApplicationProperties["type"], e)
	}
	if err := receiver.CompleteMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}

	// Usage from the Cloud API's topic, as the Functions host would deliver it.
	sender, err := client.NewSender("cloudapi", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, msgID := usageEnvelope(t, id, "r1", 3)
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: body, MessageID: &msgID,
		ApplicationProperties: map[string]any{"type": "cloudapi.UsageReported"}}, nil); err != nil {
		t.Fatal(err)
	}
	usage, err := client.NewReceiverForSubscription("cloudapi", "subscriptions-apply-usage", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := usage.ReceiveMessages(ctx, 1, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("receive usage: %d, %v", len(got), err)
	}
	expectHandled(t, hs.do("POST", "/ApplyUsage", invocation(got[0].Body, got[0].MessageID)))
	if res := hs.do("GET", "/api/subscriptions/customers/"+id, ""); res.body["balance"] != -30.0 {
		t.Fatalf("after usage: %s", res.raw)
	}
}

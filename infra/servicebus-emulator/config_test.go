package emulator

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

func subReceiver(t testing.TB, c *azservicebus.Client, topic, sub string, opt *azservicebus.ReceiverOptions) *azservicebus.Receiver {
	t.Helper()
	r, err := c.NewReceiverForSubscription(topic, sub, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// The shipped config routes each event type only to the contexts that handle it.
func TestShippedConfigRoutesByEventType(t *testing.T) {
	srv := ForTest(t, nil)
	client := newClient(t, srv)
	ctx := ctxT(t, 20*time.Second)
	sender := mustSender(t, client, "subscriptions")
	send(t, ctx, sender,
		&azservicebus.Message{Body: []byte("key"), ApplicationProperties: map[string]any{"type": "subscriptions.ApiKeyIssued"}},
		&azservicebus.Message{Body: []byte("password"), ApplicationProperties: map[string]any{"type": "subscriptions.UserPasswordSet"}},
		&azservicebus.Message{Body: []byte("internal"), ApplicationProperties: map[string]any{"type": "subscriptions.InvoicePossiblyExpired"}},
	)
	// The shipped config is generated from the contexts' registrations (make topology): each
	// function's subscription takes the types it handles and no other.
	want := map[string][]string{
		"cloudapi-replicate-keys":       {"key"},
		"product-replicate-users":       {"password"},
		"subscriptions-expire-invoices": {"internal"},
		"cloudapi-replicate-user-locks": nil,
		"product-replicate-accounts":    nil,
	}
	for sub, w := range want {
		r := subReceiver(t, client, "subscriptions", sub, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
		if got := bodies(receiveN(t, ctx, r, len(w))); len(w) > 0 && !slices.Equal(got, w) {
			t.Fatalf("%s got %v, want %v", sub, got, w)
		}
		peeked, err := r.PeekMessages(ctx, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(peeked) != 0 {
			t.Fatalf("%s: %d unexpected messages left", sub, len(peeked))
		}
	}
	for _, q := range []string{"subscriptions-deadletters", "cloudapi-deadletters", "product-deadletters"} {
		send(t, ctx, mustSender(t, client, q), &azservicebus.Message{Body: []byte("poison")})
	}
}

const filterConfig = `{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns","Queues":[],"Topics":[{"Name":"events",
 "Properties":{"RequiresDuplicateDetection":true,"DuplicateDetectionHistoryTimeWindow":"PT5S"},
 "Subscriptions":[
  {"Name":"all"},
  {"Name":"billing","Rules":[{"Name":"r","Properties":{"FilterType":"Sql","SqlFilter":{"SqlExpression":"type IN ('InvoiceIssued','InvoicePaid') AND amount > 10"},
     "Action":{"SqlExpression":"SET routed = 'billing'"}}}]},
  {"Name":"by-label","Rules":[{"Name":"r","Properties":{"FilterType":"Correlation","CorrelationFilter":{"Label":"urgent","Properties":{"region":"eu"}}}}]},
  {"Name":"sys","Rules":[{"Name":"r","Properties":{"FilterType":"Sql","SqlFilter":{"SqlExpression":"sys.MessageId LIKE 'x-%' OR user.missing IS NOT NULL"}}}]}
 ]}]}],"Logging":{"Type":"Console"}}}`

func TestConfigRulesFilterAndAction(t *testing.T) {
	cfg := mustParse(t, filterConfig)
	srv := ForTest(t, cfg)
	client := newClient(t, srv)
	ctx := ctxT(t, 20*time.Second)
	s := mustSender(t, client, "events")
	urgent := "urgent"
	ids := []string{"x-1", "2", "3", "4"}
	send(t, ctx, s,
		&azservicebus.Message{MessageID: &ids[0], Body: []byte("paid"), ApplicationProperties: map[string]any{"type": "InvoicePaid", "amount": int64(50)}},
		&azservicebus.Message{MessageID: &ids[1], Body: []byte("small"), ApplicationProperties: map[string]any{"type": "InvoicePaid", "amount": 5.0}},
		&azservicebus.Message{MessageID: &ids[2], Body: []byte("urgent-eu"), Subject: &urgent, ApplicationProperties: map[string]any{"region": "eu"}},
		&azservicebus.Message{MessageID: &ids[3], Body: []byte("urgent-us"), Subject: &urgent, ApplicationProperties: map[string]any{"region": "us"}},
		&azservicebus.Message{MessageID: &ids[0], Body: []byte("duplicate of x-1")},
	)
	want := map[string][]string{
		"all":      {"paid", "small", "urgent-eu", "urgent-us"},
		"billing":  {"paid"},
		"by-label": {"urgent-eu"},
		"sys":      {"paid"},
	}
	for sub, w := range want {
		r := subReceiver(t, client, "events", sub, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
		got := receiveN(t, ctx, r, len(w))
		if b := bodies(got); !slices.Equal(b, w) {
			t.Fatalf("%s got %v, want %v", sub, b, w)
		}
		if sub == "billing" && got[0].ApplicationProperties["routed"] != "billing" {
			t.Fatalf("rule action not applied: %v", got[0].ApplicationProperties)
		}
		receiveNone(t, r, 100*time.Millisecond)
	}
}

func TestDataDirKeepsMessagesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := mustParse(t, filterConfig)
	ctx := ctxT(t, 20*time.Second)
	srv, err := Start(ctx, Options{Config: cfg, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := mustSender(t, client, "events")
	send(t, ctx, s, textMsg("kept"), textMsg("deferred"), textMsg("completed"))
	seqs, err := s.ScheduleMessages(ctx, []*azservicebus.Message{textMsg("scheduled")}, time.Now().Add(time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := subReceiver(t, client, "events", "all", nil)
	var deferredSeq int64
	for _, m := range receiveN(t, ctx, r, 3) {
		switch string(m.Body) {
		case "deferred":
			deferredSeq = *m.SequenceNumber
			err = r.DeferMessage(ctx, m, nil)
		case "completed":
			err = r.CompleteMessage(ctx, m, nil)
		default:
			err = r.AbandonMessage(ctx, m, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = client.Close(ctx)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2, err := Start(ctx, Options{Config: cfg, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv2.Close() })
	client2 := newClient(t, srv2)
	r2 := subReceiver(t, client2, "events", "all", nil)
	got := receiveN(t, ctx, r2, 2) // "kept" now, "scheduled" when due
	if b := bodies(got); !slices.Equal(b, []string{"kept", "scheduled"}) {
		t.Fatalf("after restart: %v", b)
	}
	for _, m := range got {
		if string(m.Body) == "kept" && m.DeliveryCount != 2 {
			t.Fatalf("delivery count not kept: %d", m.DeliveryCount)
		}
		if string(m.Body) == "scheduled" && *m.SequenceNumber != seqs[0] {
			t.Fatalf("scheduled seq %d, want %d", *m.SequenceNumber, seqs[0])
		}
	}
	d, err := r2.ReceiveDeferredMessages(ctx, []int64{deferredSeq}, nil)
	if err != nil || len(d) != 1 || string(d[0].Body) != "deferred" {
		t.Fatalf("deferred after restart: %v %v", d, err)
	}
	// New messages continue the sequence.
	send(t, ctx, mustSender(t, client2, "events"), textMsg("new"))
	m := receiveN(t, ctx, r2, 1)[0]
	if *m.SequenceNumber <= seqs[0] {
		t.Fatalf("sequence restarted: %d", *m.SequenceNumber)
	}
}

const forwardConfig = `{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns",
 "Queues":[
  {"Name":"in","Properties":{"ForwardTo":"out"}},
  {"Name":"out"},
  {"Name":"poison","Properties":{"ForwardDeadLetteredMessagesTo":"dead-letters","MaxDeliveryCount":1}},
  {"Name":"dead-letters"}],
 "Topics":[{"Name":"t","Subscriptions":[{"Name":"to-out","Properties":{"ForwardTo":"out"}},{"Name":"loop","Properties":{"ForwardTo":"t"}}]}]}],
 "Logging":{"Type":"Console"}}}`

func TestAutoForwarding(t *testing.T) {
	cfg := mustParse(t, forwardConfig)
	srv := ForTest(t, cfg)
	client := newClient(t, srv)
	ctx := ctxT(t, 20*time.Second)
	send(t, ctx, mustSender(t, client, "in"), textMsg("via queue"))
	send(t, ctx, mustSender(t, client, "t"), textMsg("via subscription"))
	out := mustReceiver(t, client, "out", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	// The "loop" subscription forwards to its own topic: the chain stops after
	// the hop limit, so "out" gets the message once per pass through the topic.
	got := receiveN(t, ctx, out, 5)
	if b := bodies(got); b[0] != "via queue" || b[1] != "via subscription" {
		t.Fatalf("forwarded: %v", b)
	}
	receiveNone(t, mustReceiver(t, client, "in", nil), 100*time.Millisecond)

	send(t, ctx, mustSender(t, client, "poison"), textMsg("bad"))
	r := mustReceiver(t, client, "poison", nil)
	m := receiveN(t, ctx, r, 1)[0]
	reason := "Broken"
	if err := r.DeadLetterMessage(ctx, m, &azservicebus.DeadLetterOptions{Reason: &reason}); err != nil {
		t.Fatal(err)
	}
	dl := receiveN(t, ctx, mustReceiver(t, client, "dead-letters", nil), 1)[0]
	if string(dl.Body) != "bad" || *dl.DeadLetterReason != "Broken" {
		t.Fatalf("forwarded dead letter: %q %v", dl.Body, dl.DeadLetterReason)
	}
	receiveNone(t, mustReceiver(t, client, "poison", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter}), 100*time.Millisecond)
}

func TestSubscriptionDeadLetterQueueAndCaseInsensitiveAddresses(t *testing.T) {
	cfg := mustParse(t, filterConfig)
	srv := ForTest(t, cfg)
	client := newClient(t, srv)
	ctx := ctxT(t, 20*time.Second)
	send(t, ctx, mustSender(t, client, "EVENTS"), textMsg("x"))
	r := subReceiver(t, client, "Events", "ALL", nil)
	m := receiveN(t, ctx, r, 1)[0]
	if err := r.DeadLetterMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	dlq := subReceiver(t, client, "events", "all", &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	d := receiveN(t, ctx, dlq, 1)[0]
	if string(d.Body) != "x" || *d.DeadLetterSource != "events/Subscriptions/all" {
		t.Fatalf("dead-lettered %q from %v", d.Body, d.DeadLetterSource)
	}
	if err := dlq.CompleteMessage(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
}

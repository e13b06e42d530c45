package emulator

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"meterline/infra/servicebus-emulator/config"
)

// testEnv is an emulator with a client connected to it.
type testEnv struct {
	srv    *Server
	client *azservicebus.Client
}

func testLogger() *slog.Logger {
	if os.Getenv("SBEMULATOR_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startNS(t testing.TB, ns *namespace) *testEnv {
	t.Helper()
	srv, err := start(context.Background(), "127.0.0.1:0", ns, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &testEnv{srv: srv, client: newClient(t, srv)}
}

// mustParse parses a test's emulator configuration.
func mustParse(t testing.TB, configJSON string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(configJSON))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newClient(t testing.TB, srv *Server) *azservicebus.Client {
	t.Helper()
	c, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSDKQueueSendReceiveComplete(t *testing.T) {
	ns := newNamespace()
	ns.addQueue(newQueue("orders", entityProps{LockDuration: 30 * time.Second, MaxDeliveryCount: 10}, true, defaultLimits, func(string, ...any) {}))
	env := startNS(t, ns)
	ctx := ctxT(t, 20*time.Second)

	sender, err := env.client.NewSender("orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.SendMessage(ctx, &azservicebus.Message{Body: []byte("hello"), ApplicationProperties: map[string]any{"type": "X"}}, nil); err != nil {
		t.Fatal(err)
	}
	recv, err := env.client.NewReceiverForQueue("orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := recv.ReceiveMessages(ctx, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || string(msgs[0].Body) != "hello" || msgs[0].ApplicationProperties["type"] != "X" {
		t.Fatalf("received %+v", msgs)
	}
	m := msgs[0]
	if m.SequenceNumber == nil || *m.SequenceNumber != 1 || m.DeliveryCount != 1 || m.LockedUntil == nil || m.EnqueuedTime == nil {
		t.Fatalf("system properties: seq %v count %d lockedUntil %v enqueued %v", m.SequenceNumber, m.DeliveryCount, m.LockedUntil, m.EnqueuedTime)
	}
	if err := recv.CompleteMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
}

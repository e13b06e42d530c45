package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// syncBuffer collects what run prints while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesShippedConfigUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "../../config.json", "127.0.0.1:0", t.TempDir(), &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "UseDevelopmentEmulator=true") {
		if time.Now().After(deadline) {
			t.Fatal("no connection string printed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn := strings.TrimSpace(out.String())
	client, err := azservicebus.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := client.NewSender("subscriptions", nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := sender.SendMessage(sctx, &azservicebus.Message{Body: []byte("hi")}, nil); err != nil {
		t.Fatal(err)
	}
	_ = client.Close(sctx)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := run(context.Background(), "testdata-does-not-exist.json", "127.0.0.1:0", "", io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("started without a config file")
	}
}

package funcapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"meterline/shared/funcapp"
)

// BenchmarkServiceBusInvocation measures the runtime's overhead for one Service Bus message:
// decode the host's payload (base64 body, quirky metadata), dispatch to the handler, log one
// JSON line, encode {Outputs, Logs, ReturnValue}. In process, no network. "bare" is a handler
// that only reads the body and writes a fixed answer, for comparison.
func BenchmarkServiceBusInvocation(b *testing.B) {
	payload, err := json.Marshal(map[string]any{
		"Data": map[string]any{"message": bytes.Repeat([]byte(`{"customerId":"c-1","units":5}`), 10)},
		"Metadata": map[string]any{
			"DeliveryCount": "1", "MessageId": `"4e77c3a0-8f5b-4d1a-9c3e-6b2f0d1e7a99"`, "CorrelationId": `"corr-1"`,
			"EnqueuedTimeUtc": `"2023-10-12T20:13:49"`, "SequenceNumber": "42", "Subject": `"cloudapi.UsageRecorded"`,
			"ContentType": `"application/json"`, "LockToken": `"8b3c6d7e-1f2a-4b5c-8d9e-0a1b2c3d4e5f"`,
			"ApplicationProperties": map[string]any{"type": "cloudapi.UsageRecorded", "schemaVersion": 1},
			"sys":                   map[string]any{"MethodName": "ApplyUsage", "UtcNow": "2023-10-12T20:13:50Z", "RandGuid": "0f6e1c8e-3b1c-4f6e-9a59-2f3c1d1b5e11"},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	app := funcapp.New("bench")
	app.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	app.ServiceBus("ApplyUsage", funcapp.ServiceBusTrigger{Topic: "cloudapi", Subscription: "bench"}, func(ctx context.Context, m *funcapp.Message) error {
		if len(m.Body) == 0 {
			b.Fatal("empty body")
		}
		return nil
	})
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"Outputs":{},"Logs":[],"ReturnValue":null}`))
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"funcapp", app.Handler()}, {"bare", bare}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			// CPU time as well as wall time: the shared machine's load inflates the latter.
			cpu0 := cpuTime()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/ApplyUsage", bytes.NewReader(payload))
				req.Header.Set(funcapp.HeaderInvocationID, "inv-1")
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

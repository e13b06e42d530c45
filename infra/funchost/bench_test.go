package funchost_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"meterline/infra/funchost"
)

// BenchmarkServiceBusInvocationOverhead measures what the host adds to each
// Service Bus invocation: from the SDK handing over the message to the
// complete being acknowledged, minus the handler's own time (which the test
// handler reports in X-Handler-Duration-Ns). It runs at 1 message in flight
// and at maxConcurrentCalls (16) in flight, against the emulator.
func BenchmarkServiceBusInvocationOverhead(b *testing.B) {
	em := startEmulator(b)
	for _, inFlight := range []int{1, 16} {
		b.Run(fmt.Sprintf("in_flight=%d", inFlight), func(b *testing.B) {
			a := emulatorApp(b, em.ConnectionString(), 16, "usage")
			var mu sync.Mutex
			var overhead, handler, settle []time.Duration
			settled := make(chan struct{}, 4096)
			measuring := false
			startHost(b, []*funchost.App{loadApp(b, a)}, func(h *funchost.Host) {
				funchost.SetObserver(h, func(t funchost.InvocationTiming) {
					mu.Lock()
					if measuring && t.Succeeded {
						overhead = append(overhead, t.Settled.Sub(t.Received)-t.HandlerReported)
						handler = append(handler, t.HandlerReported)
						settle = append(settle, t.Settled.Sub(t.Answered))
					}
					mu.Unlock()
					settled <- struct{}{}
				})
			})
			c := sbClient(b, em.ConnectionString())
			s, err := c.NewSender("usage", nil)
			must(b, err)
			defer s.Close(context.Background())
			send := func(i int) {
				must(b, s.SendMessage(context.Background(), &azservicebus.Message{Body: []byte(cmd("ok", 0, fmt.Sprint(i)))}, nil))
			}
			run := func(n int) {
				window := min(inFlight, n)
				for i := range window {
					send(i)
				}
				for i := window; i < n; i++ {
					<-settled
					send(i)
				}
				for range window {
					<-settled
				}
			}
			run(32) // warm up connections
			mu.Lock()
			measuring = true
			mu.Unlock()
			b.ResetTimer()
			run(b.N)
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			if len(overhead) == 0 {
				b.Fatal("no invocation measured")
			}
			slices.Sort(overhead)
			slices.Sort(handler)
			slices.Sort(settle)
			pct := func(d []time.Duration, p float64) float64 {
				return float64(d[int(p*float64(len(d)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(overhead, 0.50), "p50-overhead-ms")
			b.ReportMetric(pct(overhead, 0.99), "p99-overhead-ms")
			b.ReportMetric(pct(handler, 0.50), "p50-handler-ms")
			b.ReportMetric(pct(settle, 0.50), "p50-settle-ms")
		})
	}
}

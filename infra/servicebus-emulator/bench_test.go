package emulator

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

const benchConfig = `{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns","Queues":[],"Topics":[{"Name":"bench",
 "Subscriptions":[{"Name":"s1","Properties":{"MaxDeliveryCount":10}},{"Name":"s2","Properties":{"MaxDeliveryCount":10}},{"Name":"s3","Properties":{"MaxDeliveryCount":10}}]}]}],
 "Logging":{"Type":"Console"}}}`

var benchSubs = []string{"s1", "s2", "s3"}

func benchServer(b *testing.B) (*Server, *azservicebus.Client) {
	cfg := mustParse(b, benchConfig)
	srv := ForTest(b, cfg)
	return srv, newClient(b, srv)
}

// consume receives and completes n messages on every subscription, each on
// its own connection as separate consumer processes would.
func consume(b *testing.B, ctx context.Context, srv *Server, n int) (wait func()) {
	var wg sync.WaitGroup
	for _, sub := range benchSubs {
		c := newClient(b, srv)
		r := subReceiver(b, c, "bench", sub, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for got := 0; got < n; {
				msgs, err := r.ReceiveMessages(ctx, min(n-got, 1000), nil)
				if err != nil {
					b.Error(err)
					return
				}
				got += len(msgs)
				for _, m := range msgs {
					if err := r.CompleteMessage(ctx, m, nil); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	return wg.Wait
}

// BenchmarkTopicThroughput: 1 KiB messages sent to a topic with three
// subscriptions, each received and completed on every subscription.
// msgs/s counts deliveries (three per message sent).
func BenchmarkTopicThroughput(b *testing.B) {
	payload := make([]byte, 1024)
	b.Run("singles", func(b *testing.B) {
		srv, client := benchServer(b)
		ctx := ctxT(b, 10*time.Minute)
		const senders = 16
		wait := consume(b, ctx, srv, b.N)
		s := mustSender(b, client, "bench")
		b.SetBytes(1024)
		b.ResetTimer()
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					if err := s.SendMessage(ctx, &azservicebus.Message{Body: payload}, nil); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		wait()
		b.ReportMetric(float64(3*b.N)/time.Since(start).Seconds(), "delivered-msgs/s")
	})
	b.Run("batches", func(b *testing.B) {
		srv, client := benchServer(b)
		ctx := ctxT(b, 10*time.Minute)
		wait := consume(b, ctx, srv, b.N)
		s := mustSender(b, client, "bench")
		b.SetBytes(1024)
		b.ResetTimer()
		start := time.Now()
		for sent := 0; sent < b.N; {
			batch, err := s.NewMessageBatch(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			for ; sent < b.N && batch.NumMessages() < 200; sent++ {
				if err := batch.AddMessage(&azservicebus.Message{Body: payload}, nil); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
				b.Fatal(err)
			}
		}
		wait()
		b.ReportMetric(float64(3*b.N)/time.Since(start).Seconds(), "delivered-msgs/s")
	})
}

// BenchmarkSendReceiveLatency: one 1 KiB message at a time through the topic,
// from the start of SendMessage to its arrival at a receiver that is already
// waiting on another connection; reports p50 and p99.
func BenchmarkSendReceiveLatency(b *testing.B) {
	srv, client := benchServer(b)
	ctx := ctxT(b, 10*time.Minute)
	r := subReceiver(b, newClient(b, srv), "bench", "s1", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	s := mustSender(b, client, "bench")
	arrived := make(chan time.Duration)
	go func() {
		for {
			msgs, err := r.ReceiveMessages(ctx, 1, nil)
			if err != nil {
				return // the benchmark is over
			}
			for _, m := range msgs {
				sent := int64(binary.BigEndian.Uint64(m.Body))
				select {
				case arrived <- time.Duration(time.Now().UnixNano() - sent):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	lat := make([]time.Duration, 0, b.N)
	payload := make([]byte, 1024)
	b.ResetTimer()
	for range b.N {
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		if err := s.SendMessage(ctx, &azservicebus.Message{Body: payload}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, <-arrived)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

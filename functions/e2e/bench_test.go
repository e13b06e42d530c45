package e2e

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkReplicationLatency measures seed 000's replication on the running system: from the
// 201 of POST users to the Cloud API's first 200 with the new key, over 1,000 users created by 4
// clients at once (10 users per customer), each client trying its key every 5 ms. The Cloud API
// caches a miss for 500 ms, but its projection refreshes the cache entry of every key it writes,
// so a key tried before it arrived is accepted on the next try: the figures include the tries,
// as a client sees them.
//
//	go test ./functions/e2e -run '^$' -bench ReplicationLatency -benchtime 1x
func BenchmarkReplicationLatency(b *testing.B) {
	const users, clients, perCustomer = 1000, 4, 10
	for range b.N {
		customers := make([]string, users/perCustomer)
		for i := range customers {
			customers[i] = createCustomer(b, "Bench Corp")
		}
		var mu sync.Mutex
		var latencies []time.Duration
		next := make(chan int)
		var wg sync.WaitGroup
		started := time.Now()
		for range clients {
			wg.Go(func() {
				for i := range next {
					u, err := newUser(customers[i/perCustomer], "")
					if err != nil {
						b.Error(err)
						continue
					}
					created := time.Now()
					d, ok := eventually(30*time.Second, 5*time.Millisecond, func() bool { return status(u.APIKey) == http.StatusOK })
					if !ok {
						b.Errorf("user %d: key not accepted within %v", i, d)
						continue
					}
					d = time.Since(created)
					mu.Lock()
					latencies = append(latencies, d)
					mu.Unlock()
				}
			})
		}
		for i := range users {
			next <- i
		}
		close(next)
		wg.Wait()
		elapsed := time.Since(started)
		if len(latencies) == 0 {
			b.Fatal("no key accepted")
		}
		slices.Sort(latencies)
		q := func(p float64) float64 {
			return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
		}
		b.ReportMetric(q(0.50), "p50-ms")
		b.ReportMetric(q(0.90), "p90-ms")
		b.ReportMetric(q(0.99), "p99-ms")
		b.ReportMetric(q(1), "max-ms")
		b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "users/s")
	}
}

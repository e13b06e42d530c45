package cloudapi_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/shared/azurite/azuritetest"
)

// result of one benchmark mode, kept to print the ratio after both ran.
type throughput struct {
	rps float64
	p99 time.Duration
}

// BenchmarkForecastMetering measures POST /api/cloud/forecast (100 points, horizon 10) through
// funcapp's handler over loopback HTTP, against Azurite-backed stores, with metering off and on
// in the same run, 16 concurrent clients (the host's maxConcurrentCalls).
func BenchmarkForecastMetering(b *testing.B) {
	inst := azuritetest.Start(b)
	pub := &publisher{}
	metered := azureDeps(b, inst, pub)
	unmetered := metered
	unmetered.Unmetered = true

	series := make([]string, 100)
	for i := range series {
		series[i] = fmt.Sprint(100 + 3*i + i%7)
	}
	body := `{"series":[` + strings.Join(series, ",") + `],"horizon":10}`
	results := map[string]throughput{}

	for _, mode := range []struct {
		name string
		w    *world
	}{{"metering=off", newWorld(b, unmetered)}, {"metering=on", newWorld(b, metered)}} {
		mode.w.givenCustomer("bench", "bench-user", "bench-key", "ml_bench")
		b.Run(mode.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var mu sync.Mutex
			var latencies []time.Duration
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					req, _ := http.NewRequest("POST", mode.w.srv.URL+"/api/cloud/forecast", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer ml_bench")
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			if len(latencies) == 0 {
				return
			}
			slices.Sort(latencies)
			r := throughput{rps: float64(len(latencies)) / elapsed.Seconds(), p99: latencies[(len(latencies)*99)/100]}
			results[mode.name] = r
			b.ReportMetric(r.rps, "req/s")
			b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
		})
	}
	off, on := results["metering=off"], results["metering=on"]
	if off.rps > 0 && on.rps > 0 {
		fmt.Printf("forecast throughput: metering off %.0f req/s (p99 %v), metering on %.0f req/s (p99 %v): on/off = %.2f\n",
			off.rps, off.p99.Round(10*time.Microsecond), on.rps, on.p99.Round(10*time.Microsecond), on.rps/off.rps)
	}
}

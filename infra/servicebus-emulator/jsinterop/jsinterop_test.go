// Package jsinterop drives the emulator with the JavaScript Service Bus SDK (@azure/service-bus,
// pinned in package.json, installed by `make deps`), so that the emulator is proven against a
// second, independent AMQP client (rhea) and not only against the Go SDK it was built with.
package jsinterop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	emulator "meterline/infra/servicebus-emulator"
	"meterline/infra/servicebus-emulator/config"
	"meterline/shared/nodejs"
)

// entities are what interop.mjs expects.
const entities = `{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns",
 "Queues":[
  {"Name":"interop","Properties":{"LockDuration":"PT5S","MaxDeliveryCount":10}},
  {"Name":"interop-sessions","Properties":{"LockDuration":"PT5S","MaxDeliveryCount":10,"RequiresSession":true}}],
 "Topics":[{"Name":"bulk","Subscriptions":[{"Name":"all","Properties":{"LockDuration":"PT30S","MaxDeliveryCount":10}}]}]}],
 "Logging":{"Type":"Console"}}}`

// cases are every case of interop.mjs; one missing from its output fails the test.
var cases = []string{"send-receive-complete", "abandon", "dead-letter", "defer", "schedule", "peek", "sessions", "throughput"}

// bulkMessages is the size of the throughput case: 4,000 messages of 1 KiB.
const bulkMessages = 4000

type result struct {
	Case    string
	OK      bool
	Error   string
	Figures *figures
}

type figures struct {
	Messages   int
	SendMs     float64
	ReceiveMs  float64
	TotalMs    float64
	MsgsPerSec float64
}

func startEmulator(t testing.TB) *emulator.Server {
	cfg, err := config.Parse([]byte(entities))
	if err != nil {
		t.Fatal(err)
	}
	return emulator.ForTest(t, cfg)
}

// runScript runs interop.mjs (the named cases, or all) against the emulator and returns its
// results by case.
func runScript(t testing.TB, srv *emulator.Server, only ...string) map[string]result {
	t.Helper()
	node, err := nodejs.For(".")
	if err != nil {
		t.Fatalf("the JavaScript SDK cannot run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node.Bin, append([]string{"interop.mjs"}, only...)...)
	cmd.Env = append(cmd.Environ(), "SB_CONNECTION="+srv.ConnectionString(), fmt.Sprintf("THROUGHPUT_MESSAGES=%d", bulkMessages))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	results := map[string]result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("interop.mjs printed a line that is not a result: %q", sc.Text())
		}
		results[r.Case] = r
	}
	if runErr != nil && len(results) == 0 {
		t.Fatalf("interop.mjs: %v\n%s", runErr, stderr.String())
	}
	return results
}

// TestJavaScriptSDK runs every case and compares the bulk throughput with the Go SDK doing the
// same work on the same emulator in the same run (logged, never asserted: machines are noisy).
func TestJavaScriptSDK(t *testing.T) {
	srv := startEmulator(t)
	results := runScript(t, srv)
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			r, ok := results[name]
			switch {
			case !ok:
				t.Fatal("the case did not report")
			case !r.OK:
				t.Fatal(r.Error)
			}
		})
	}
	js := results["throughput"].Figures
	if js == nil || js.Messages != bulkMessages {
		t.Fatalf("the throughput case reported %+v", js)
	}
	goSDK := goThroughput(t, srv)
	t.Logf("%d × 1 KiB through topic bulk: JavaScript SDK %.0f ms (%.0f msgs/s), Go SDK %.0f ms (%.0f msgs/s), JS/Go time %.2fx",
		bulkMessages, js.TotalMs, js.MsgsPerSec, goSDK.TotalMs, goSDK.MsgsPerSec, js.TotalMs/goSDK.TotalMs)
}

// BenchmarkBulkThroughput: the same 4,000 × 1 KiB send, receive and complete, by the JavaScript
// SDK (node started once per op; the figure excludes its start-up) and by the Go SDK.
func BenchmarkBulkThroughput(b *testing.B) {
	srv := startEmulator(b)
	var jsMs, goMs float64
	for b.Loop() {
		r := runScript(b, srv, "throughput")["throughput"]
		if !r.OK || r.Figures == nil {
			b.Fatalf("throughput: %s", r.Error)
		}
		jsMs += r.Figures.TotalMs
		goMs += goThroughput(b, srv).TotalMs
	}
	n := float64(b.N)
	b.ReportMetric(bulkMessages/(jsMs/n/1000), "js-msgs/s")
	b.ReportMetric(bulkMessages/(goMs/n/1000), "go-msgs/s")
	b.ReportMetric(jsMs/goMs, "js/go-time")
}

// goThroughput is the throughput case with the Go SDK: batches to the topic, then receive up to
// 500 at a time and complete each.
func goThroughput(t testing.TB, srv *emulator.Server) figures {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := azservicebus.NewClientFromConnectionString(srv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	sender, err := client.NewSender("bulk", nil)
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := client.NewReceiverForSubscription("bulk", "all", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1024)
	start := time.Now()
	batch, err := sender.NewMessageBatch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range bulkMessages {
		m := &azservicebus.Message{MessageID: ptr(fmt.Sprintf("go-bulk-%d", i)), Body: body}
		if err := batch.AddMessage(m, nil); err == azservicebus.ErrMessageTooLarge {
			if err := sender.SendMessageBatch(ctx, batch, nil); err != nil {
				t.Fatal(err)
			}
			if batch, err = sender.NewMessageBatch(ctx, nil); err != nil {
				t.Fatal(err)
			}
			err = batch.AddMessage(m, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.SendMessageBatch(ctx, batch, nil); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	seen := map[string]bool{}
	for len(seen) < bulkMessages {
		msgs, err := receiver.ReceiveMessages(ctx, 500, nil)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(seen), err)
		}
		for _, m := range msgs {
			if err := receiver.CompleteMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
			seen[m.MessageID] = true
		}
	}
	done := time.Now()
	total := done.Sub(start)
	return figures{Messages: bulkMessages, SendMs: ms(sent.Sub(start)), ReceiveMs: ms(done.Sub(sent)), TotalMs: ms(total),
		MsgsPerSec: bulkMessages / total.Seconds()}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr[T any](v T) *T { return &v }

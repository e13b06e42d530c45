package emulator

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"meterline/infra/servicebus-emulator/amqp"
)

// panicWatch records error logs, so the fuzz target sees recovered panics.
type panicWatch struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicWatch) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (p *panicWatch) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		p.mu.Lock()
		p.panics = append(p.panics, r.Message)
		r.Attrs(func(a slog.Attr) bool { p.panics = append(p.panics, a.String()); return true })
		p.mu.Unlock()
	}
	return nil
}
func (p *panicWatch) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicWatch) WithGroup(string) slog.Handler      { return p }

func frameBytes(t testing.TB, fs ...amqp.Frame) []byte {
	var b []byte
	for _, f := range fs {
		var err error
		if b, err = amqp.AppendFrame(b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// FuzzServerFrames sends arbitrary bytes after a valid open: the server must
// neither panic nor stop serving other clients.
func FuzzServerFrames(f *testing.F) {
	zero, one := uint32(0), uint32(1)
	second := amqp.RcvSettleModeSecond
	begin := amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Begin{IncomingWindow: 10, OutgoingWindow: 10}}
	f.Add(frameBytes(f, begin,
		amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Attach{Name: "s", Role: amqp.RoleSender, Target: &amqp.Target{Address: "q"}, InitialDeliveryCount: &zero}},
		amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Transfer{Handle: 0, DeliveryID: &zero, DeliveryTag: []byte{1}, MessageFormat: &zero}, Payload: []byte{0x00, 0x53, 0x75, 0xa0, 0x01, 'x'}},
	))
	f.Add(frameBytes(f, begin,
		amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Attach{Name: "r", Role: amqp.RoleReceiver, RcvSettleMode: &second, Source: &amqp.Source{Address: "q"}}},
		amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Flow{NextIncomingID: &zero, IncomingWindow: 10, Handle: &zero, DeliveryCount: &zero, LinkCredit: &one, Drain: true}},
		amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Disposition{Role: amqp.RoleReceiver, First: 0, Last: &one, State: &amqp.Accepted{}}},
	))
	f.Add(frameBytes(f, begin,
		amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Attach{Name: "m", Role: amqp.RoleSender, Target: &amqp.Target{Address: "q/$management"}, InitialDeliveryCount: &zero}},
		amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Detach{Handle: 0, Closed: true}},
		amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.End{}},
	))
	f.Add([]byte{0, 0, 0, 8, 2, 0, 0, 0})
	f.Add([]byte("\x00\x00\x00\x0c\x02\x00\x00\x00\x00\x53\x99\x45"))

	watch := &panicWatch{}
	ns := queueNS("q", entityProps{})
	srv, err := start(context.Background(), "127.0.0.1:0", ns, slog.New(watch), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	opened := frameBytes(f, amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Open{ContainerID: "fuzz"}})

	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
		msg := append(append(append([]byte{}, amqp.ProtoAMQP[:]...), opened...), data...)
		if _, err := nc.Write(msg); err != nil {
			t.Fatal(err)
		}
		// Read whatever comes back for a moment; the server may close on us.
		br := bufio.NewReader(nc)
		_ = nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		for {
			if _, err := br.ReadByte(); err != nil {
				break
			}
		}
		watch.mu.Lock()
		defer watch.mu.Unlock()
		if len(watch.panics) > 0 {
			t.Fatalf("server panicked: %v", watch.panics)
		}
	})
}

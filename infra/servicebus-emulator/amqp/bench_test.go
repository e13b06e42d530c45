package amqp_test

import (
	"bufio"
	"bytes"
	"testing"

	"meterline/infra/servicebus-emulator/amqp"
)

// benchFrame encodes f into a reused buffer and decodes it with a reused
// reader, as the emulator's connection loop does.
func benchFrame(b *testing.B, f amqp.Frame) {
	buf, err := amqp.AppendFrame(nil, f)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		out := make([]byte, 0, 4096)
		for b.Loop() {
			if out, err = amqp.AppendFrame(out[:0], f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		src := bytes.NewReader(buf)
		r := bufio.NewReaderSize(src, 64<<10)
		for b.Loop() {
			src.Reset(buf)
			r.Reset(src)
			if _, err := amqp.ReadFrame(r, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode+decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		out := make([]byte, 0, 4096)
		src := bytes.NewReader(nil)
		r := bufio.NewReaderSize(src, 64<<10)
		for b.Loop() {
			if out, err = amqp.AppendFrame(out[:0], f); err != nil {
				b.Fatal(err)
			}
			src.Reset(out)
			r.Reset(src)
			if _, err := amqp.ReadFrame(r, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkTransferFrame(b *testing.B) {
	id, format := uint32(123456), uint32(0)
	benchFrame(b, amqp.Frame{Channel: 1, Body: &amqp.Transfer{
		Handle: 2, DeliveryID: &id, DeliveryTag: bytes.Repeat([]byte{7}, 16), MessageFormat: &format,
	}, Payload: bytes.Repeat([]byte("x"), 1024)})
}

func BenchmarkFlowFrame(b *testing.B) {
	next, h, count, credit := uint32(1000), uint32(2), uint32(5000), uint32(100)
	benchFrame(b, amqp.Frame{Channel: 1, Body: &amqp.Flow{
		NextIncomingID: &next, IncomingWindow: 5000, NextOutgoingID: 77, OutgoingWindow: 5000,
		Handle: &h, DeliveryCount: &count, LinkCredit: &credit,
	}})
}

func BenchmarkDispositionFrame(b *testing.B) {
	benchFrame(b, amqp.Frame{Channel: 1, Body: &amqp.Disposition{Role: amqp.RoleReceiver, First: 100000, Settled: true, State: &amqp.Accepted{}}})
}

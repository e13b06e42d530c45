//go:build goamqp

// Interoperability with github.com/Azure/go-amqp, the AMQP stack under the
// Azure Service Bus SDK. The build tag exists only because go.mod does not
// require go-amqp yet; once it does, the tag can go.

package amqp_test

import (
	"bufio"
	"context"
	"net"
	"reflect"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"meterline/infra/servicebus-emulator/amqp"
)

// sections splits an encoded message into its described sections.
func sections(t *testing.T, b []byte) map[uint64]any {
	t.Helper()
	out := map[uint64]any{}
	for len(b) > 0 {
		v, rest, err := amqp.Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal section at % x: %v", b, err)
		}
		d, ok := v.(*amqp.Described)
		if !ok {
			t.Fatalf("section is %T, want *Described", v)
		}
		out[d.Descriptor.(uint64)] = d.Value
		b = rest
	}
	return out
}

func TestGoAMQPMessageDecodes(t *testing.T) {
	msgID := "id-1"
	subject := "label"
	ts := time.UnixMilli(1700000000000).UTC()
	m := &goamqp.Message{
		Header: &goamqp.MessageHeader{Durable: true, DeliveryCount: 3, TTL: 90 * time.Second},
		Annotations: goamqp.Annotations{
			"x-opt-sequence-number": int64(42),
			"x-opt-enqueued-time":   ts,
		},
		Properties: &goamqp.MessageProperties{MessageID: msgID, Subject: &subject,
			CorrelationID: goamqp.UUID{1, 2}},
		ApplicationProperties: map[string]any{"n": int32(-7), "s": "v", "b": true, "f": 1.5},
		Data:                  [][]byte{[]byte("hello"), {}},
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s := sections(t, b)
	header := s[0x70].([]any)
	if header[0] != true || header[2] != uint32(90000) || header[4] != uint32(3) {
		t.Errorf("header section %#v", header)
	}
	ann := s[0x72].(amqp.Map)
	if ann[amqp.Symbol("x-opt-sequence-number")] != int64(42) || ann[amqp.Symbol("x-opt-enqueued-time")] != ts {
		t.Errorf("message annotations %#v", ann)
	}
	props := s[0x73].([]any)
	if props[0] != msgID || props[3] != subject || props[5] != (amqp.UUID{1, 2}) {
		t.Errorf("properties section %#v", props)
	}
	want := amqp.Map{"n": int32(-7), "s": "v", "b": true, "f": 1.5}
	if app := s[0x74]; !reflect.DeepEqual(app, want) {
		t.Errorf("application properties %#v, want %#v", app, want)
	}
	if d := s[0x75]; !reflect.DeepEqual(d, []byte{}) { // the last data section wins in this map
		t.Errorf("data section %#v", d)
	}

	// A value body and a sequence body.
	for _, c := range []struct{ body, want any }{
		{map[string]any{"k": []any{int64(1)}}, amqp.Map{"k": []any{int64(1)}}},
		{"text", "text"},
	} {
		b, err := (&goamqp.Message{Value: c.body}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if got := sections(t, b)[0x77]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("amqp-value section %#v, want %#v", got, c.want)
		}
	}
}

func TestOurSectionsDecodeInGoAMQP(t *testing.T) {
	var b []byte
	for _, sec := range []any{
		&amqp.Described{Descriptor: uint64(0x70), Value: []any{true, uint8(4), uint32(1000), nil, uint32(2)}},
		&amqp.Described{Descriptor: uint64(0x72), Value: amqp.Map{amqp.Symbol("x-opt-sequence-number"): int64(9)}},
		&amqp.Described{Descriptor: uint64(0x73), Value: []any{"mid", nil, nil, "subj"}},
		&amqp.Described{Descriptor: uint64(0x74), Value: amqp.Map{"status-code": int32(200)}},
		&amqp.Described{Descriptor: uint64(0x75), Value: []byte("payload")},
	} {
		var err error
		if b, err = amqp.AppendValue(b, sec); err != nil {
			t.Fatal(err)
		}
	}
	var m goamqp.Message
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatalf("go-amqp cannot decode our sections: %v", err)
	}
	if m.Header == nil || !m.Header.Durable || m.Header.Priority != 4 || m.Header.TTL != time.Second || m.Header.DeliveryCount != 2 {
		t.Errorf("header %#v", m.Header)
	}
	if m.Annotations["x-opt-sequence-number"] != int64(9) {
		t.Errorf("annotations %#v", m.Annotations)
	}
	if m.Properties == nil || m.Properties.MessageID != "mid" || m.Properties.Subject == nil || *m.Properties.Subject != "subj" {
		t.Errorf("properties %#v", m.Properties)
	}
	if m.ApplicationProperties["status-code"] != int32(200) || string(m.GetData()) != "payload" {
		t.Errorf("application properties %#v data %q", m.ApplicationProperties, m.GetData())
	}
}

// TestGoAMQPClientTalksToOurFrames runs the unmodified go-amqp client
// against a minimal server built only from this package's frames, over a
// loopback socket: SASL, open, begin, a sender and a receiver link,
// transfers both ways, dispositions and an orderly close.
func TestGoAMQPClientTalksToOurFrames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	outgoing := &goamqp.Message{Data: [][]byte{[]byte("from server")}, ApplicationProperties: map[string]any{"n": int64(5)}}
	outPayload, err := outgoing.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		received []byte            // payload of the client's transfer
		accepted *amqp.Disposition // the client's disposition of our transfer
		err      error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer nc.Close()
		var res result
		res.err = serveOneClient(nc, outPayload, &res.received, &res.accepted)
		done <- res
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqp://"+ln.Addr().String(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous(), IdleTimeout: time.Minute})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	snd, err := sess.NewSender(ctx, "queue-1", nil)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	sent := &goamqp.Message{Data: [][]byte{[]byte("hello emulator")}, Properties: &goamqp.MessageProperties{MessageID: "m1"}}
	if err := snd.Send(ctx, sent, nil); err != nil {
		t.Fatalf("Send: %v", err)
	}
	rcv, err := sess.NewReceiver(ctx, "queue-1", &goamqp.ReceiverOptions{Credit: 1})
	if err != nil {
		t.Fatalf("NewReceiver: %v", err)
	}
	msg, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if string(msg.GetData()) != "from server" || msg.ApplicationProperties["n"] != int64(5) {
		t.Errorf("client received %q %v", msg.GetData(), msg.ApplicationProperties)
	}
	if err := rcv.AcceptMessage(ctx, msg); err != nil {
		t.Fatalf("AcceptMessage: %v", err)
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("server did not finish")
	}
	if res.err != nil {
		t.Fatalf("server: %v", res.err)
	}
	var got goamqp.Message
	if err := got.UnmarshalBinary(res.received); err != nil || string(got.GetData()) != "hello emulator" || got.Properties.MessageID != "m1" {
		t.Errorf("server received %#v (%v)", got, err)
	}
	if res.accepted == nil || res.accepted.Role != amqp.RoleReceiver {
		t.Fatalf("server got no disposition from the receiver: %#v", res.accepted)
	}
	if _, ok := res.accepted.State.(*amqp.Accepted); !ok {
		t.Errorf("disposition state %#v, want *Accepted", res.accepted.State)
	}
}

// serveOneClient plays a broker just far enough for the test above.
func serveOneClient(nc net.Conn, outPayload []byte, received *[]byte, accepted **amqp.Disposition) error {
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(nc)
	expect := func(want [8]byte) error {
		h, err := amqp.ReadProtoHeader(br)
		if err != nil {
			return err
		}
		if h != want {
			return &amqp.FrameError{Condition: amqp.ErrCondFramingError, Description: "unexpected protocol header"}
		}
		_, err = nc.Write(want[:])
		return err
	}
	write := func(typ uint8, ch uint16, body any, payload []byte) error {
		return amqp.WriteFrame(nc, amqp.Frame{Type: typ, Channel: ch, Body: body, Payload: payload})
	}
	if err := expect(amqp.ProtoSASL); err != nil {
		return err
	}
	if err := write(amqp.FrameSASL, 0, &amqp.SASLMechanisms{Mechanisms: []amqp.Symbol{"ANONYMOUS"}}, nil); err != nil {
		return err
	}
	f, err := amqp.ReadFrame(br, 512)
	if err != nil {
		return err
	}
	if init, ok := f.Body.(*amqp.SASLInit); !ok || init.Mechanism != "ANONYMOUS" {
		return &amqp.FrameError{Condition: amqp.ErrCondNotAllowed, Description: "expected sasl-init ANONYMOUS"}
	}
	if err := write(amqp.FrameSASL, 0, &amqp.SASLOutcome{Code: amqp.SASLCodeOK}, nil); err != nil {
		return err
	}
	if err := expect(amqp.ProtoAMQP); err != nil {
		return err
	}
	const maxFrame = 65536
	var outHandle *uint32
	sentOut := false
	var nextOut uint32
	for {
		f, err := amqp.ReadFrame(br, maxFrame)
		if err != nil {
			return err
		}
		ch := f.Channel
		switch b := f.Body.(type) {
		case nil: // heartbeat
		case *amqp.Open:
			err = write(amqp.FrameAMQP, 0, &amqp.Open{ContainerID: "test-server", MaxFrameSize: maxFrame, ChannelMax: 10}, nil)
		case *amqp.Begin:
			err = write(amqp.FrameAMQP, ch, &amqp.Begin{RemoteChannel: &ch, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 10}, nil)
		case *amqp.Attach:
			reply := &amqp.Attach{Name: b.Name, Handle: b.Handle, Role: !b.Role, Source: b.Source, Target: b.Target,
				SndSettleMode: b.SndSettleMode, RcvSettleMode: b.RcvSettleMode}
			if b.Role == amqp.RoleSender {
				if err = write(amqp.FrameAMQP, ch, reply, nil); err == nil {
					h, credit, zero := b.Handle, uint32(10), uint32(0)
					err = write(amqp.FrameAMQP, ch, &amqp.Flow{NextIncomingID: &zero, IncomingWindow: 100, OutgoingWindow: 100,
						Handle: &h, DeliveryCount: &zero, LinkCredit: &credit}, nil)
				}
			} else {
				zero := uint32(0)
				reply.InitialDeliveryCount = &zero
				h := b.Handle
				outHandle = &h
				err = write(amqp.FrameAMQP, ch, reply, nil)
			}
		case *amqp.Flow:
			if outHandle != nil && b.Handle != nil && *b.Handle == *outHandle && b.LinkCredit != nil && *b.LinkCredit > 0 && !sentOut {
				sentOut = true
				id, format := nextOut, uint32(0)
				nextOut++
				err = write(amqp.FrameAMQP, ch, &amqp.Transfer{Handle: *outHandle, DeliveryID: &id,
					DeliveryTag: []byte{0xde, 0xad}, MessageFormat: &format}, outPayload)
			}
		case *amqp.Transfer:
			*received = f.Payload
			if !b.Settled && b.DeliveryID != nil {
				err = write(amqp.FrameAMQP, ch, &amqp.Disposition{Role: amqp.RoleReceiver, First: *b.DeliveryID,
					Settled: true, State: &amqp.Accepted{}}, nil)
			}
		case *amqp.Disposition:
			*accepted = b
		case *amqp.Detach:
			err = write(amqp.FrameAMQP, ch, &amqp.Detach{Handle: b.Handle, Closed: true}, nil)
		case *amqp.End:
			err = write(amqp.FrameAMQP, ch, &amqp.End{}, nil)
		case *amqp.Close:
			return write(amqp.FrameAMQP, 0, &amqp.Close{}, nil)
		}
		if err != nil {
			return err
		}
	}
}

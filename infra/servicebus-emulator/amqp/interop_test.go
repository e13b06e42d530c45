// Interoperability with github.com/Azure/go-amqp, the AMQP stack under the
// Azure Service Bus SDK.

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
// loopback socket: SASL, open, begin, a sender and a receiver link (with the
// filters and properties the Service Bus SDK sends), transfers both ways,
// dispositions and an orderly close.
func TestGoAMQPClientTalksToOurFrames(t *testing.T) {
	for _, sasl := range []struct {
		name      string
		typ       goamqp.SASLType
		mechanism amqp.Symbol
	}{
		{"anonymous", goamqp.SASLTypeAnonymous(), "ANONYMOUS"},
		{"plain", goamqp.SASLTypePlain("user", "secret"), "PLAIN"},
	} {
		t.Run(sasl.name, func(t *testing.T) {
			log := talkToGoAMQP(t, sasl.typ)
			if log.init == nil || log.init.Mechanism != sasl.mechanism {
				t.Errorf("sasl-init %#v, want mechanism %s", log.init, sasl.mechanism)
			}
			if sasl.mechanism == "PLAIN" && string(log.init.InitialResponse) != "\x00user\x00secret" {
				t.Errorf("PLAIN initial response %q", log.init.InitialResponse)
			}
		})
	}
}

// serverLog is what the test server saw.
type serverLog struct {
	init     *amqp.SASLInit
	open     *amqp.Open
	rcvLink  *amqp.Attach      // the client's receiver attach
	received []byte            // payload of the client's transfer
	accepted *amqp.Disposition // the client's disposition of our transfer
}

func talkToGoAMQP(t *testing.T, sasl goamqp.SASLType) *serverLog {
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
	log := &serverLog{}
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer nc.Close()
		done <- serveOneClient(nc, outPayload, log)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqp://"+ln.Addr().String(), &goamqp.ConnOptions{
		SASLType: sasl, IdleTimeout: time.Minute, Properties: map[string]any{"product": "test"}})
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
	second := goamqp.ReceiverSettleModeSecond
	rcv, err := sess.NewReceiver(ctx, "topic-1/Subscriptions/sub", &goamqp.ReceiverOptions{
		Credit:         1,
		SettlementMode: &second,
		Filters: []goamqp.LinkFilter{
			goamqp.NewLinkFilter("com.microsoft:session-filter", 0x00000137000000C, "session-1"),
			goamqp.NewSelectorFilter("color = 'red'"),
		},
		Properties: map[string]any{"com.microsoft:timeout": uint32(60000)},
	})
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

	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("server did not finish")
	}
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	var got goamqp.Message
	if err := got.UnmarshalBinary(log.received); err != nil || string(got.GetData()) != "hello emulator" || got.Properties.MessageID != "m1" {
		t.Errorf("server received %#v (%v)", got, err)
	}
	// go-amqp advertises half its idle timeout (spec 2.4.5).
	if log.open == nil || log.open.IdleTimeout != 30*time.Second || log.open.Properties[amqp.Symbol("product")] != "test" {
		t.Errorf("open %#v", log.open)
	}
	if a := log.rcvLink; a == nil || a.Source == nil || a.RcvSettleMode == nil || *a.RcvSettleMode != amqp.RcvSettleModeSecond {
		t.Errorf("receiver attach %#v", a)
	} else {
		wantFilter := amqp.Map{
			amqp.Symbol("com.microsoft:session-filter"): &amqp.Described{Descriptor: uint64(0x00000137000000C), Value: "session-1"},
			amqp.Symbol("apache.org:selector-filter:string"): &amqp.Described{
				Descriptor: uint64(0x0000468C00000004), Value: "color = 'red'"},
		}
		if a.Source.Address != "topic-1/Subscriptions/sub" || !reflect.DeepEqual(a.Source.Filter, wantFilter) {
			t.Errorf("receiver source %#v, filter %#v", a.Source, a.Source.Filter)
		}
		if a.Properties[amqp.Symbol("com.microsoft:timeout")] != uint32(60000) {
			t.Errorf("receiver link properties %#v", a.Properties)
		}
	}
	if log.accepted == nil || log.accepted.Role != amqp.RoleReceiver {
		t.Fatalf("server got no disposition from the receiver: %#v", log.accepted)
	}
	if _, ok := log.accepted.State.(*amqp.Accepted); !ok {
		t.Errorf("disposition state %#v, want *Accepted", log.accepted.State)
	}
	return log
}

// serveOneClient plays a broker just far enough for the test above.
func serveOneClient(nc net.Conn, outPayload []byte, log *serverLog) error {
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
	if err := write(amqp.FrameSASL, 0, &amqp.SASLMechanisms{Mechanisms: []amqp.Symbol{"ANONYMOUS", "PLAIN"}}, nil); err != nil {
		return err
	}
	f, err := amqp.ReadFrame(br, 512)
	if err != nil {
		return err
	}
	init, ok := f.Body.(*amqp.SASLInit)
	if !ok {
		return &amqp.FrameError{Condition: amqp.ErrCondNotAllowed, Description: "expected sasl-init"}
	}
	log.init = init
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
			log.open = b
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
				log.rcvLink = b
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
			log.received = f.Payload
			if !b.Settled && b.DeliveryID != nil {
				err = write(amqp.FrameAMQP, ch, &amqp.Disposition{Role: amqp.RoleReceiver, First: *b.DeliveryID,
					Settled: true, State: &amqp.Accepted{}}, nil)
			}
		case *amqp.Disposition:
			log.accepted = b
			if !b.Settled { // receive mode second: the receiver waits for our settlement
				err = write(amqp.FrameAMQP, ch, &amqp.Disposition{Role: amqp.RoleSender, First: b.First, Last: b.Last,
					Settled: true, State: b.State}, nil)
			}
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

package amqp_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"meterline/infra/servicebus-emulator/amqp"
)

// performatives has every registered struct with all fields set, plus
// minimal forms, as ReadFrame returns them (pointers, defaults filled in).
func performatives() []amqp.Frame {
	info := amqp.Map{amqp.Symbol("DeadLetterReason"): "why", amqp.Symbol("n"): int32(2)}
	fullErr := &amqp.Error{Condition: amqp.ErrCondMessageLockLost, Description: "lock lost", Info: info}
	src := &amqp.Source{
		Address: "queue-1/Subscriptions/s", Durable: 2, ExpiryPolicy: "never", Timeout: 30, Dynamic: true,
		DynamicNodeProperties: amqp.Map{amqp.Symbol("lifetime-policy"): &amqp.Described{Descriptor: uint64(0x2b), Value: []any{}}},
		DistributionMode:      "move",
		Filter: amqp.Map{amqp.Symbol("com.microsoft:session-filter"): &amqp.Described{
			Descriptor: uint64(0x0000_0137_0000_000c), Value: "session-1"}},
		DefaultOutcome: &amqp.Modified{DeliveryFailed: true},
		Outcomes:       []amqp.Symbol{"amqp:accepted:list", "amqp:rejected:list"},
		Capabilities:   []amqp.Symbol{"queue"},
	}
	tgt := &amqp.Target{Address: "queue-1", Durable: 1, ExpiryPolicy: "link-detach", Timeout: 5, Dynamic: true,
		DynamicNodeProperties: amqp.Map{"k": "v"}, Capabilities: []amqp.Symbol{"topic"}}
	amqpFrame := func(ch uint16, body any) amqp.Frame { return amqp.Frame{Type: amqp.FrameAMQP, Channel: ch, Body: body} }
	sasl := func(body any) amqp.Frame { return amqp.Frame{Type: amqp.FrameSASL, Body: body} }
	return []amqp.Frame{
		amqpFrame(0, &amqp.Open{ContainerID: "c", MaxFrameSize: math.MaxUint32, ChannelMax: math.MaxUint16}),
		amqpFrame(0, &amqp.Open{
			ContainerID: "emulator", Hostname: "localhost", MaxFrameSize: 65536, ChannelMax: 4999,
			IdleTimeout: 30 * time.Second, OutgoingLocales: []amqp.Symbol{"en-US"}, IncomingLocales: []amqp.Symbol{"en-US", "de"},
			OfferedCapabilities: []amqp.Symbol{"ANONYMOUS-RELAY"}, DesiredCapabilities: []amqp.Symbol{"x"},
			Properties: amqp.Map{amqp.Symbol("product"): "meterline", amqp.Symbol("user-agent"): "test"},
		}),
		amqpFrame(3, &amqp.Begin{NextOutgoingID: 0, IncomingWindow: 5000, OutgoingWindow: 5000, HandleMax: math.MaxUint32}),
		amqpFrame(3, &amqp.Begin{RemoteChannel: u16p(7), NextOutgoingID: 1 << 31, IncomingWindow: 1, OutgoingWindow: 2,
			HandleMax: 255, OfferedCapabilities: []amqp.Symbol{"a"}, DesiredCapabilities: []amqp.Symbol{"b"},
			Properties: amqp.Map{uint64(1): []any{}}}),
		amqpFrame(1, &amqp.Attach{Name: "l", Handle: 0, Role: amqp.RoleSender}),
		amqpFrame(1, &amqp.Attach{
			Name: "receiver-link", Handle: 12, Role: amqp.RoleReceiver, SndSettleMode: u8p(amqp.SndSettleModeMixed),
			RcvSettleMode: u8p(amqp.RcvSettleModeSecond), Source: src, Target: tgt,
			Unsettled: amqp.Map{amqp.BinaryKey("tag-1"): &amqp.Accepted{}}, IncompleteUnsettled: true,
			InitialDeliveryCount: u32p(0), MaxMessageSize: 256 * 1024,
			OfferedCapabilities: []amqp.Symbol{"o"}, DesiredCapabilities: []amqp.Symbol{"d"},
			Properties: amqp.Map{amqp.Symbol("com.microsoft:timeout"): uint32(60000)},
		}),
		amqpFrame(1, &amqp.Attach{Name: "s", Handle: 1, Role: amqp.RoleSender, Source: &amqp.Source{}, Target: &amqp.Target{}}),
		amqpFrame(2, &amqp.Flow{IncomingWindow: 100, NextOutgoingID: 1, OutgoingWindow: 100}),
		amqpFrame(2, &amqp.Flow{NextIncomingID: u32p(5), IncomingWindow: math.MaxUint32, NextOutgoingID: 0, OutgoingWindow: 9,
			Handle: u32p(0), DeliveryCount: u32p(300), LinkCredit: u32p(1000), Available: u32p(0), Drain: true, Echo: true,
			Properties: amqp.Map{"p": true}}),
		{Type: amqp.FrameAMQP, Channel: 4, Body: &amqp.Transfer{Handle: 0}},
		{Type: amqp.FrameAMQP, Channel: 4, Body: &amqp.Transfer{
			Handle: 2, DeliveryID: u32p(77), DeliveryTag: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
			MessageFormat: u32p(0x80013700), Settled: true, More: true, RcvSettleMode: u8p(1),
			State: &amqp.Received{SectionNumber: 1, SectionOffset: 1 << 40}, Resume: true, Aborted: true, Batchable: true,
		}, Payload: []byte("\x00\x53\x75\xa0\x03abc")},
		amqpFrame(4, &amqp.Transfer{Handle: 1, State: &amqp.Accepted{}}),
		amqpFrame(4, &amqp.Transfer{Handle: 1, State: &amqp.Rejected{Error: fullErr}}),
		amqpFrame(4, &amqp.Transfer{Handle: 1, State: &amqp.Released{}}),
		amqpFrame(4, &amqp.Transfer{Handle: 1, State: &amqp.Modified{DeliveryFailed: true, UndeliverableHere: true,
			MessageAnnotations: amqp.Map{amqp.Symbol("x-opt-x"): int64(1)}}}),
		amqpFrame(5, &amqp.Disposition{Role: amqp.RoleReceiver, First: 0}),
		amqpFrame(5, &amqp.Disposition{Role: amqp.RoleSender, First: 10, Last: u32p(20), Settled: true,
			State: &amqp.Rejected{}, Batchable: true}),
		amqpFrame(1, &amqp.Detach{Handle: 0}),
		amqpFrame(1, &amqp.Detach{Handle: 9, Closed: true, Error: fullErr}),
		amqpFrame(1, &amqp.End{}),
		amqpFrame(1, &amqp.End{Error: &amqp.Error{Condition: amqp.ErrCondWindowViolation}}),
		amqpFrame(0, &amqp.Close{}),
		amqpFrame(0, &amqp.Close{Error: fullErr}),
		sasl(&amqp.SASLMechanisms{Mechanisms: []amqp.Symbol{"ANONYMOUS", "PLAIN"}}),
		sasl(&amqp.SASLInit{Mechanism: "ANONYMOUS"}),
		sasl(&amqp.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00user\x00pass"), Hostname: "localhost"}),
		sasl(&amqp.SASLChallenge{Challenge: []byte{}}),
		sasl(&amqp.SASLChallenge{Challenge: []byte{1, 2}}),
		sasl(&amqp.SASLResponse{Response: []byte{3}}),
		sasl(&amqp.SASLOutcome{Code: amqp.SASLCodeOK}),
		sasl(&amqp.SASLOutcome{Code: amqp.SASLCodeAuth, AdditionalData: []byte("no")}),
		{Type: amqp.FrameAMQP, Channel: 0},   // heartbeat
		{Type: amqp.FrameAMQP, Channel: 700}, // empty frames may name any channel
	}
}

func TestFrameRoundTripEveryPerformative(t *testing.T) {
	for _, want := range performatives() {
		b, err := amqp.AppendFrame(nil, want)
		if err != nil {
			t.Fatalf("AppendFrame(%#v): %v", want.Body, err)
		}
		got, err := amqp.ReadFrame(bufio.NewReader(bytes.NewReader(b)), 0)
		if err != nil {
			t.Fatalf("ReadFrame(% x) of %T: %v", b, want.Body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("frame round trip of %T:\n got %#v\nwant %#v", want.Body, got, want)
		}
		// The same body also round-trips through Marshal/Unmarshal.
		if want.Body != nil {
			if v := roundTrip(t, want.Body); !reflect.DeepEqual(v, want.Body) {
				t.Errorf("Unmarshal(Marshal(%#v)) = %#v", want.Body, v)
			}
		}
	}
}

// TestValueFormsEncodeLikePointers: AppendFrame takes Open as well as *Open.
func TestValueFormsEncodeLikePointers(t *testing.T) {
	for _, f := range performatives() {
		if f.Body == nil {
			continue
		}
		byPtr, err := amqp.Marshal(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		val := reflect.ValueOf(f.Body).Elem().Interface()
		byVal, err := amqp.Marshal(val)
		if err != nil {
			t.Fatalf("Marshal(%T): %v", val, err)
		}
		if !bytes.Equal(byPtr, byVal) {
			t.Errorf("%T encodes as % x, its pointer as % x", val, byVal, byPtr)
		}
	}
}

func TestZeroMeansSpecDefault(t *testing.T) {
	v := roundTrip(t, &amqp.Open{ContainerID: "c"})
	want := &amqp.Open{ContainerID: "c", MaxFrameSize: math.MaxUint32, ChannelMax: math.MaxUint16}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("zero Open decodes as %#v, want %#v", v, want)
	}
	v = roundTrip(t, &amqp.Begin{IncomingWindow: 1})
	if b := v.(*amqp.Begin); b.HandleMax != math.MaxUint32 {
		t.Errorf("zero Begin.HandleMax decodes as %d", b.HandleMax)
	}
	// An explicit channel-max 0 on the wire is honoured on decode.
	got, _, err := amqp.Unmarshal(unhex(t, "00 53 10 c0 09 04 a1 01 'c' 40 40 60 00 00"))
	if err != nil {
		t.Fatal(err)
	}
	if o := got.(*amqp.Open); o.ChannelMax != 0 || o.MaxFrameSize != math.MaxUint32 {
		t.Errorf("open with channel-max 0 decodes as %#v", o)
	}
}

func TestGoldenFrames(t *testing.T) {
	if string(amqp.ProtoAMQP[:]) != "AMQP\x00\x01\x00\x00" || string(amqp.ProtoSASL[:]) != "AMQP\x03\x01\x00\x00" {
		t.Fatalf("protocol headers % x / % x", amqp.ProtoAMQP, amqp.ProtoSASL)
	}
	cases := []struct {
		name string
		f    amqp.Frame
		hex  string
	}{
		// Spec 2.4.5: an empty frame is 8 bytes with doff 2.
		{"heartbeat", amqp.Frame{}, "00 00 00 08 02 00 00 00"},
		{"open", amqp.Frame{Body: &amqp.Open{ContainerID: "c"}},
			"00 00 00 11 02 00 00 00 | 00 53 10 c0 04 01 a1 01 'c'"},
		{"disposition", amqp.Frame{Channel: 1, Body: &amqp.Disposition{Role: amqp.RoleReceiver, First: 5, Settled: true, State: &amqp.Accepted{}}},
			"00 00 00 17 02 00 00 01 | 00 53 15 c0 0a 05 41 52 05 40 41 00 53 24 45"},
		{"sasl-mechanisms", amqp.Frame{Type: amqp.FrameSASL, Body: &amqp.SASLMechanisms{Mechanisms: []amqp.Symbol{"ANONYMOUS"}}},
			"00 00 00 1c 02 01 00 00 | 00 53 40 c0 0f 01 e0 0c 01 a3 09 'ANONYMOUS'"},
		{"transfer", amqp.Frame{Channel: 2, Body: &amqp.Transfer{Handle: 0, DeliveryID: u32p(0), DeliveryTag: []byte{7}, MessageFormat: u32p(0)},
			Payload: []byte{0x00, 0x53, 0x77, 0x40}},
			"00 00 00 18 02 00 00 02 | 00 53 14 c0 07 04 43 43 a0 01 07 43 | 00 53 77 40"},
		{"close", amqp.Frame{Body: &amqp.Close{}}, "00 00 00 0c 02 00 00 00 | 00 53 18 45"},
	}
	for _, c := range cases {
		want := unhex(t, c.hex)
		got, err := amqp.AppendFrame(nil, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: AppendFrame = % x, want % x", c.name, got, want)
		}
		var w bytes.Buffer
		if err := amqp.WriteFrame(&w, c.f); err != nil || !bytes.Equal(w.Bytes(), want) {
			t.Errorf("%s: WriteFrame wrote % x, %v", c.name, w.Bytes(), err)
		}
	}
}

func TestReadProtoHeader(t *testing.T) {
	r := bytes.NewReader(append(amqp.ProtoSASL[:], 0xff))
	h, err := amqp.ReadProtoHeader(r)
	if err != nil || h != amqp.ProtoSASL {
		t.Fatalf("ReadProtoHeader = % x, %v", h, err)
	}
	if r.Len() != 1 {
		t.Fatalf("ReadProtoHeader read %d bytes past the header", 1-r.Len())
	}
	if _, err := amqp.ReadProtoHeader(strings.NewReader("AMQP")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short header: %v", err)
	}
}

// TestReadFrameAlternativeEncodings: peers may use symbolic descriptors,
// list32 and wide integers, and an extended header.
func TestReadFrameAlternativeEncodings(t *testing.T) {
	body := unhex(t, "00 a3 0e 'amqp:open:list' d0 00 00 00 0d 00 00 00 03 a1 01 'c' 40 70 00 00 02 00")
	frame := append(unhex(t, "00 00 00 00 03 00 00 00 de ad be ef"), body...) // doff 3: 4 bytes of extended header
	frame[3] = byte(len(frame))
	f, err := amqp.ReadFrame(bufio.NewReader(bytes.NewReader(frame)), 512)
	if err != nil {
		t.Fatal(err)
	}
	want := &amqp.Open{ContainerID: "c", MaxFrameSize: 512, ChannelMax: math.MaxUint16}
	if !reflect.DeepEqual(f.Body, want) || f.Payload != nil {
		t.Fatalf("got %#v payload % x, want %#v", f.Body, f.Payload, want)
	}

	// A single symbol where a "multiple" field allows an array.
	got, _, err := amqp.Unmarshal(unhex(t, "00 53 40 c0 0c 01 a3 09 'ANONYMOUS'"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &amqp.SASLMechanisms{Mechanisms: []amqp.Symbol{"ANONYMOUS"}}) {
		t.Fatalf("single-symbol mechanisms decode as %#v", got)
	}
}

func TestReadFrameSequenceAndOwnership(t *testing.T) {
	var stream []byte
	frames := performatives()
	for _, f := range frames {
		var err error
		if stream, err = amqp.AppendFrame(stream, f); err != nil {
			t.Fatal(err)
		}
	}
	// A small reader buffer forces both the in-place and the own-buffer path.
	r := bufio.NewReaderSize(bytes.NewReader(stream), 64)
	var got []amqp.Frame
	for {
		f, err := amqp.ReadFrame(r, 0)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
	}
	// Frames read earlier must not have been overwritten by later reads.
	if !reflect.DeepEqual(got, frames) {
		t.Fatalf("reading a stream of %d frames gave different frames", len(frames))
	}
}

func TestReadFrameLargePayload(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB, past the reader buffer
	want := amqp.Frame{Channel: 1, Body: &amqp.Transfer{Handle: 3, DeliveryTag: []byte{1}}, Payload: payload}
	b, err := amqp.AppendFrame(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := amqp.ReadFrame(bufio.NewReader(bytes.NewReader(b)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("large transfer does not round-trip")
	}
}

func TestReadFrameErrors(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		max  uint32
		cond amqp.Symbol
	}{
		{"size below header", "00 00 00 07 02 00 00 00", 0, amqp.ErrCondFramingError},
		{"size above max", "00 00 02 01 02 00 00 00", 512, amqp.ErrCondFramingError},
		{"doff below 2", "00 00 00 08 01 00 00 00", 0, amqp.ErrCondFramingError},
		{"doff beyond frame", "00 00 00 08 03 00 00 00", 0, amqp.ErrCondFramingError},
		{"unknown frame type", "00 00 00 08 02 07 00 00", 0, amqp.ErrCondFramingError},
		{"body not described", "00 00 00 09 02 00 00 00 45", 0, amqp.ErrCondDecodeError},
		{"unknown performative", "00 00 00 0c 02 00 00 00 00 53 30 45", 0, amqp.ErrCondNotImplemented},
		{"unknown symbolic performative", "00 00 00 0f 02 00 00 00 00 a3 03 'foo' 45", 0, amqp.ErrCondNotImplemented},
		{"SASL body in AMQP frame", "00 00 00 0c 02 00 00 00 00 53 44 45", 0, amqp.ErrCondNotImplemented},
		{"AMQP body in SASL frame", "00 00 00 0c 02 01 00 00 00 53 10 45", 0, amqp.ErrCondNotImplemented},
		{"outcome as performative", "00 00 00 0c 02 00 00 00 00 53 24 45", 0, amqp.ErrCondNotImplemented},
		{"performative not a list", "00 00 00 0c 02 00 00 00 00 53 10 40", 0, amqp.ErrCondDecodeError},
		{"wrong field type", "00 00 00 0f 02 00 00 00 00 53 14 c0 02 01 41", 0, amqp.ErrCondDecodeError},
		{"uint out of range", "00 00 00 17 02 00 00 00 00 53 11 c0 0a 01 80 00 00 00 01 00 00 00 00", 0, amqp.ErrCondDecodeError},
		{"truncated list", "00 00 00 0e 02 00 00 00 00 53 14 c0 05 01", 0, amqp.ErrCondDecodeError},
		{"list overruns frame", "00 00 00 10 02 00 00 00 00 53 14 c0 09 01 43 00", 0, amqp.ErrCondDecodeError},
	}
	for _, c := range cases {
		in := unhex(t, c.hex)
		next := unhex(t, "00 00 00 08 02 00 00 00")
		r := bufio.NewReader(bytes.NewReader(append(in, next...)))
		_, err := amqp.ReadFrame(r, c.max)
		var fe *amqp.FrameError
		if !errors.As(err, &fe) || fe.Condition != c.cond {
			t.Errorf("%s: error %v, want condition %s", c.name, err, c.cond)
			continue
		}
		// Body errors consume the frame and nothing more.
		if c.cond != amqp.ErrCondFramingError {
			if f, err := amqp.ReadFrame(r, c.max); err != nil || f.Body != nil {
				t.Errorf("%s: the following heartbeat read as %#v, %v", c.name, f, err)
			}
		}
	}
}

func TestReadFrameEndOfStream(t *testing.T) {
	if _, err := amqp.ReadFrame(bufio.NewReader(bytes.NewReader(nil)), 0); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	for _, in := range []string{"00 00 00", "00 00 00 0c 02 00 00 00 00 53"} {
		_, err := amqp.ReadFrame(bufio.NewReader(bytes.NewReader(unhex(t, in))), 0)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("stream %s: %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
	// A frame larger than the reader's buffer, cut short.
	b, _ := amqp.AppendFrame(nil, amqp.Frame{Body: &amqp.Transfer{}, Payload: make([]byte, 10000)})
	_, err := amqp.ReadFrame(bufio.NewReaderSize(bytes.NewReader(b[:9000]), 16), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated large frame: %v, want io.ErrUnexpectedEOF", err)
	}
}

package amqp_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"meterline/infra/servicebus-emulator/amqp"
)

func u8p(v uint8) *uint8    { return &v }
func u16p(v uint16) *uint16 { return &v }
func u32p(v uint32) *uint32 { return &v }

// unhex turns "00 53 10" (spaces and | ignored, 'x' quoted ASCII allowed) into bytes.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for _, tok := range strings.Fields(strings.ReplaceAll(s, "|", " ")) {
		if strings.HasPrefix(tok, "'") && strings.HasSuffix(tok, "'") && len(tok) >= 2 {
			out = append(out, tok[1:len(tok)-1]...)
			continue
		}
		b, err := hex.DecodeString(tok)
		if err != nil {
			t.Fatalf("bad hex %q: %v", tok, err)
		}
		out = append(out, b...)
	}
	return out
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := amqp.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%#v): %v", v, err)
	}
	got, rest, err := amqp.Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal(% x) of %#v: %v", b, v, err)
	}
	if len(rest) != 0 {
		t.Fatalf("Unmarshal(% x) left % x", b, rest)
	}
	// A second encoding must be byte-identical: the codec is canonical.
	b2, err := amqp.Marshal(got)
	if err != nil {
		t.Fatalf("re-Marshal(%#v): %v", got, err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("re-encoding differs:\n first % x\nsecond % x", b, b2)
	}
	return got
}

func TestRoundTripScalars(t *testing.T) {
	ts := time.UnixMilli(1700000000123).UTC()
	values := []any{
		nil, true, false,
		uint8(0), uint8(255), uint16(0), uint16(65535),
		uint32(0), uint32(1), uint32(255), uint32(256), uint32(math.MaxUint32),
		uint64(0), uint64(200), uint64(1 << 40), uint64(math.MaxUint64),
		int8(-128), int8(127), int16(-32768), int16(12345),
		int32(0), int32(-1), int32(127), int32(-128), int32(128), int32(math.MinInt32), int32(math.MaxInt32),
		int64(0), int64(-128), int64(-129), int64(math.MinInt64), int64(math.MaxInt64),
		float32(1.5), float32(math.Inf(-1)), float64(-2.25), math.MaxFloat64,
		amqp.Char('€'), ts, time.UnixMilli(-5).UTC(),
		amqp.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		amqp.Decimal32{1, 2, 3, 4}, amqp.Decimal64{8, 7, 6, 5, 4, 3, 2, 1}, amqp.Decimal128{15: 9},
		[]byte{}, []byte{0, 1, 2}, bytes.Repeat([]byte{7}, 300),
		"", "héllo", strings.Repeat("s", 256),
		amqp.Symbol(""), amqp.Symbol("amqp:accepted:list"), amqp.Symbol(strings.Repeat("y", 1000)),
	}
	for _, v := range values {
		if got := roundTrip(t, v); !reflect.DeepEqual(got, v) {
			t.Errorf("round trip of %#v gave %#v", v, got)
		}
	}
}

func TestRoundTripCompounds(t *testing.T) {
	ts := time.UnixMilli(1234567).UTC()
	values := []any{
		[]any{},
		[]any{uint32(1), "two", amqp.Symbol("three"), nil, []any{true}},
		[]any{bytes.Repeat([]byte{1}, 300)}, // list32
		amqp.Map{},
		amqp.Map{amqp.Symbol("x-opt-sequence-number"): int64(42), "s": "v", uint64(7): nil, int64(-1): amqp.Map{"in": []any{}}},
		amqp.Map{amqp.BinaryKey("\x00\x01"): uint32(3)},
		[]amqp.Symbol{}, []amqp.Symbol{"a", "bb"}, []amqp.Symbol{amqp.Symbol(strings.Repeat("z", 256))},
		[]string{"x", ""}, [][]byte{{1}, {}},
		[]amqp.UUID{{1}, {2}}, []int64{-1, math.MaxInt64}, []uint64{0, 1, math.MaxUint64},
		[]int32{-5, 1 << 20}, []uint32{0, 7, math.MaxUint32}, []time.Time{ts}, []bool{true, false, true},
		make([]uint32, 100), // array32: 400 bytes of elements
		amqp.Array{Elems: []any{uint8(1), uint8(2)}},
		amqp.Array{Elems: []any{int16(-1)}},
		amqp.Array{Elems: []any{float64(1), float64(2)}},
		amqp.Array{Elems: []any{amqp.Char('a')}},
		amqp.Array{Elems: []any{[]any{uint32(1)}, []any{}}},
		amqp.Array{Elems: []any{amqp.Map{"k": "v"}}},
		amqp.Array{Elems: []any{[]amqp.Symbol{"a"}, []amqp.Symbol{"b", "c"}}},
		amqp.Array{Elems: []any{nil, nil}},
		amqp.Array{Elems: []any{
			&amqp.Described{Descriptor: amqp.Symbol("d"), Value: "one"},
			&amqp.Described{Descriptor: amqp.Symbol("d"), Value: "two"},
		}},
		&amqp.Described{Descriptor: uint64(0x77), Value: []any{"x"}},
		&amqp.Described{Descriptor: amqp.Symbol("apache.org:selector-filter:string"), Value: "a = 1"},
		&amqp.Described{Descriptor: uint64(0x0000_0137_0000_000c), Value: "session-1"},
	}
	for _, v := range values {
		if got := roundTrip(t, v); !reflect.DeepEqual(got, v) {
			t.Errorf("round trip of %#v gave %#v", v, got)
		}
	}
}

// TestEncodeConvenienceTypes covers Go types that encode but decode as
// another Go type.
func TestEncodeConvenienceTypes(t *testing.T) {
	cases := []struct {
		in, want any
	}{
		{int(-3), int64(-3)},
		{uint(300), uint64(300)},
		{map[string]any{"a": int32(1)}, amqp.Map{"a": int32(1)}},
		{map[amqp.Symbol]any{"a": nil}, amqp.Map{amqp.Symbol("a"): nil}},
		{amqp.RoleReceiver, true},
		{amqp.Described{Descriptor: uint64(0x70), Value: []any{}}, &amqp.Described{Descriptor: uint64(0x70), Value: []any{}}},
		{[]byte(nil), nil},
		{[]any(nil), nil},
		{amqp.Map(nil), nil},
		{[]amqp.Symbol(nil), nil},
		{amqp.Array{Elems: []any{int(1)}}, []int64{1}},
		{amqp.Array{Elems: []any{true, false}}, []bool{true, false}},
		{amqp.Array{Elems: []any{uint32(3)}}, []uint32{3}},
		{amqp.Array{Elems: []any{amqp.Symbol("s")}}, []amqp.Symbol{"s"}},
		{amqp.Array{}, amqp.Array{Elems: []any{}}},
	}
	for _, c := range cases {
		b, err := amqp.Marshal(c.in)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", c.in, err)
		}
		got, _, err := amqp.Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(% x): %v", b, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%#v encoded as % x decodes to %#v, want %#v", c.in, b, got, c.want)
		}
	}
}

// TestDecodeEveryEncoding decodes each encoding the spec allows for a
// type, not just the one the encoder picks.
func TestDecodeEveryEncoding(t *testing.T) {
	uuid := amqp.UUID{0: 0xde, 15: 0xad}
	cases := []struct {
		hex  string
		want any
	}{
		{"40", nil},
		{"41", true}, {"42", false}, {"56 01", true}, {"56 00", false},
		{"50 ff", uint8(255)},
		{"60 01 02", uint16(0x0102)},
		{"43", uint32(0)}, {"52 07", uint32(7)}, {"70 00 00 01 00", uint32(256)},
		{"44", uint64(0)}, {"53 07", uint64(7)}, {"80 00 00 00 01 00 00 00 00", uint64(1 << 32)},
		{"51 ff", int8(-1)},
		{"61 ff fe", int16(-2)},
		{"54 ff", int32(-1)}, {"71 ff ff ff fe", int32(-2)},
		{"55 80", int64(-128)}, {"81 ff ff ff ff ff ff ff fd", int64(-3)},
		{"72 3f c0 00 00", float32(1.5)},
		{"82 40 00 00 00 00 00 00 00", float64(2)},
		{"73 00 00 20 ac", amqp.Char('€')},
		{"83 00 00 00 00 00 00 03 e8", time.Unix(1, 0).UTC()},
		{"98 de 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ad", uuid},
		{"74 01 02 03 04", amqp.Decimal32{1, 2, 3, 4}},
		{"a0 02 01 02", []byte{1, 2}}, {"b0 00 00 00 02 01 02", []byte{1, 2}},
		{"a1 03 'abc'", "abc"}, {"b1 00 00 00 03 'abc'", "abc"},
		{"a3 03 'sym'", amqp.Symbol("sym")}, {"b3 00 00 00 03 'sym'", amqp.Symbol("sym")},
		{"45", []any{}},
		{"c0 03 02 41 42", []any{true, false}},
		{"d0 00 00 00 06 00 00 00 02 41 42", []any{true, false}},
		{"c1 05 02 a3 01 'k' 41", amqp.Map{amqp.Symbol("k"): true}},
		{"d1 00 00 00 08 00 00 00 02 a1 01 'k' 43", amqp.Map{"k": uint32(0)}},
		{"c1 05 02 a0 01 ff 40", amqp.Map{amqp.BinaryKey("\xff"): nil}},
		{"e0 06 02 a3 01 'a' 01 'b'", []amqp.Symbol{"a", "b"}},
		{"f0 00 00 00 0e 00 00 00 02 b3 00 00 00 01 'a' 00 00 00 00", []amqp.Symbol{"a", ""}},
		{"e0 04 02 52 01 02", []uint32{1, 2}},
		{"e0 02 03 43", []uint32{0, 0, 0}},
		{"e0 04 02 53 01 02", []uint64{1, 2}},
		{"e0 02 02 44", []uint64{0, 0}},
		{"e0 04 02 54 ff 01", []int32{-1, 1}},
		{"e0 04 02 55 ff 01", []int64{-1, 1}},
		{"e0 04 02 56 01 00", []bool{true, false}},
		{"e0 02 02 41", []bool{true, true}},
		{"e0 06 02 a1 01 'x' 01 'y'", []string{"x", "y"}},
		{"e0 06 02 a0 01 01 01 02", [][]byte{{1}, {2}}},
		{"e0 0a 01 83 00 00 00 00 00 00 00 02", []time.Time{time.UnixMilli(2).UTC()}},
		{"e0 12 01 98 de 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ad", []amqp.UUID{uuid}},
		{"e0 02 00 40", amqp.Array{Elems: []any{}}},
		{"e0 04 02 50 01 02", amqp.Array{Elems: []any{uint8(1), uint8(2)}}},
		{"e0 05 02 00 53 77 45", amqp.Array{Elems: []any{
			&amqp.Described{Descriptor: uint64(0x77), Value: []any{}},
			&amqp.Described{Descriptor: uint64(0x77), Value: []any{}},
		}}},
		{"00 53 77 45", &amqp.Described{Descriptor: uint64(0x77), Value: []any{}}},
		{"00 80 00 00 01 37 00 00 00 0c a1 01 's'", &amqp.Described{Descriptor: uint64(0x137_0000_000c), Value: "s"}},
		{"00 a3 03 'foo' 40", &amqp.Described{Descriptor: amqp.Symbol("foo"), Value: nil}},
		// Registered descriptors given as symbols or wide ulongs.
		{"00 a3 12 'amqp:accepted:list' 45", &amqp.Accepted{}},
		{"00 80 00 00 00 00 00 00 00 24 c0 01 00", &amqp.Accepted{}},
		{"00 53 26 d0 00 00 00 04 00 00 00 00", &amqp.Released{}},
		{"00 53 23 c0 04 02 43 53 05", &amqp.Received{SectionNumber: 0, SectionOffset: 5}},
	}
	for _, c := range cases {
		in := unhex(t, c.hex)
		got, rest, err := amqp.Unmarshal(append(in, 0xee))
		if err != nil {
			t.Errorf("Unmarshal(%s): %v", c.hex, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Unmarshal(%s) = %#v, want %#v", c.hex, got, c.want)
		}
		if !bytes.Equal(rest, []byte{0xee}) {
			t.Errorf("Unmarshal(%s) left % x, want ee", c.hex, rest)
		}
	}
}

func TestEncodePicksSmallestEncoding(t *testing.T) {
	cases := []struct {
		v   any
		hex string
	}{
		{uint32(0), "43"}, {uint32(255), "52 ff"}, {uint32(256), "70 00 00 01 00"},
		{uint64(0), "44"}, {uint64(9), "53 09"}, {uint64(256), "80 00 00 00 00 00 00 01 00"},
		{int32(-128), "54 80"}, {int32(128), "71 00 00 00 80"},
		{int64(127), "55 7f"}, {int64(-129), "81 ff ff ff ff ff ff ff 7f"},
		{true, "41"}, {false, "42"},
		{"ab", "a1 02 'ab'"}, {amqp.Symbol("ab"), "a3 02 'ab'"}, {[]byte{9}, "a0 01 09"},
		{[]any{}, "45"}, {[]any{nil}, "c0 02 01 40"},
		{amqp.Map{}, "c1 01 00"},
		{[]amqp.Symbol{"ab"}, "e0 05 01 a3 02 'ab'"},
		{[]uint32{5}, "e0 06 01 70 00 00 00 05"},
		// Map entries are ordered by encoded key.
		{amqp.Map{"b": nil, "a": nil, amqp.Symbol("c"): nil}, "c1 0d 06 a1 01 'a' 40 a1 01 'b' 40 a3 01 'c' 40"},
		{&amqp.Accepted{}, "00 53 24 45"},
		{amqp.Accepted{}, "00 53 24 45"},
		{&amqp.Rejected{}, "00 53 25 45"},
		{&amqp.Modified{UndeliverableHere: true}, "00 53 27 c0 03 02 40 41"},
		{&amqp.Error{Condition: "amqp:not-found"}, "00 53 1d c0 11 01 a3 0e 'amqp:not-found'"},
		{(*amqp.Error)(nil), "40"},
	}
	for _, c := range cases {
		got, err := amqp.Marshal(c.v)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", c.v, err)
		}
		if want := unhex(t, c.hex); !bytes.Equal(got, want) {
			t.Errorf("Marshal(%#v) = % x, want % x", c.v, got, want)
		}
	}
}

func TestAppendValueAppends(t *testing.T) {
	b, err := amqp.AppendValue([]byte{0xaa}, uint32(1))
	if err != nil || !bytes.Equal(b, []byte{0xaa, 0x52, 0x01}) {
		t.Fatalf("AppendValue = % x, %v", b, err)
	}
	b, err = amqp.AppendValue(b, struct{}{})
	var ee *amqp.EncodeError
	if !errors.As(err, &ee) {
		t.Fatalf("AppendValue(struct{}{}) error = %v, want *EncodeError", err)
	}
	if !bytes.Equal(b, []byte{0xaa, 0x52, 0x01}) {
		t.Fatalf("failed AppendValue changed the buffer: % x", b)
	}
}

func TestEncodeErrors(t *testing.T) {
	cyclic := make([]any, 1)
	cyclic[0] = cyclic
	bad := []any{
		struct{}{},
		make(chan int),
		cyclic,
		amqp.Array{Elems: []any{uint8(1), "mixed"}},
		amqp.Array{Elems: []any{struct{}{}}},
		amqp.Array{Elems: []any{&amqp.Described{Descriptor: uint64(1)}, &amqp.Described{Descriptor: uint64(2)}}},
		amqp.Array{Elems: []any{[]any(nil), []any{}}},
		&amqp.Described{Value: "no descriptor"},
		[]any{struct{}{}},
		amqp.Map{"k": struct{}{}},
		amqp.Map{"a": nil, "k": struct{}{}},
		&amqp.Open{IdleTimeout: -time.Second},
		&amqp.Transfer{State: struct{}{}},
		[][]byte{nil},
	}
	for _, v := range bad {
		if b, err := amqp.Marshal(v); err == nil {
			t.Errorf("Marshal(%#v) = % x, want an error", v, b)
		}
	}
}

package amqp_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"meterline/infra/servicebus-emulator/amqp"
)

// allocated reports the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestMalformedValuesAreErrors(t *testing.T) {
	cases := []struct {
		name, hex, want string // want: a substring of the error
	}{
		{"empty", "", "truncated"},
		{"invalid constructor", "ff", "invalid constructor 0xff"},
		{"reserved constructor", "90", "invalid constructor 0x90"},
		{"truncated uint", "70 00 00", "truncated"},
		{"truncated string", "a1 05 'abc'", "truncated"},
		{"binary claims 4 GiB", "b0 ff ff ff ff 01 02", "truncated"},
		{"string claims 4 GiB", "b1 ff ff ff ff", "truncated"},
		{"list claims 4 GiB", "d0 ff ff ff ff 00 00 00 01 40", "truncated"},
		{"list count beyond bytes", "d0 00 00 00 05 ff ff ff ff 40", "list count 4294967295 exceeds"},
		{"list size below count", "d0 00 00 00 02 00 00", "size 2 too small"},
		{"list8 size zero", "c0 00", "size 0 too small"},
		{"list trailing bytes", "c0 03 01 40 40", "after the last list element"},
		{"map odd count", "c1 02 01 40", "odd element count"},
		{"map list key", "c1 03 02 45 40", "map key of type []interface {}"},
		{"map array key", "c1 05 02 e0 02 00 40 40", "map key of type amqp.Array"},
		{"map NaN key", "c1 0b 02 82 7f f8 00 00 00 00 00 01 40", "NaN map key"},
		{"array of 4G nulls", "f0 00 00 00 05 ff ff ff ff 40", "zero-width elements"},
		{"array of 4G uints", "f0 00 00 00 09 ff ff ff ff 70 00 00 00 01", "array count 4294967295 exceeds"},
		{"array bad element ctor", "e0 03 01 ff 00", "invalid array element constructor"},
		{"array nested described", "e0 05 01 00 53 01 00", "invalid array element constructor 0x00"},
		{"array null descriptor", "e0 04 01 00 40 40", "null descriptor"},
		{"array trailing", "e0 04 01 52 01 02", "after the last array element"},
		{"boolean byte 2", "56 02", "boolean byte 0x02"},
		{"described without value", "00 53 10", "truncated"},
		{"described null descriptor", "00 40 40", "null descriptor"},
		{"open not a list", "00 53 10 a1 01 'c'", "not a list"},
		{"open field wrong type", "00 53 10 c0 02 01 41", "field 1: amqp: decode: constructor 0x41 where string expected"},
		{"begin remote-channel too big", "00 53 11 c0 06 01 70 00 01 00 00", "value 65536 out of range"},
		{"attach target of wrong type", "00 53 12 c0 0d 07 a1 01 'l' 43 42 40 40 40 00 53 28 45", "*amqp.Source where target expected"},
		{"disposition state not a state", "00 53 15 c0 07 05 41 43 40 40 a1 00", "string where delivery state expected"},
		{"mechanisms of uints", "00 53 40 c0 05 01 e0 02 01 43", "where symbols expected"},
		{"error condition missing type", "00 53 1d c0 02 01 43", "where symbol expected"},
	}
	for _, c := range cases {
		in := unhex(t, c.hex)
		v, _, err := amqp.Unmarshal(in)
		var de *amqp.DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: Unmarshal(% x) = %#v, %v; want a *DecodeError", c.name, in, v, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

func TestNestingIsBounded(t *testing.T) {
	// 100 lists, each holding the next: list8 sizes cannot hold that, so use list32.
	var in []byte
	for i := 0; i < 100; i++ {
		in = append(in, 0xd0, 0, 0, 0, 0, 0, 0, 0, 1)
	}
	in = append(in, 0x40)
	for i := 0; i < 100; i++ {
		size := len(in) - i*9 - 5
		p := i * 9
		in[p+1], in[p+2], in[p+3], in[p+4] = byte(size>>24), byte(size>>16), byte(size>>8), byte(size)
	}
	if _, _, err := amqp.Unmarshal(in); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("100 nested lists: %v, want a nesting error", err)
	}
	// 60 levels are fine.
	shallow := in[40*9:]
	if _, _, err := amqp.Unmarshal(shallow); err != nil {
		t.Errorf("60 nested lists: %v", err)
	}
	// Descriptors of descriptors of ...
	chain := append(bytes.Repeat([]byte{0x00}, 1000), 0x40, 0x40)
	if _, _, err := amqp.Unmarshal(chain); err == nil {
		t.Errorf("1000 nested descriptors decoded")
	}
	// Arrays of arrays.
	if _, _, err := amqp.Unmarshal(bytes.Repeat([]byte{0xe0, 0x01, 0x01}, 200)); err == nil {
		t.Errorf("200 nested arrays decoded")
	}
}

func TestLengthClaimsDoNotAllocate(t *testing.T) {
	claims := [][]byte{
		unhex(t, "b0 ff ff ff ff 01 02"),
		unhex(t, "d0 ff ff ff ff ff ff ff ff"),
		unhex(t, "f0 00 00 00 05 ff ff ff ff 40"),
		unhex(t, "f0 00 00 00 05 ff ff ff ff 45"),
		unhex(t, "d1 00 00 00 04 ff ff ff fe"),
	}
	n := allocated(func() {
		for _, in := range claims {
			_, _, _ = amqp.Unmarshal(in)
		}
	})
	if n > 64<<10 {
		t.Errorf("decoding hostile length claims allocated %d bytes", n)
	}

	// A frame header claiming 4 GiB followed by 100 bytes and the end of the stream.
	frame := append(unhex(t, "ff ff ff ff 02 00 00 00 00 53 14 45"), make([]byte, 100)...)
	var err error
	n = allocated(func() {
		_, err = amqp.ReadFrame(bufio.NewReader(bytes.NewReader(frame)), 0)
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("4 GiB frame claim: %v, want io.ErrUnexpectedEOF", err)
	}
	if n > 1<<20 {
		t.Errorf("a 4 GiB frame claim with 100 bytes behind it allocated %d bytes", n)
	}
}

func TestErrorMessages(t *testing.T) {
	var err error = &amqp.Error{Condition: amqp.ErrCondNotFound, Description: "queue q"}
	if got := err.Error(); got != "amqp error amqp:not-found: queue q" {
		t.Errorf("Error.Error() = %q", got)
	}
	if got := (&amqp.Error{Condition: amqp.ErrCondInternalError}).Error(); got != "amqp error amqp:internal-error" {
		t.Errorf("Error.Error() without description = %q", got)
	}
	fe := &amqp.FrameError{Condition: amqp.ErrCondFramingError, Description: "bad size"}
	if got := fe.Error(); got != "amqp: amqp:connection:framing-error: bad size" {
		t.Errorf("FrameError.Error() = %q", got)
	}
	if amqp.RoleReceiver.String() != "receiver" || amqp.RoleSender.String() != "sender" {
		t.Errorf("Role strings %s / %s", amqp.RoleReceiver, amqp.RoleSender)
	}
	_, err = amqp.Marshal(make(chan int))
	if err == nil || !strings.HasPrefix(err.Error(), "amqp: encode: no AMQP encoding for Go type chan int") {
		t.Errorf("encode error %v", err)
	}
}

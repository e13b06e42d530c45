package amqp_test

import (
	"bufio"
	"bytes"
	"testing"

	"meterline/infra/servicebus-emulator/amqp"
)

// The fuzz properties: any input gives a value or an error (never a panic),
// and whatever decodes re-encodes to a canonical form that decodes and
// re-encodes to the very same bytes.

func FuzzUnmarshal(f *testing.F) {
	for _, fr := range performatives() {
		if fr.Body != nil {
			b, err := amqp.Marshal(fr.Body)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{
		"40", "e0 06 02 a3 01 'a' 01 'b'", "c1 05 02 a3 01 'k' 41", "00 53 77 45",
		"f0 00 00 00 05 ff ff ff ff 40", "00 a3 12 'amqp:accepted:list' 45",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, rest, err := amqp.Unmarshal(data)
		if err != nil {
			return
		}
		if len(rest) >= len(data) {
			t.Fatalf("Unmarshal consumed nothing of % x", data)
		}
		checkCanonical(t, v)
	})
}

func checkCanonical(t *testing.T, v any) {
	t.Helper()
	b1, err := amqp.Marshal(v)
	if err != nil {
		t.Fatalf("decoded %#v does not encode: %v", v, err)
	}
	v2, rest, err := amqp.Unmarshal(b1)
	if err != nil || len(rest) != 0 {
		t.Fatalf("our encoding % x of %#v does not decode: %v (rest % x)", b1, v, err, rest)
	}
	b2, err := amqp.Marshal(v2)
	if err != nil {
		t.Fatalf("re-decoded %#v does not encode: %v", v2, err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("encoding is not stable:\n% x\n% x", b1, b2)
	}
}

func FuzzReadFrame(f *testing.F) {
	for _, fr := range performatives() {
		b, err := amqp.AppendFrame(nil, fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"00 00 00 08 02 00 00 00",
		"00 00 00 17 03 00 00 00 de ad be ef 00 a3 0e 'amqp:open:list' 45",
		"ff ff ff ff 02 00 00 00 00 53 14",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A 16-byte reader buffer sends most frames down the own-buffer path,
		// the default one down the in-place path.
		for _, size := range []int{16, 4096} {
			r := bufio.NewReaderSize(bytes.NewReader(data), size)
			for {
				fr, err := amqp.ReadFrame(r, 0)
				if err != nil {
					break
				}
				b1, err := amqp.AppendFrame(nil, fr)
				if err != nil {
					t.Fatalf("decoded frame %#v does not encode: %v", fr, err)
				}
				fr2, err := amqp.ReadFrame(bufio.NewReader(bytes.NewReader(b1)), 0)
				if err != nil {
					t.Fatalf("our frame % x does not decode: %v", b1, err)
				}
				b2, err := amqp.AppendFrame(nil, fr2)
				if err != nil || !bytes.Equal(b1, b2) {
					t.Fatalf("frame encoding is not stable (%v):\n% x\n% x", err, b1, b2)
				}
			}
		}
	})
}

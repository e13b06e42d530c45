package amqp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"
)

// Constructor codes (spec 1.6).
const (
	codeDescribed  = 0x00
	codeNull       = 0x40
	codeTrue       = 0x41
	codeFalse      = 0x42
	codeUint0      = 0x43
	codeUlong0     = 0x44
	codeList0      = 0x45
	codeUbyte      = 0x50
	codeByte       = 0x51
	codeSmallUint  = 0x52
	codeSmallUlong = 0x53
	codeSmallInt   = 0x54
	codeSmallLong  = 0x55
	codeBool       = 0x56
	codeUshort     = 0x60
	codeShort      = 0x61
	codeUint       = 0x70
	codeInt        = 0x71
	codeFloat      = 0x72
	codeChar       = 0x73
	codeDecimal32  = 0x74
	codeUlong      = 0x80
	codeLong       = 0x81
	codeDouble     = 0x82
	codeTimestamp  = 0x83
	codeDecimal64  = 0x84
	codeDecimal128 = 0x94
	codeUUID       = 0x98
	codeVbin8      = 0xa0
	codeStr8       = 0xa1
	codeSym8       = 0xa3
	codeVbin32     = 0xb0
	codeStr32      = 0xb1
	codeSym32      = 0xb3
	codeList8      = 0xc0
	codeMap8       = 0xc1
	codeList32     = 0xd0
	codeMap32      = 0xd1
	codeArray8     = 0xe0
	codeArray32    = 0xf0
)

// maxDepth bounds nesting of lists, maps, arrays and described values, in
// both directions, so hostile input or a cyclic Go value cannot exhaust the stack.
const maxDepth = 64

// Marshal returns the AMQP encoding of v.
func Marshal(v any) ([]byte, error) { return AppendValue(nil, v) }

// AppendValue appends the AMQP encoding of v to b. On error the returned
// slice is b truncated to its original length.
func AppendValue(b []byte, v any) ([]byte, error) {
	n := len(b)
	out, err := appendValue(b, v, 0)
	if err != nil {
		return b[:n], err
	}
	return out, nil
}

// composite is implemented by the pointer form of every registered struct.
type composite interface {
	appendTo(b []byte, depth int) ([]byte, error)
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, &EncodeError{Msg: "value nested too deeply"}
	}
	switch v := v.(type) {
	case nil:
		return append(b, codeNull), nil
	case bool:
		return appendBool(b, v), nil
	case uint8:
		return append(b, codeUbyte, v), nil
	case uint16:
		return binary.BigEndian.AppendUint16(append(b, codeUshort), v), nil
	case uint32:
		return appendUint(b, v), nil
	case uint64:
		return appendUlong(b, v), nil
	case uint:
		return appendUlong(b, uint64(v)), nil
	case int8:
		return append(b, codeByte, byte(v)), nil
	case int16:
		return binary.BigEndian.AppendUint16(append(b, codeShort), uint16(v)), nil
	case int32:
		return appendInt(b, v), nil
	case int64:
		return appendLong(b, v), nil
	case int:
		return appendLong(b, int64(v)), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, codeFloat), math.Float32bits(v)), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, codeDouble), math.Float64bits(v)), nil
	case Char:
		return binary.BigEndian.AppendUint32(append(b, codeChar), uint32(v)), nil
	case time.Time:
		return appendTimestamp(b, v), nil
	case UUID:
		return append(append(b, codeUUID), v[:]...), nil
	case Decimal32:
		return append(append(b, codeDecimal32), v[:]...), nil
	case Decimal64:
		return append(append(b, codeDecimal64), v[:]...), nil
	case Decimal128:
		return append(append(b, codeDecimal128), v[:]...), nil
	case []byte:
		if v == nil {
			return append(b, codeNull), nil
		}
		return appendVar(b, codeVbin8, codeVbin32, v)
	case BinaryKey:
		return appendVar(b, codeVbin8, codeVbin32, v)
	case string:
		return appendVar(b, codeStr8, codeStr32, v)
	case Symbol:
		return appendVar(b, codeSym8, codeSym32, v)
	case []any:
		if v == nil {
			return append(b, codeNull), nil
		}
		return appendList(b, v, depth)
	case Map:
		return appendMap(b, v, depth)
	case map[string]any:
		return appendMap(b, v, depth)
	case map[Symbol]any:
		return appendMap(b, v, depth)
	case Array:
		return appendArray(b, v.Elems, depth)
	case *Array:
		if v == nil {
			return append(b, codeNull), nil
		}
		return appendArray(b, v.Elems, depth)
	case []Symbol:
		return appendVarArray(b, codeSym8, codeSym32, v)
	case []string:
		return appendVarArray(b, codeStr8, codeStr32, v)
	case [][]byte:
		if v == nil {
			return append(b, codeNull), nil
		}
		for _, e := range v {
			if e == nil {
				return b, &EncodeError{Msg: "nil element in [][]byte array"}
			}
		}
		return appendVarArray(b, codeVbin8, codeVbin32, v)
	case []UUID:
		return appendFixedArray(b, codeUUID, v, func(b []byte, e UUID) []byte { return append(b, e[:]...) })
	case []int64:
		return appendFixedArray(b, codeLong, v, func(b []byte, e int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(e)) })
	case []uint64:
		return appendFixedArray(b, codeUlong, v, binary.BigEndian.AppendUint64)
	case []int32:
		return appendFixedArray(b, codeInt, v, func(b []byte, e int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(e)) })
	case []uint32:
		return appendFixedArray(b, codeUint, v, binary.BigEndian.AppendUint32)
	case []time.Time:
		return appendFixedArray(b, codeTimestamp, v, func(b []byte, e time.Time) []byte {
			return binary.BigEndian.AppendUint64(b, uint64(e.UnixMilli()))
		})
	case []bool:
		return appendFixedArray(b, codeBool, v, func(b []byte, e bool) []byte {
			if e {
				return append(b, 1)
			}
			return append(b, 0)
		})
	case *Described:
		if v == nil {
			return append(b, codeNull), nil
		}
		return appendDescribed(b, v.Descriptor, v.Value, depth)
	case Described:
		return appendDescribed(b, v.Descriptor, v.Value, depth)
	case Role:
		return appendBool(b, bool(v)), nil

	// Value forms of the registered structs.
	case Open:
		return v.appendTo(b, depth)
	case Begin:
		return v.appendTo(b, depth)
	case Attach:
		return v.appendTo(b, depth)
	case Flow:
		return v.appendTo(b, depth)
	case Transfer:
		return v.appendTo(b, depth)
	case Disposition:
		return v.appendTo(b, depth)
	case Detach:
		return v.appendTo(b, depth)
	case End:
		return v.appendTo(b, depth)
	case Close:
		return v.appendTo(b, depth)
	case Error:
		return v.appendTo(b, depth)
	case Source:
		return v.appendTo(b, depth)
	case Target:
		return v.appendTo(b, depth)
	case Accepted:
		return v.appendTo(b, depth)
	case Rejected:
		return v.appendTo(b, depth)
	case Released:
		return v.appendTo(b, depth)
	case Modified:
		return v.appendTo(b, depth)
	case Received:
		return v.appendTo(b, depth)
	case SASLMechanisms:
		return v.appendTo(b, depth)
	case SASLInit:
		return v.appendTo(b, depth)
	case SASLChallenge:
		return v.appendTo(b, depth)
	case SASLResponse:
		return v.appendTo(b, depth)
	case SASLOutcome:
		return v.appendTo(b, depth)
	case composite: // pointer forms; each handles its nil pointer
		return v.appendTo(b, depth)
	}
	return b, &EncodeError{Msg: fmt.Sprintf("no AMQP encoding for Go type %T", v)}
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, codeTrue)
	}
	return append(b, codeFalse)
}

func appendUint(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, codeUint0)
	case v < 256:
		return append(b, codeSmallUint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, codeUint), v)
}

func appendUlong(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, codeUlong0)
	case v < 256:
		return append(b, codeSmallUlong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, codeUlong), v)
}

func appendInt(b []byte, v int32) []byte {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		return append(b, codeSmallInt, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint32(append(b, codeInt), uint32(v))
}

func appendLong(b []byte, v int64) []byte {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		return append(b, codeSmallLong, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, codeLong), uint64(v))
}

func appendTimestamp(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(b, codeTimestamp), uint64(t.UnixMilli()))
}

// appendVar appends a binary, string or symbol with its length prefix.
func appendVar[T ~string | ~[]byte](b []byte, code8, code32 byte, v T) ([]byte, error) {
	if len(v) < 256 {
		b = append(b, code8, byte(len(v)))
		return append(b, v...), nil
	}
	if uint64(len(v)) > math.MaxUint32 {
		return b, &EncodeError{Msg: "value longer than 4 GiB"}
	}
	b = binary.BigEndian.AppendUint32(append(b, code32), uint32(len(v)))
	return append(b, v...), nil
}

// reserveCompound appends a 32-bit compound header (code, size, count) to be
// filled in by finishCompound once the body is written.
func reserveCompound(b []byte) ([]byte, int) {
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0), len(b)
}

// finishCompound fills the header reserved at start, switching to the 8-bit
// form (and moving the body down) when size and count fit in a byte.
func finishCompound(b []byte, start, count int, code8, code32 byte) ([]byte, error) {
	body := len(b) - start - 9
	if body+1 <= math.MaxUint8 && count <= math.MaxUint8 {
		b[start] = code8
		b[start+1] = byte(body + 1)
		b[start+2] = byte(count)
		copy(b[start+3:], b[start+9:])
		return b[:len(b)-6], nil
	}
	if uint64(body)+4 > math.MaxUint32 || uint64(count) > math.MaxUint32 {
		return b, &EncodeError{Msg: "compound value larger than 4 GiB"}
	}
	b[start] = code32
	binary.BigEndian.PutUint32(b[start+1:], uint32(body+4))
	binary.BigEndian.PutUint32(b[start+5:], uint32(count))
	return b, nil
}

func appendList(b []byte, l []any, depth int) ([]byte, error) {
	if len(l) == 0 {
		return append(b, codeList0), nil
	}
	b, start := reserveCompound(b)
	var err error
	for _, e := range l {
		if b, err = appendValue(b, e, depth+1); err != nil {
			return b, err
		}
	}
	return finishCompound(b, start, len(l), codeList8, codeList32)
}

// appendMap writes the entries in the order of their encoded keys (then
// values, for keys such as pointers that encode alike), so equal maps always
// encode to equal bytes. A nil map encodes as null.
func appendMap[K comparable](b []byte, m map[K]any, depth int) ([]byte, error) {
	if m == nil {
		return append(b, codeNull), nil
	}
	b, start := reserveCompound(b)
	var err error
	if len(m) <= 1 {
		for k, v := range m {
			if b, err = appendValue(b, k, depth+1); err != nil {
				return b, err
			}
			if b, err = appendValue(b, v, depth+1); err != nil {
				return b, err
			}
		}
		return finishCompound(b, start, 2*len(m), codeMap8, codeMap32)
	}
	// Encode each entry into scratch, sort, then copy into b.
	type entry struct{ off, keyEnd, end int }
	entries := make([]entry, 0, len(m))
	var scratch []byte
	for k, v := range m {
		e := entry{off: len(scratch)}
		if scratch, err = appendValue(scratch, k, depth+1); err != nil {
			return b, err
		}
		e.keyEnd = len(scratch)
		if scratch, err = appendValue(scratch, v, depth+1); err != nil {
			return b, err
		}
		e.end = len(scratch)
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(x, y entry) int {
		if c := bytes.Compare(scratch[x.off:x.keyEnd], scratch[y.off:y.keyEnd]); c != 0 {
			return c
		}
		return bytes.Compare(scratch[x.keyEnd:x.end], scratch[y.keyEnd:y.end])
	})
	for _, e := range entries {
		b = append(b, scratch[e.off:e.end]...)
	}
	return finishCompound(b, start, 2*len(entries), codeMap8, codeMap32)
}

func appendDescribed(b []byte, descriptor, value any, depth int) ([]byte, error) {
	if descriptor == nil {
		return b, &EncodeError{Msg: "described value without descriptor"}
	}
	b = append(b, codeDescribed)
	b, err := appendValue(b, descriptor, depth+1)
	if err != nil {
		return b, err
	}
	return appendValue(b, value, depth+1)
}

// appendVarArray writes an array of strings, symbols or binaries, using the
// 8-bit element encoding when every element fits.
func appendVarArray[T ~string | ~[]byte](b []byte, code8, code32 byte, v []T) ([]byte, error) {
	if v == nil {
		return append(b, codeNull), nil
	}
	code := code8
	for _, e := range v {
		if len(e) > math.MaxUint8 {
			code = code32
		}
		if uint64(len(e)) > math.MaxUint32 {
			return b, &EncodeError{Msg: "array element longer than 4 GiB"}
		}
	}
	b, start := reserveCompound(b)
	b = append(b, code)
	for _, e := range v {
		if code == code8 {
			b = append(b, byte(len(e)))
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
		}
		b = append(b, e...)
	}
	return finishCompound(b, start, len(v), codeArray8, codeArray32)
}

func appendFixedArray[T any](b []byte, code byte, v []T, elem func([]byte, T) []byte) ([]byte, error) {
	if v == nil {
		return append(b, codeNull), nil
	}
	b, start := reserveCompound(b)
	b = append(b, code)
	for _, e := range v {
		b = elem(b, e)
	}
	return finishCompound(b, start, len(v), codeArray8, codeArray32)
}

// appendArray writes an Array: the element constructor follows from the Go
// type of the first element, and every element must have that type.
func appendArray(b []byte, elems []any, depth int) ([]byte, error) {
	if depth+1 > maxDepth {
		return b, &EncodeError{Msg: "value nested too deeply"}
	}
	b, start := reserveCompound(b)
	b, err := appendArrayBody(b, elems, depth+1)
	if err != nil {
		return b, err
	}
	return finishCompound(b, start, len(elems), codeArray8, codeArray32)
}

// appendArrayBody writes the element constructor and the elements without
// their constructors.
func appendArrayBody(b []byte, elems []any, depth int) ([]byte, error) {
	if len(elems) == 0 {
		// An empty array still needs a constructor; null is the neutral one.
		return append(b, codeNull), nil
	}
	first := elems[0]
	if d, ok := first.(*Described); ok && d != nil {
		if d.Descriptor == nil {
			return b, &EncodeError{Msg: "described value without descriptor"}
		}
		// Elements share one descriptor: compare them by their encoding,
		// which also works for descriptors Go cannot compare.
		desc, err := appendValue(nil, d.Descriptor, depth+1)
		if err != nil {
			return b, err
		}
		inner := make([]any, len(elems))
		var scratch []byte
		for i, e := range elems {
			de, ok := e.(*Described)
			if !ok || de == nil {
				return b, &EncodeError{Msg: fmt.Sprintf("array elements of mixed types %T and %T", first, e)}
			}
			if scratch, err = appendValue(scratch[:0], de.Descriptor, depth+1); err != nil {
				return b, err
			}
			if !bytes.Equal(scratch, desc) {
				return b, &EncodeError{Msg: "array elements must share one descriptor"}
			}
			inner[i] = de.Value
		}
		b = append(append(b, codeDescribed), desc...)
		return appendArrayBody(b, inner, depth+1)
	}
	firstCode, _ := wideCode(first)
	for _, e := range elems {
		if reflect.TypeOf(e) == reflect.TypeOf(first) {
			continue
		}
		// Arrays of arrays (or maps) may mix Go types that share one constructor.
		if c, ok := wideCode(e); ok && (c == codeArray32 || c == codeMap32) && c == firstCode {
			continue
		}
		return b, &EncodeError{Msg: fmt.Sprintf("array elements of mixed types %T and %T", first, e)}
	}
	switch first.(type) {
	case nil:
		return append(b, codeNull), nil
	case string, Symbol, []byte, BinaryKey:
		return appendVarElems(b, elems)
	}
	code, ok := wideCode(first)
	if !ok {
		return b, &EncodeError{Msg: fmt.Sprintf("no AMQP array encoding for elements of type %T", first)}
	}
	b = append(b, code)
	for _, e := range elems {
		p := len(b)
		var err error
		if b, err = appendValue(b, e, depth); err != nil {
			return b, err
		}
		if b, err = widen(b, p, code); err != nil {
			return b, err
		}
		// Drop the element's own constructor: the array's applies.
		b = append(b[:p], b[p+1:]...)
	}
	return b, nil
}

func appendVarElems(b []byte, elems []any) ([]byte, error) {
	var code8, code32 byte
	switch elems[0].(type) {
	case string:
		code8, code32 = codeStr8, codeStr32
	case Symbol:
		code8, code32 = codeSym8, codeSym32
	default:
		code8, code32 = codeVbin8, codeVbin32
	}
	bs := func(e any) string {
		switch e := e.(type) {
		case string:
			return e
		case Symbol:
			return string(e)
		case BinaryKey:
			return string(e)
		case []byte:
			return string(e)
		}
		return ""
	}
	code := code8
	for _, e := range elems {
		if l := len(bs(e)); l > math.MaxUint8 {
			code = code32
		}
	}
	b = append(b, code)
	for _, e := range elems {
		s := bs(e)
		if code == code8 {
			b = append(b, byte(len(s)))
		} else {
			if uint64(len(s)) > math.MaxUint32 {
				return b, &EncodeError{Msg: "array element longer than 4 GiB"}
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		}
		b = append(b, s...)
	}
	return b, nil
}

// wideCode is the one fixed constructor used for array elements of v's type.
func wideCode(v any) (byte, bool) {
	switch v.(type) {
	case bool:
		return codeBool, true
	case uint8:
		return codeUbyte, true
	case uint16:
		return codeUshort, true
	case uint32:
		return codeUint, true
	case uint64, uint:
		return codeUlong, true
	case int8:
		return codeByte, true
	case int16:
		return codeShort, true
	case int32:
		return codeInt, true
	case int64, int:
		return codeLong, true
	case float32:
		return codeFloat, true
	case float64:
		return codeDouble, true
	case Char:
		return codeChar, true
	case time.Time:
		return codeTimestamp, true
	case UUID:
		return codeUUID, true
	case Decimal32:
		return codeDecimal32, true
	case Decimal64:
		return codeDecimal64, true
	case Decimal128:
		return codeDecimal128, true
	case []any:
		return codeList32, true
	case Map, map[string]any, map[Symbol]any:
		return codeMap32, true
	case Array, []Symbol, []string, [][]byte, []UUID, []int64, []uint64, []int32, []uint32, []time.Time, []bool:
		return codeArray32, true
	}
	return 0, false
}

// widen rewrites the value encoded at b[p:] into the constructor code, the
// wide form every array element must share.
func widen(b []byte, p int, code byte) ([]byte, error) {
	got := b[p]
	if got == code {
		return b, nil
	}
	switch code {
	case codeBool:
		// true/false → boolean 0x56 with one byte.
		v := byte(0)
		if got == codeTrue {
			v = 1
		}
		return append(b[:p], codeBool, v), nil
	case codeUint:
		var v uint32
		if got == codeSmallUint {
			v = uint32(b[p+1])
		}
		return binary.BigEndian.AppendUint32(append(b[:p], codeUint), v), nil
	case codeUlong:
		var v uint64
		if got == codeSmallUlong {
			v = uint64(b[p+1])
		}
		return binary.BigEndian.AppendUint64(append(b[:p], codeUlong), v), nil
	case codeInt:
		return binary.BigEndian.AppendUint32(append(b[:p], codeInt), uint32(int32(int8(b[p+1])))), nil
	case codeLong:
		return binary.BigEndian.AppendUint64(append(b[:p], codeLong), uint64(int64(int8(b[p+1])))), nil
	case codeList32, codeMap32, codeArray32:
		// list0 / list8 / map8 / array8 → the 32-bit header.
		var size, count uint32
		var body []byte
		switch got {
		case codeNull:
			return b, &EncodeError{Msg: "nil element in array of compound values"}
		case codeList0:
			size, count = 4, 0
		default:
			size, count = uint32(b[p+1])+3, uint32(b[p+2])
			body = b[p+3:]
		}
		tail := append([]byte(nil), body...)
		b = append(b[:p], code)
		b = binary.BigEndian.AppendUint32(b, size)
		b = binary.BigEndian.AppendUint32(b, count)
		return append(b, tail...), nil
	}
	return b, &EncodeError{Msg: fmt.Sprintf("cannot widen constructor 0x%02x to 0x%02x", got, code)}
}

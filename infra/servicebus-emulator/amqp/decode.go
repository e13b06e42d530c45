package amqp

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Unmarshal decodes one AMQP value from the front of b and returns it with
// the bytes that follow it. The result never aliases b.
func Unmarshal(b []byte) (v any, rest []byte, err error) {
	d := decoder{b: b}
	v, err = d.value()
	if err != nil {
		return nil, b, err
	}
	return v, d.b, nil
}

// decoder reads values from the front of b.
type decoder struct {
	b     []byte
	depth int
	// alias lets binary values share b instead of being copied: only when b is
	// a buffer made for this one frame and handed to the caller.
	alias bool
}

var errTruncated = &DecodeError{Msg: "truncated input"}

func decodeErrorf(format string, args ...any) error {
	return &DecodeError{Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) byte1() (byte, error) {
	if len(d.b) == 0 {
		return 0, errTruncated
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *decoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)) {
		return nil, errTruncated
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p, nil
}

func (d *decoder) u16() (uint16, error) {
	p, err := d.take(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(p), nil
}

func (d *decoder) u32() (uint32, error) {
	p, err := d.take(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (d *decoder) u64() (uint64, error) {
	p, err := d.take(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(p), nil
}

func typeError(c byte, want string) error {
	return decodeErrorf("constructor 0x%02x where %s expected", c, want)
}

// readUnsigned decodes any unsigned integer encoding.
func (d *decoder) readUnsigned(c byte) (uint64, error) {
	switch c {
	case codeUint0, codeUlong0:
		return 0, nil
	case codeUbyte, codeSmallUint, codeSmallUlong:
		v, err := d.byte1()
		return uint64(v), err
	case codeUshort:
		v, err := d.u16()
		return uint64(v), err
	case codeUint:
		v, err := d.u32()
		return uint64(v), err
	case codeUlong:
		return d.u64()
	}
	return 0, typeError(c, "unsigned integer")
}

// readSigned decodes any signed integer encoding.
func (d *decoder) readSigned(c byte) (int64, error) {
	switch c {
	case codeByte, codeSmallInt, codeSmallLong:
		v, err := d.byte1()
		return int64(int8(v)), err
	case codeShort:
		v, err := d.u16()
		return int64(int16(v)), err
	case codeInt:
		v, err := d.u32()
		return int64(int32(v)), err
	case codeLong:
		v, err := d.u64()
		return int64(v), err
	}
	return 0, typeError(c, "signed integer")
}

func (d *decoder) readBool(c byte) (bool, error) {
	switch c {
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeBool:
		v, err := d.byte1()
		if err != nil {
			return false, err
		}
		switch v {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
		return false, decodeErrorf("boolean byte 0x%02x", v)
	}
	return false, typeError(c, "boolean")
}

// readVar returns the bytes of a length-prefixed value, aliasing d.b.
func (d *decoder) readVar(c, code8, code32 byte, what string) ([]byte, error) {
	var n uint64
	switch c {
	case code8:
		l, err := d.byte1()
		if err != nil {
			return nil, err
		}
		n = uint64(l)
	case code32:
		l, err := d.u32()
		if err != nil {
			return nil, err
		}
		n = uint64(l)
	default:
		return nil, typeError(c, what)
	}
	return d.take(n)
}

func (d *decoder) readString(c byte) (string, error) {
	p, err := d.readVar(c, codeStr8, codeStr32, "string")
	return string(p), err
}

func (d *decoder) readSymbol(c byte) (Symbol, error) {
	p, err := d.readVar(c, codeSym8, codeSym32, "symbol")
	return Symbol(p), err
}

func (d *decoder) readBinary(c byte) ([]byte, error) {
	p, err := d.readVar(c, codeVbin8, codeVbin32, "binary")
	if err != nil || d.alias {
		return p, err
	}
	return append(make([]byte, 0, len(p)), p...), nil
}

func (d *decoder) value() (any, error) {
	c, err := d.byte1()
	if err != nil {
		return nil, err
	}
	return d.valueOf(c)
}

// valueOf decodes the value whose constructor c has just been read.
func (d *decoder) valueOf(c byte) (any, error) {
	switch c {
	case codeNull:
		return nil, nil
	case codeTrue, codeFalse, codeBool:
		return d.readBool(c)
	case codeUbyte:
		return d.byte1()
	case codeUshort:
		return d.u16()
	case codeUint, codeSmallUint, codeUint0:
		v, err := d.readUnsigned(c)
		return uint32(v), err
	case codeUlong, codeSmallUlong, codeUlong0:
		return d.readUnsigned(c)
	case codeByte:
		v, err := d.byte1()
		return int8(v), err
	case codeShort:
		v, err := d.u16()
		return int16(v), err
	case codeInt, codeSmallInt:
		v, err := d.readSigned(c)
		return int32(v), err
	case codeLong, codeSmallLong:
		return d.readSigned(c)
	case codeFloat:
		v, err := d.u32()
		return math.Float32frombits(v), err
	case codeDouble:
		v, err := d.u64()
		return math.Float64frombits(v), err
	case codeDecimal32:
		p, err := d.take(4)
		var v Decimal32
		copy(v[:], p)
		return v, err
	case codeDecimal64:
		p, err := d.take(8)
		var v Decimal64
		copy(v[:], p)
		return v, err
	case codeDecimal128:
		p, err := d.take(16)
		var v Decimal128
		copy(v[:], p)
		return v, err
	case codeChar:
		v, err := d.u32()
		return Char(v), err
	case codeTimestamp:
		v, err := d.u64()
		return time.UnixMilli(int64(v)).UTC(), err
	case codeUUID:
		p, err := d.take(16)
		var v UUID
		copy(v[:], p)
		return v, err
	case codeVbin8, codeVbin32:
		return d.readBinary(c)
	case codeStr8, codeStr32:
		return d.readString(c)
	case codeSym8, codeSym32:
		return d.readSymbol(c)
	case codeList0, codeList8, codeList32:
		return d.readList(c)
	case codeMap8, codeMap32:
		return d.readMap(c)
	case codeArray8, codeArray32:
		return d.readArray(c)
	case codeDescribed:
		return d.readDescribed()
	}
	return nil, decodeErrorf("invalid constructor 0x%02x", c)
}

// compound reads the size and count of a list, map or array and returns a
// decoder over its remaining body, one level deeper.
func (d *decoder) compound(c byte) (sub decoder, count uint64, err error) {
	if d.depth+1 > maxDepth {
		return sub, 0, decodeErrorf("values nested deeper than %d", maxDepth)
	}
	sub = decoder{depth: d.depth + 1, alias: d.alias}
	switch c {
	case codeList0:
		return sub, 0, nil
	case codeList8, codeMap8, codeArray8:
		size, err := d.byte1()
		if err != nil {
			return sub, 0, err
		}
		body, err := d.take(uint64(size))
		if err != nil {
			return sub, 0, err
		}
		if len(body) < 1 {
			return sub, 0, decodeErrorf("compound size %d too small", size)
		}
		sub.b = body[1:]
		return sub, uint64(body[0]), nil
	case codeList32, codeMap32, codeArray32:
		size, err := d.u32()
		if err != nil {
			return sub, 0, err
		}
		body, err := d.take(uint64(size))
		if err != nil {
			return sub, 0, err
		}
		if len(body) < 4 {
			return sub, 0, decodeErrorf("compound size %d too small", size)
		}
		sub.b = body[4:]
		return sub, uint64(binary.BigEndian.Uint32(body)), nil
	}
	return sub, 0, typeError(c, "compound")
}

func (d *decoder) readList(c byte) ([]any, error) {
	sub, count, err := d.compound(c)
	if err != nil {
		return nil, err
	}
	// Every element takes at least its constructor byte.
	if count > uint64(len(sub.b)) {
		return nil, decodeErrorf("list count %d exceeds its %d bytes", count, len(sub.b))
	}
	l := make([]any, count)
	for i := range l {
		if l[i], err = sub.value(); err != nil {
			return nil, err
		}
	}
	if len(sub.b) != 0 {
		return nil, decodeErrorf("%d bytes after the last list element", len(sub.b))
	}
	return l, nil
}

func (d *decoder) readMap(c byte) (Map, error) {
	sub, count, err := d.compound(c)
	if err != nil {
		return nil, err
	}
	if count%2 != 0 {
		return nil, decodeErrorf("map with odd element count %d", count)
	}
	if count > uint64(len(sub.b)) {
		return nil, decodeErrorf("map count %d exceeds its %d bytes", count, len(sub.b))
	}
	m := make(Map, count/2)
	for i := uint64(0); i < count; i += 2 {
		k, err := sub.value()
		if err != nil {
			return nil, err
		}
		if k, err = mapKey(k); err != nil {
			return nil, err
		}
		v, err := sub.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	if len(sub.b) != 0 {
		return nil, decodeErrorf("%d bytes after the last map entry", len(sub.b))
	}
	return m, nil
}

// mapKey makes a decoded key usable as a Go map key, or rejects it.
func mapKey(k any) (any, error) {
	switch k := k.(type) {
	case []byte:
		return BinaryKey(k), nil
	case []any, Map, Array, []Symbol, []UUID, []int64, []uint64, []int32, []uint32, []string, []time.Time, []bool, [][]byte:
		return nil, decodeErrorf("map key of type %T is not supported", k)
	case float32:
		if k != k {
			return nil, decodeErrorf("NaN map key")
		}
	case float64:
		if k != k {
			return nil, decodeErrorf("NaN map key")
		}
	}
	return k, nil
}

// maxZeroWidthElems bounds arrays whose elements take no bytes at all
// (null, true, uint0, list0 ...), which the input size cannot bound.
const maxZeroWidthElems = 4096

// elemWidth is the smallest number of bytes an array element with
// constructor c takes, or -1 if c is no valid element constructor.
func elemWidth(c byte) int {
	switch c {
	case codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0:
		return 0
	case codeUbyte, codeByte, codeSmallUint, codeSmallUlong, codeSmallInt, codeSmallLong, codeBool,
		codeVbin8, codeStr8, codeSym8, codeList8, codeMap8, codeArray8:
		return 1
	case codeUshort, codeShort:
		return 2
	case codeUint, codeInt, codeFloat, codeChar, codeDecimal32,
		codeVbin32, codeStr32, codeSym32, codeList32, codeMap32, codeArray32:
		return 4
	case codeUlong, codeLong, codeDouble, codeTimestamp, codeDecimal64:
		return 8
	case codeDecimal128, codeUUID:
		return 16
	}
	return -1
}

func (d *decoder) readArray(c byte) (any, error) {
	sub, count, err := d.compound(c)
	if err != nil {
		return nil, err
	}
	ec, err := sub.byte1()
	if err != nil {
		return nil, err
	}
	var descriptor any
	if ec == codeDescribed {
		if descriptor, err = sub.value(); err != nil {
			return nil, err
		}
		if descriptor == nil {
			return nil, decodeErrorf("null descriptor")
		}
		if ec, err = sub.byte1(); err != nil {
			return nil, err
		}
	}
	w := elemWidth(ec)
	switch {
	case w < 0:
		return nil, decodeErrorf("invalid array element constructor 0x%02x", ec)
	case w == 0 && count > maxZeroWidthElems:
		return nil, decodeErrorf("array of %d zero-width elements", count)
	case w > 0 && count > uint64(len(sub.b)/w):
		return nil, decodeErrorf("array count %d exceeds its %d bytes", count, len(sub.b))
	}
	v, err := sub.arrayElems(ec, int(count), descriptor)
	if err != nil {
		return nil, err
	}
	if len(sub.b) != 0 {
		return nil, decodeErrorf("%d bytes after the last array element", len(sub.b))
	}
	return v, nil
}

func (d *decoder) arrayElems(ec byte, n int, descriptor any) (any, error) {
	var err error
	if descriptor != nil {
		// Described elements stay *Described, even for registered descriptors.
		elems := make([]any, n)
		for i := range elems {
			v, err := d.valueOf(ec)
			if err != nil {
				return nil, err
			}
			elems[i] = &Described{Descriptor: descriptor, Value: v}
		}
		return Array{Elems: elems}, nil
	}
	switch ec {
	case codeSym8, codeSym32:
		return readElems(n, func() (Symbol, error) { return d.readSymbol(ec) })
	case codeStr8, codeStr32:
		return readElems(n, func() (string, error) { return d.readString(ec) })
	case codeVbin8, codeVbin32:
		return readElems(n, func() ([]byte, error) { return d.readBinary(ec) })
	case codeUUID:
		return readElems(n, func() (u UUID, err error) {
			p, err := d.take(16)
			copy(u[:], p)
			return u, err
		})
	case codeLong, codeSmallLong:
		return readElems(n, func() (int64, error) { return d.readSigned(ec) })
	case codeInt, codeSmallInt:
		return readElems(n, func() (int32, error) { v, err := d.readSigned(ec); return int32(v), err })
	case codeUlong, codeSmallUlong, codeUlong0:
		return readElems(n, func() (uint64, error) { return d.readUnsigned(ec) })
	case codeUint, codeSmallUint, codeUint0:
		return readElems(n, func() (uint32, error) { v, err := d.readUnsigned(ec); return uint32(v), err })
	case codeTimestamp:
		return readElems(n, func() (time.Time, error) {
			v, err := d.u64()
			return time.UnixMilli(int64(v)).UTC(), err
		})
	case codeBool, codeTrue, codeFalse:
		return readElems(n, func() (bool, error) { return d.readBool(ec) })
	}
	elems := make([]any, n)
	for i := range elems {
		if elems[i], err = d.valueOf(ec); err != nil {
			return nil, err
		}
	}
	return Array{Elems: elems}, nil
}

func readElems[T any](n int, read func() (T, error)) ([]T, error) {
	s := make([]T, n)
	var err error
	for i := range s {
		if s[i], err = read(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (d *decoder) readDescribed() (any, error) {
	if d.depth+1 > maxDepth {
		return nil, decodeErrorf("values nested deeper than %d", maxDepth)
	}
	c, err := d.byte1()
	if err != nil {
		return nil, err
	}
	var descriptor any
	code, known := uint64(0), false
	switch c {
	case codeSmallUlong, codeUlong, codeUlong0:
		if code, err = d.readUnsigned(c); err != nil {
			return nil, err
		}
		descriptor, known = code, true
	case codeSym8, codeSym32:
		sym, err := d.readSymbol(c)
		if err != nil {
			return nil, err
		}
		descriptor = sym
		code, known = symbolDescriptors[sym]
	default:
		d.depth++
		descriptor, err = d.valueOf(c)
		d.depth--
		if err != nil {
			return nil, err
		}
		if descriptor == nil {
			return nil, decodeErrorf("null descriptor")
		}
	}
	vc, err := d.byte1()
	if err != nil {
		return nil, err
	}
	if known {
		if v, ok, err := d.composite(code, vc); ok || err != nil {
			return v, err
		}
	}
	d.depth++
	v, err := d.valueOf(vc)
	d.depth--
	if err != nil {
		return nil, err
	}
	return &Described{Descriptor: descriptor, Value: v}, nil
}

// composite decodes a registered struct from the list with constructor c.
// ok is false for descriptor codes that have no registered struct.
func (d *decoder) composite(code uint64, c byte) (v any, ok bool, err error) {
	switch code {
	case DescriptorOpen, DescriptorBegin, DescriptorAttach, DescriptorFlow, DescriptorTransfer,
		DescriptorDisposition, DescriptorDetach, DescriptorEnd, DescriptorClose, DescriptorError,
		DescriptorReceived, DescriptorAccepted, DescriptorRejected, DescriptorReleased, DescriptorModified,
		DescriptorSource, DescriptorTarget, DescriptorSASLMechanisms, DescriptorSASLInit,
		DescriptorSASLChallenge, DescriptorSASLResponse, DescriptorSASLOutcome:
	default:
		return nil, false, nil
	}
	switch c {
	case codeList0, codeList8, codeList32:
	default:
		return nil, true, decodeErrorf("descriptor 0x%02x describes constructor 0x%02x, not a list", code, c)
	}
	sub, count, err := d.compound(c)
	if err != nil {
		return nil, true, err
	}
	if count > uint64(len(sub.b)) {
		return nil, true, decodeErrorf("list count %d exceeds its %d bytes", count, len(sub.b))
	}
	f := fieldReader{d: sub, n: count}
	switch code {
	case DescriptorOpen:
		v = f.open()
	case DescriptorBegin:
		v = f.begin()
	case DescriptorAttach:
		v = f.attach()
	case DescriptorFlow:
		v = f.flow()
	case DescriptorTransfer:
		v = f.transfer()
	case DescriptorDisposition:
		v = f.disposition()
	case DescriptorDetach:
		v = &Detach{Handle: f.uint32(), Closed: f.bool(), Error: f.error()}
	case DescriptorEnd:
		v = &End{Error: f.error()}
	case DescriptorClose:
		v = &Close{Error: f.error()}
	case DescriptorError:
		v = &Error{Condition: f.symbol(), Description: f.string(), Info: f.fields()}
	case DescriptorReceived:
		v = &Received{SectionNumber: f.uint32(), SectionOffset: f.uint64()}
	case DescriptorAccepted:
		v = &Accepted{}
	case DescriptorRejected:
		v = &Rejected{Error: f.error()}
	case DescriptorReleased:
		v = &Released{}
	case DescriptorModified:
		v = &Modified{DeliveryFailed: f.bool(), UndeliverableHere: f.bool(), MessageAnnotations: f.fields()}
	case DescriptorSource:
		v = f.source()
	case DescriptorTarget:
		v = f.target()
	case DescriptorSASLMechanisms:
		v = &SASLMechanisms{Mechanisms: f.symbols()}
	case DescriptorSASLInit:
		v = &SASLInit{Mechanism: f.symbol(), InitialResponse: f.binary(), Hostname: f.string()}
	case DescriptorSASLChallenge:
		v = &SASLChallenge{Challenge: f.binary()}
	case DescriptorSASLResponse:
		v = &SASLResponse{Response: f.binary()}
	case DescriptorSASLOutcome:
		v = &SASLOutcome{Code: f.uint8(), AdditionalData: f.binary()}
	}
	if err := f.finish(code); err != nil {
		return nil, true, err
	}
	return v, true, nil
}

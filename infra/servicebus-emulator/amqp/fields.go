package amqp

import (
	"fmt"
	"math"
	"time"
)

// fieldReader reads the fields of a described list in order. An absent
// field (past the end of the list, or null) reads as the field's default.
// The first error sticks and is reported by finish.
type fieldReader struct {
	d   decoder
	n   uint64 // fields left
	i   int    // index of the field being read, for errors
	err error
}

// next returns the constructor of the next field, or ok=false if it is absent.
func (f *fieldReader) next() (c byte, ok bool) {
	if f.err != nil || f.n == 0 {
		return 0, false
	}
	f.n--
	f.i++
	c, err := f.d.byte1()
	if err != nil {
		f.fail(err)
		return 0, false
	}
	return c, c != codeNull
}

func (f *fieldReader) fail(err error) {
	if f.err == nil {
		f.err = fmt.Errorf("field %d: %w", f.i, err)
	}
}

// finish skips fields this package does not know (from a later protocol
// version) and checks the list holds nothing else.
func (f *fieldReader) finish(code uint64) error {
	for f.err == nil && f.n > 0 {
		f.any()
	}
	if f.err == nil && len(f.d.b) != 0 {
		f.err = decodeErrorf("%d bytes after the last field", len(f.d.b))
	}
	if f.err != nil {
		return &DecodeError{Msg: fmt.Sprintf("descriptor 0x%02x: %v", code, f.err)}
	}
	return nil
}

func (f *fieldReader) unsigned(max uint64) (uint64, bool) {
	c, ok := f.next()
	if !ok {
		return 0, false
	}
	v, err := f.d.readUnsigned(c)
	if err != nil {
		f.fail(err)
		return 0, false
	}
	if v > max {
		f.fail(decodeErrorf("value %d out of range", v))
		return 0, false
	}
	return v, true
}

func (f *fieldReader) uint32() uint32 {
	v, _ := f.unsigned(math.MaxUint32)
	return uint32(v)
}

func (f *fieldReader) uint32Def(def uint32) uint32 {
	if v, ok := f.unsigned(math.MaxUint32); ok {
		return uint32(v)
	}
	return def
}

func (f *fieldReader) optUint32() *uint32 {
	if v, ok := f.unsigned(math.MaxUint32); ok {
		u := uint32(v)
		return &u
	}
	return nil
}

// optUint32In is optUint32 storing the value in *p rather than a new allocation.
func (f *fieldReader) optUint32In(p *uint32) *uint32 {
	if v, ok := f.unsigned(math.MaxUint32); ok {
		*p = uint32(v)
		return p
	}
	return nil
}

func (f *fieldReader) uint64() uint64 {
	v, _ := f.unsigned(math.MaxUint64)
	return v
}

func (f *fieldReader) optUint16() *uint16 {
	if v, ok := f.unsigned(math.MaxUint16); ok {
		u := uint16(v)
		return &u
	}
	return nil
}

func (f *fieldReader) uint16Def(def uint16) uint16 {
	if v, ok := f.unsigned(math.MaxUint16); ok {
		return uint16(v)
	}
	return def
}

func (f *fieldReader) uint8() uint8 {
	v, _ := f.unsigned(math.MaxUint8)
	return uint8(v)
}

func (f *fieldReader) optUint8() *uint8 {
	if v, ok := f.unsigned(math.MaxUint8); ok {
		u := uint8(v)
		return &u
	}
	return nil
}

func (f *fieldReader) bool() bool {
	c, ok := f.next()
	if !ok {
		return false
	}
	v, err := f.d.readBool(c)
	if err != nil {
		f.fail(err)
	}
	return v
}

func (f *fieldReader) string() string {
	c, ok := f.next()
	if !ok {
		return ""
	}
	v, err := f.d.readString(c)
	if err != nil {
		f.fail(err)
	}
	return v
}

func (f *fieldReader) symbol() Symbol {
	c, ok := f.next()
	if !ok {
		return ""
	}
	v, err := f.d.readSymbol(c)
	if err != nil {
		f.fail(err)
	}
	return v
}

func (f *fieldReader) binary() []byte {
	c, ok := f.next()
	if !ok {
		return nil
	}
	v, err := f.d.readBinary(c)
	if err != nil {
		f.fail(err)
	}
	return v
}

// symbols reads a "multiple" symbol field: one symbol or an array of them.
func (f *fieldReader) symbols() []Symbol {
	c, ok := f.next()
	if !ok {
		return nil
	}
	if c == codeSym8 || c == codeSym32 {
		v, err := f.d.readSymbol(c)
		if err != nil {
			f.fail(err)
			return nil
		}
		return []Symbol{v}
	}
	if c != codeArray8 && c != codeArray32 {
		f.fail(typeError(c, "symbol or array of symbols"))
		return nil
	}
	v, err := f.d.readArray(c)
	if err != nil {
		f.fail(err)
		return nil
	}
	switch v := v.(type) {
	case []Symbol:
		return v
	case Array:
		if len(v.Elems) == 0 { // an empty array of another type
			return nil
		}
	}
	f.fail(decodeErrorf("array of %T where symbols expected", v))
	return nil
}

func (f *fieldReader) fields() Map {
	c, ok := f.next()
	if !ok {
		return nil
	}
	if c != codeMap8 && c != codeMap32 {
		f.fail(typeError(c, "map"))
		return nil
	}
	m, err := f.d.readMap(c)
	if err != nil {
		f.fail(err)
	}
	return m
}

func (f *fieldReader) any() any {
	c, ok := f.next()
	if !ok {
		return nil
	}
	v, err := f.d.valueOf(c)
	if err != nil {
		f.fail(err)
	}
	return v
}

func (f *fieldReader) error() *Error {
	switch v := f.any().(type) {
	case nil:
		return nil
	case *Error:
		return v
	default:
		f.fail(decodeErrorf("%T where error expected", v))
		return nil
	}
}

// state reads a delivery-state or outcome field.
func (f *fieldReader) state() any {
	switch v := f.any().(type) {
	case nil, *Accepted, *Rejected, *Released, *Modified, *Received, *Described:
		return v
	default:
		f.fail(decodeErrorf("%T where delivery state expected", v))
		return nil
	}
}

func (f *fieldReader) open() *Open {
	o := &Open{
		ContainerID:  f.string(),
		Hostname:     f.string(),
		MaxFrameSize: f.uint32Def(math.MaxUint32),
		ChannelMax:   f.uint16Def(math.MaxUint16),
		IdleTimeout:  time.Duration(f.uint32()) * time.Millisecond,
	}
	o.OutgoingLocales = f.symbols()
	o.IncomingLocales = f.symbols()
	o.OfferedCapabilities = f.symbols()
	o.DesiredCapabilities = f.symbols()
	o.Properties = f.fields()
	return o
}

func (f *fieldReader) begin() *Begin {
	return &Begin{
		RemoteChannel:       f.optUint16(),
		NextOutgoingID:      f.uint32(),
		IncomingWindow:      f.uint32(),
		OutgoingWindow:      f.uint32(),
		HandleMax:           f.uint32Def(math.MaxUint32),
		OfferedCapabilities: f.symbols(),
		DesiredCapabilities: f.symbols(),
		Properties:          f.fields(),
	}
}

func (f *fieldReader) attach() *Attach {
	a := &Attach{
		Name:          f.string(),
		Handle:        f.uint32(),
		Role:          Role(f.bool()),
		SndSettleMode: f.optUint8(),
		RcvSettleMode: f.optUint8(),
	}
	switch v := f.any().(type) {
	case nil:
	case *Source:
		a.Source = v
	default:
		f.fail(decodeErrorf("%T where source expected", v))
	}
	switch v := f.any().(type) {
	case nil:
	case *Target:
		a.Target = v
	default:
		// Coordinator targets (transactions) are not supported by the emulator.
		f.fail(decodeErrorf("%T where target expected", v))
	}
	a.Unsettled = f.fields()
	a.IncompleteUnsettled = f.bool()
	a.InitialDeliveryCount = f.optUint32()
	a.MaxMessageSize = f.uint64()
	a.OfferedCapabilities = f.symbols()
	a.DesiredCapabilities = f.symbols()
	a.Properties = f.fields()
	return a
}

func (f *fieldReader) source() *Source {
	return &Source{
		Address:               f.string(),
		Durable:               f.uint32(),
		ExpiryPolicy:          f.symbol(),
		Timeout:               f.uint32(),
		Dynamic:               f.bool(),
		DynamicNodeProperties: f.fields(),
		DistributionMode:      f.symbol(),
		Filter:                f.fields(),
		DefaultOutcome:        f.state(),
		Outcomes:              f.symbols(),
		Capabilities:          f.symbols(),
	}
}

func (f *fieldReader) target() *Target {
	return &Target{
		Address:               f.string(),
		Durable:               f.uint32(),
		ExpiryPolicy:          f.symbol(),
		Timeout:               f.uint32(),
		Dynamic:               f.bool(),
		DynamicNodeProperties: f.fields(),
		Capabilities:          f.symbols(),
	}
}

// flow and transfer put the struct and the values its pointer fields point
// to in one allocation: they are decoded for every message.
func (f *fieldReader) flow() *Flow {
	a := &struct {
		fl  Flow
		opt [5]uint32
	}{}
	fl := &a.fl
	fl.NextIncomingID = f.optUint32In(&a.opt[0])
	fl.IncomingWindow = f.uint32()
	fl.NextOutgoingID = f.uint32()
	fl.OutgoingWindow = f.uint32()
	fl.Handle = f.optUint32In(&a.opt[1])
	fl.DeliveryCount = f.optUint32In(&a.opt[2])
	fl.LinkCredit = f.optUint32In(&a.opt[3])
	fl.Available = f.optUint32In(&a.opt[4])
	fl.Drain = f.bool()
	fl.Echo = f.bool()
	fl.Properties = f.fields()
	return fl
}

func (f *fieldReader) transfer() *Transfer {
	a := &struct {
		t          Transfer
		id, format uint32
		mode       uint8
	}{}
	t := &a.t
	t.Handle = f.uint32()
	t.DeliveryID = f.optUint32In(&a.id)
	t.DeliveryTag = f.binary()
	t.MessageFormat = f.optUint32In(&a.format)
	t.Settled = f.bool()
	t.More = f.bool()
	if v, ok := f.unsigned(math.MaxUint8); ok {
		a.mode = uint8(v)
		t.RcvSettleMode = &a.mode
	}
	t.State = f.state()
	t.Resume = f.bool()
	t.Aborted = f.bool()
	t.Batchable = f.bool()
	return t
}

func (f *fieldReader) disposition() *Disposition {
	a := &struct {
		d    Disposition
		last uint32
	}{}
	d := &a.d
	d.Role = Role(f.bool())
	d.First = f.uint32()
	d.Last = f.optUint32In(&a.last)
	d.Settled = f.bool()
	d.State = f.state()
	d.Batchable = f.bool()
	return d
}

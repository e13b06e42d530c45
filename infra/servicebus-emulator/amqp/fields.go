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

func (f *fieldReader) flow() *Flow {
	return &Flow{
		NextIncomingID: f.optUint32(),
		IncomingWindow: f.uint32(),
		NextOutgoingID: f.uint32(),
		OutgoingWindow: f.uint32(),
		Handle:         f.optUint32(),
		DeliveryCount:  f.optUint32(),
		LinkCredit:     f.optUint32(),
		Available:      f.optUint32(),
		Drain:          f.bool(),
		Echo:           f.bool(),
		Properties:     f.fields(),
	}
}

func (f *fieldReader) transfer() *Transfer {
	return &Transfer{
		Handle:        f.uint32(),
		DeliveryID:    f.optUint32(),
		DeliveryTag:   f.binary(),
		MessageFormat: f.optUint32(),
		Settled:       f.bool(),
		More:          f.bool(),
		RcvSettleMode: f.optUint8(),
		State:         f.state(),
		Resume:        f.bool(),
		Aborted:       f.bool(),
		Batchable:     f.bool(),
	}
}

func (f *fieldReader) disposition() *Disposition {
	return &Disposition{
		Role:      Role(f.bool()),
		First:     f.uint32(),
		Last:      f.optUint32(),
		Settled:   f.bool(),
		State:     f.state(),
		Batchable: f.bool(),
	}
}

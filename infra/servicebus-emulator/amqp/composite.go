package amqp

import (
	"math"
	"time"
)

// listWriter writes the fields of a described list, omitting trailing nulls.
type listWriter struct {
	b     []byte
	start int // index of the reserved list header
	n     int // fields written
	count int // fields up to the last non-null one
	end   int // len(b) after the last non-null field
	depth int
	err   error
}

func beginComposite(b []byte, code uint64, depth int) listWriter {
	b = append(b, codeDescribed, codeSmallUlong, byte(code))
	b, start := reserveCompound(b)
	return listWriter{b: b, start: start, end: len(b), depth: depth + 1}
}

func (w *listWriter) null() {
	w.b = append(w.b, codeNull)
	w.n++
}

func (w *listWriter) mark() {
	w.n++
	w.count = w.n
	w.end = len(w.b)
}

func (w *listWriter) uint32(v uint32) { w.b = appendUint(w.b, v); w.mark() }

func (w *listWriter) optUint32(p *uint32) {
	if p == nil {
		w.null()
		return
	}
	w.uint32(*p)
}

// uint32Omit writes v, or null when v equals omit (the field's default).
func (w *listWriter) uint32Omit(v, omit uint32) {
	if v == omit {
		w.null()
		return
	}
	w.uint32(v)
}

func (w *listWriter) uint64Omit(v, omit uint64) {
	if v == omit {
		w.null()
		return
	}
	w.b = appendUlong(w.b, v)
	w.mark()
}

func (w *listWriter) optUint16(p *uint16) {
	if p == nil {
		w.null()
		return
	}
	w.b = append(w.b, codeUshort, byte(*p>>8), byte(*p))
	w.mark()
}

func (w *listWriter) ubyte(v uint8) { w.b = append(w.b, codeUbyte, v); w.mark() }

func (w *listWriter) optUbyte(p *uint8) {
	if p == nil {
		w.null()
		return
	}
	w.ubyte(*p)
}

func (w *listWriter) bool(v bool) { w.b = appendBool(w.b, v); w.mark() }

// optBool writes fields whose default is false.
func (w *listWriter) optBool(v bool) {
	if !v {
		w.null()
		return
	}
	w.bool(v)
}

func (w *listWriter) string(s string) {
	var err error
	if w.b, err = appendVar(w.b, codeStr8, codeStr32, s); err != nil && w.err == nil {
		w.err = err
	}
	w.mark()
}

func (w *listWriter) optString(s string) {
	if s == "" {
		w.null()
		return
	}
	w.string(s)
}

func (w *listWriter) symbol(s Symbol) {
	var err error
	if w.b, err = appendVar(w.b, codeSym8, codeSym32, s); err != nil && w.err == nil {
		w.err = err
	}
	w.mark()
}

func (w *listWriter) optSymbol(s Symbol) {
	if s == "" {
		w.null()
		return
	}
	w.symbol(s)
}

func (w *listWriter) binary(v []byte) {
	var err error
	if w.b, err = appendVar(w.b, codeVbin8, codeVbin32, v); err != nil && w.err == nil {
		w.err = err
	}
	w.mark()
}

func (w *listWriter) optBinary(v []byte) {
	if v == nil {
		w.null()
		return
	}
	w.binary(v)
}

func (w *listWriter) symbols(v []Symbol) {
	if len(v) == 0 {
		w.null()
		return
	}
	w.value(v)
}

func (w *listWriter) fields(m Map) {
	if len(m) == 0 {
		w.null()
		return
	}
	w.value(m)
}

func (w *listWriter) value(v any) {
	if v == nil {
		w.null()
		return
	}
	var err error
	if w.b, err = appendValue(w.b, v, w.depth); err != nil && w.err == nil {
		w.err = err
	}
	w.mark()
}

func (w *listWriter) composite(c composite, isNil bool) {
	if isNil {
		w.null()
		return
	}
	var err error
	if w.b, err = c.appendTo(w.b, w.depth); err != nil && w.err == nil {
		w.err = err
	}
	w.mark()
}

func (w *listWriter) finish() ([]byte, error) {
	if w.err != nil {
		return w.b, w.err
	}
	if w.depth > maxDepth {
		return w.b, &EncodeError{Msg: "value nested too deeply"}
	}
	b := w.b[:w.end]
	if w.count == 0 {
		return append(b[:w.start], codeList0), nil
	}
	return finishCompound(b, w.start, w.count, codeList8, codeList32)
}

func (o *Open) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorOpen, depth)
	w.string(o.ContainerID)
	w.optString(o.Hostname)
	if o.MaxFrameSize == 0 {
		w.null()
	} else {
		w.uint32Omit(o.MaxFrameSize, math.MaxUint32)
	}
	if o.ChannelMax == 0 || o.ChannelMax == math.MaxUint16 {
		w.null()
	} else {
		cm := o.ChannelMax
		w.optUint16(&cm)
	}
	if o.IdleTimeout < 0 || o.IdleTimeout/time.Millisecond > math.MaxUint32 {
		w.err = &EncodeError{Msg: "open idle-timeout out of range"}
	}
	w.uint32Omit(uint32(o.IdleTimeout/time.Millisecond), 0)
	w.symbols(o.OutgoingLocales)
	w.symbols(o.IncomingLocales)
	w.symbols(o.OfferedCapabilities)
	w.symbols(o.DesiredCapabilities)
	w.fields(o.Properties)
	return w.finish()
}

func (o *Begin) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorBegin, depth)
	w.optUint16(o.RemoteChannel)
	w.uint32(o.NextOutgoingID)
	w.uint32(o.IncomingWindow)
	w.uint32(o.OutgoingWindow)
	if o.HandleMax == 0 {
		w.null()
	} else {
		w.uint32Omit(o.HandleMax, math.MaxUint32)
	}
	w.symbols(o.OfferedCapabilities)
	w.symbols(o.DesiredCapabilities)
	w.fields(o.Properties)
	return w.finish()
}

func (o *Attach) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorAttach, depth)
	w.string(o.Name)
	w.uint32(o.Handle)
	w.bool(bool(o.Role))
	w.optUbyte(o.SndSettleMode)
	w.optUbyte(o.RcvSettleMode)
	w.composite(o.Source, o.Source == nil)
	w.composite(o.Target, o.Target == nil)
	w.fields(o.Unsettled)
	w.optBool(o.IncompleteUnsettled)
	w.optUint32(o.InitialDeliveryCount)
	w.uint64Omit(o.MaxMessageSize, 0)
	w.symbols(o.OfferedCapabilities)
	w.symbols(o.DesiredCapabilities)
	w.fields(o.Properties)
	return w.finish()
}

func (o *Source) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorSource, depth)
	w.optString(o.Address)
	w.uint32Omit(o.Durable, 0)
	w.optSymbol(o.ExpiryPolicy)
	w.uint32Omit(o.Timeout, 0)
	w.optBool(o.Dynamic)
	w.fields(o.DynamicNodeProperties)
	w.optSymbol(o.DistributionMode)
	w.fields(o.Filter)
	w.value(o.DefaultOutcome)
	w.symbols(o.Outcomes)
	w.symbols(o.Capabilities)
	return w.finish()
}

func (o *Target) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorTarget, depth)
	w.optString(o.Address)
	w.uint32Omit(o.Durable, 0)
	w.optSymbol(o.ExpiryPolicy)
	w.uint32Omit(o.Timeout, 0)
	w.optBool(o.Dynamic)
	w.fields(o.DynamicNodeProperties)
	w.symbols(o.Capabilities)
	return w.finish()
}

func (o *Flow) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorFlow, depth)
	w.optUint32(o.NextIncomingID)
	w.uint32(o.IncomingWindow)
	w.uint32(o.NextOutgoingID)
	w.uint32(o.OutgoingWindow)
	w.optUint32(o.Handle)
	w.optUint32(o.DeliveryCount)
	w.optUint32(o.LinkCredit)
	w.optUint32(o.Available)
	w.optBool(o.Drain)
	w.optBool(o.Echo)
	w.fields(o.Properties)
	return w.finish()
}

func (o *Transfer) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorTransfer, depth)
	w.uint32(o.Handle)
	w.optUint32(o.DeliveryID)
	w.optBinary(o.DeliveryTag)
	w.optUint32(o.MessageFormat)
	w.optBool(o.Settled)
	w.optBool(o.More)
	w.optUbyte(o.RcvSettleMode)
	w.value(o.State)
	w.optBool(o.Resume)
	w.optBool(o.Aborted)
	w.optBool(o.Batchable)
	return w.finish()
}

func (o *Disposition) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorDisposition, depth)
	w.bool(bool(o.Role))
	w.uint32(o.First)
	w.optUint32(o.Last)
	w.optBool(o.Settled)
	w.value(o.State)
	w.optBool(o.Batchable)
	return w.finish()
}

func (o *Detach) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorDetach, depth)
	w.uint32(o.Handle)
	w.optBool(o.Closed)
	w.composite(o.Error, o.Error == nil)
	return w.finish()
}

func (o *End) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorEnd, depth)
	w.composite(o.Error, o.Error == nil)
	return w.finish()
}

func (o *Close) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorClose, depth)
	w.composite(o.Error, o.Error == nil)
	return w.finish()
}

func (o *Error) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorError, depth)
	w.symbol(o.Condition)
	w.optString(o.Description)
	w.fields(o.Info)
	return w.finish()
}

func (o *Accepted) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	return append(b, codeDescribed, codeSmallUlong, byte(DescriptorAccepted), codeList0), nil
}

func (o *Released) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	return append(b, codeDescribed, codeSmallUlong, byte(DescriptorReleased), codeList0), nil
}

func (o *Rejected) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorRejected, depth)
	w.composite(o.Error, o.Error == nil)
	return w.finish()
}

func (o *Modified) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorModified, depth)
	w.optBool(o.DeliveryFailed)
	w.optBool(o.UndeliverableHere)
	w.fields(o.MessageAnnotations)
	return w.finish()
}

func (o *Received) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorReceived, depth)
	w.uint32(o.SectionNumber)
	w.b = appendUlong(w.b, o.SectionOffset)
	w.mark()
	return w.finish()
}

func (o *SASLMechanisms) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorSASLMechanisms, depth)
	if o.Mechanisms == nil {
		w.value([]Symbol{}) // mandatory field
	} else {
		w.value(o.Mechanisms)
	}
	return w.finish()
}

func (o *SASLInit) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorSASLInit, depth)
	w.symbol(o.Mechanism)
	w.optBinary(o.InitialResponse)
	w.optString(o.Hostname)
	return w.finish()
}

func (o *SASLChallenge) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorSASLChallenge, depth)
	w.binary(o.Challenge)
	return w.finish()
}

func (o *SASLResponse) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorSASLResponse, depth)
	w.binary(o.Response)
	return w.finish()
}

func (o *SASLOutcome) appendTo(b []byte, depth int) ([]byte, error) {
	if o == nil {
		return append(b, codeNull), nil
	}
	w := beginComposite(b, DescriptorSASLOutcome, depth)
	w.ubyte(o.Code)
	w.optBinary(o.AdditionalData)
	return w.finish()
}

package amqp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
)

// Frame types (spec 2.3.1, 5.3.1).
const (
	FrameAMQP uint8 = 0
	FrameSASL uint8 = 1
)

// Protocol headers (spec 2.2, 5.1): "AMQP", protocol id, major, minor, revision.
var (
	ProtoAMQP = [8]byte{'A', 'M', 'Q', 'P', 0, 1, 0, 0}
	ProtoSASL = [8]byte{'A', 'M', 'Q', 'P', 3, 1, 0, 0}
)

// frameHeaderSize is the fixed part of a frame header: size, doff, type, channel.
const frameHeaderSize = 8

// Frame is one AMQP or SASL frame.
type Frame struct {
	Type    uint8
	Channel uint16
	// Body is a performative (*Open, *Transfer, ...) for AMQP frames or a SASL
	// struct (*SASLInit, ...) for SASL frames; nil is an empty (heartbeat) frame.
	// ReadFrame always returns pointers; AppendFrame accepts values too.
	Body any
	// Payload is the bytes after the performative: the message bytes of a
	// transfer. ReadFrame gives the caller ownership of it.
	Payload []byte
}

// ReadProtoHeader reads the 8-byte protocol header a peer sends first. The
// caller compares it with ProtoAMQP / ProtoSASL and, on a mismatch, answers
// with the header it supports and closes the connection (spec 2.2).
func ReadProtoHeader(r io.Reader) ([8]byte, error) {
	var h [8]byte
	_, err := io.ReadFull(r, h[:])
	return h, err
}

// readChunk is how much ReadFrame allocates ahead of the bytes it has
// actually received, for frames larger than the bufio.Reader's buffer.
const readChunk = 64 << 10

// ReadFrame reads exactly one frame. maxFrameSize is the limit this end
// announced in its open (0 means no limit beyond the 4 GiB the format allows).
// Protocol violations give a *FrameError whose Condition is
// amqp:connection:framing-error (bad size, doff or type),
// amqp:not-implemented (unknown performative) or amqp:decode-error (malformed
// body). Once the header is valid the whole frame is consumed, even when its
// body is malformed, and nothing after it is read. A read error (such as a
// deadline) inside a frame larger than the reader's buffer leaves the stream
// mid-frame: treat it as the end of the connection. A clean end of
// stream before a frame gives io.EOF, one inside a frame io.ErrUnexpectedEOF.
func ReadFrame(r *bufio.Reader, maxFrameSize uint32) (Frame, error) {
	hdr, err := r.Peek(frameHeaderSize)
	if err != nil {
		if len(hdr) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	size := binary.BigEndian.Uint32(hdr)
	doff := int(hdr[4]) * 4
	f := Frame{Type: hdr[5], Channel: binary.BigEndian.Uint16(hdr[6:])}
	switch {
	case size < frameHeaderSize:
		return Frame{}, framingError("frame size %d is smaller than the header", size)
	case maxFrameSize != 0 && size > maxFrameSize:
		return Frame{}, framingError("frame size %d exceeds the maximum %d", size, maxFrameSize)
	case doff < frameHeaderSize:
		return Frame{}, framingError("data offset %d is smaller than the header", hdr[4])
	case uint32(doff) > size:
		return Frame{}, framingError("data offset %d is beyond the frame size %d", hdr[4], size)
	case f.Type != FrameAMQP && f.Type != FrameSASL:
		return Frame{}, framingError("unknown frame type 0x%02x", f.Type)
	}

	// Small frames are decoded in place in the reader's buffer and every
	// []byte is copied out; large ones are read into a buffer of their own
	// that the returned frame keeps (so nothing is copied twice).
	var frame []byte
	peeked := int64(size) <= int64(r.Size())
	if peeked {
		if frame, err = r.Peek(int(size)); err != nil {
			return Frame{}, unexpectedEOF(err)
		}
	} else {
		if frame, err = readFull(r, int(size)); err != nil {
			return Frame{}, err
		}
	}
	body := frame[doff:]
	alias := !peeked
	if peeked && isTransfer(body) {
		// A transfer keeps a tag and a payload: one copy of the body that
		// both alias is cheaper than two.
		body = append(make([]byte, 0, len(body)), body...)
		alias = true
	}
	if len(body) > 0 {
		d := decoder{b: body, alias: alias}
		f.Body, err = d.performative(f.Type)
		if err == nil && len(d.b) > 0 {
			if !alias {
				f.Payload = append(make([]byte, 0, len(d.b)), d.b...)
			} else {
				f.Payload = d.b
			}
		}
	}
	if peeked {
		_, _ = r.Discard(int(size)) // cannot fail: the bytes were peeked
	}
	if err != nil {
		return Frame{}, err
	}
	return f, nil
}

// isTransfer tells whether a frame body starts with the usual transfer descriptor.
func isTransfer(body []byte) bool {
	return len(body) >= 3 && body[0] == codeDescribed && body[1] == codeSmallUlong && body[2] == byte(DescriptorTransfer)
}

// readFull reads n bytes, growing the buffer as the bytes arrive so that a
// size header alone cannot make it allocate much.
func readFull(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), cap(buf)))
		}
		m, err := r.Read(buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			return nil, unexpectedEOF(err)
		}
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func framingError(format string, args ...any) error {
	return &FrameError{Condition: ErrCondFramingError, Description: fmt.Sprintf(format, args...)}
}

// performative decodes the described list at the front of a frame body.
func (d *decoder) performative(frameType uint8) (any, error) {
	c, err := d.byte1()
	if err != nil || c != codeDescribed {
		return nil, &FrameError{Condition: ErrCondDecodeError, Description: "frame body does not start with a described type"}
	}
	c, err = d.byte1()
	if err != nil {
		return nil, &FrameError{Condition: ErrCondDecodeError, Description: err.Error()}
	}
	var code uint64
	switch c {
	case codeSmallUlong, codeUlong, codeUlong0:
		code, err = d.readUnsigned(c)
	case codeSym8, codeSym32:
		var sym Symbol
		if sym, err = d.readSymbol(c); err == nil {
			var ok bool
			if code, ok = symbolDescriptors[sym]; !ok {
				return nil, &FrameError{Condition: ErrCondNotImplemented, Description: fmt.Sprintf("unknown performative %q", sym)}
			}
		}
	default:
		err = typeError(c, "ulong or symbol descriptor")
	}
	if err != nil {
		return nil, &FrameError{Condition: ErrCondDecodeError, Description: err.Error()}
	}
	if frameType == FrameAMQP && (code < DescriptorOpen || code > DescriptorClose) ||
		frameType == FrameSASL && (code < DescriptorSASLMechanisms || code > DescriptorSASLOutcome) {
		return nil, &FrameError{Condition: ErrCondNotImplemented, Description: fmt.Sprintf("descriptor 0x%x is no performative of frame type %d", code, frameType)}
	}
	c, err = d.byte1()
	if err != nil {
		return nil, &FrameError{Condition: ErrCondDecodeError, Description: err.Error()}
	}
	v, _, err := d.composite(code, c)
	if err != nil {
		return nil, &FrameError{Condition: ErrCondDecodeError, Description: err.Error()}
	}
	return v, nil
}

// AppendFrame appends the encoding of f to b. On error the returned slice
// is b truncated to its original length.
func AppendFrame(b []byte, f Frame) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, f.Type, byte(f.Channel>>8), byte(f.Channel))
	if f.Body != nil {
		var err error
		if c, ok := f.Body.(composite); ok {
			b, err = c.appendTo(b, 0)
		} else {
			b, err = appendValue(b, f.Body, 0)
		}
		if err != nil {
			return b[:start], err
		}
	}
	b = append(b, f.Payload...)
	size := len(b) - start
	if uint64(size) > math.MaxUint32 {
		return b[:start], &EncodeError{Msg: "frame larger than 4 GiB"}
	}
	binary.BigEndian.PutUint32(b[start:], uint32(size))
	return b, nil
}

// maxPooledFrame keeps the occasional huge frame from pinning its buffer.
const maxPooledFrame = 1 << 20

var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// WriteFrame encodes f and writes it with a single Write call.
func WriteFrame(w io.Writer, f Frame) error {
	bp := frameBufs.Get().(*[]byte)
	b, err := AppendFrame((*bp)[:0], f)
	if err == nil {
		_, err = w.Write(b)
	}
	if cap(b) <= maxPooledFrame {
		*bp = b[:0]
		frameBufs.Put(bp)
	}
	return err
}

package emulator

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"meterline/infra/servicebus-emulator/amqp"
)

// Protocol limits. They bound what one connection can make the server hold.
const (
	maxFrameSize      = 64 << 10 // largest frame we accept
	maxMessageSize    = 1 << 20  // largest message (or batch) a sender may transfer
	maxSessions       = 512      // per connection; the SDKs open about two per receiver
	maxLinks          = 1024     // per connection
	maxQueuedFrames   = 100_000  // frames waiting for a client that does not read
	sessionWindow     = 5000     // transfers we accept before the client must wait for a flow
	senderCredit      = 1000     // credit we give each sending link
	idleTimeout       = 2 * time.Minute
	heartbeatInterval = 10 * time.Second // well inside half the SDK's 30 s idle timeout
)

// errConnClosed stops a connection's reader after a close frame.
var errConnClosed = errors.New("connection closed")

type conn struct {
	srv *Server
	nc  net.Conn
	br  *bufio.Reader
	log *slog.Logger

	peerMaxFrame uint32        // largest frame the client accepts
	heartbeat    time.Duration // how often to send an empty frame when idle

	mu       sync.Mutex
	out      []outItem
	closing  bool
	wake     chan struct{}
	done     chan struct{}
	sessions map[uint16]*session
	links    int
	replyTo  map[string]*link // client reply addresses of management links

	writerStarted bool
}

// outItem is a frame or a delivery waiting for the writer.
type outItem struct {
	frame amqp.Frame
	d     *outDelivery
	last  bool // close the socket after writing
}

// outDelivery is a message on its way to a client's receiving link.
type outDelivery struct {
	l       *link
	id      uint32
	tag     []byte
	settled bool
	snap    *snapshot // an entity message, encoded by the writer
	payload []byte    // a management reply, already encoded
}

func newConn(srv *Server, nc net.Conn) *conn {
	return &conn{
		srv:          srv,
		nc:           nc,
		br:           bufio.NewReaderSize(nc, 64<<10),
		log:          srv.log.With("conn", nc.RemoteAddr().String()),
		peerMaxFrame: 512,
		heartbeat:    heartbeatInterval,
		wake:         make(chan struct{}, 1),
		done:         make(chan struct{}),
		sessions:     map[uint16]*session{},
		replyTo:      map[string]*link{},
	}
}

// serve runs the connection until it ends; one goroutine reads, one writes.
func (c *conn) serve() {
	defer c.cleanup()
	// A bug must cost one connection, not every client of the process.
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic serving connection", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	if err := c.handshake(); err != nil {
		c.log.Debug("handshake failed", "err", err)
		return
	}
	c.mu.Lock()
	c.writerStarted = true
	c.mu.Unlock()
	go c.writer()
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(idleTimeout))
		f, err := amqp.ReadFrame(c.br, maxFrameSize)
		if err != nil {
			c.fail(err)
			return
		}
		if err := c.handle(f); err != nil {
			if !errors.Is(err, errConnClosed) {
				c.fail(err)
			}
			return
		}
	}
}

// fail closes the connection, telling the client why when there is a protocol error.
func (c *conn) fail(err error) {
	var fe *amqp.FrameError
	var ae *amqp.Error
	var ne net.Error
	switch {
	case errors.As(err, &fe):
		c.log.Warn("closing connection: bad frame", "err", err)
		c.closeWith(&amqp.Error{Condition: fe.Condition, Description: fe.Description})
	case errors.As(err, &ae):
		c.log.Warn("closing connection", "err", err)
		c.closeWith(ae)
	case errors.As(err, &ne) && ne.Timeout():
		c.log.Info("closing idle connection")
		c.closeWith(&amqp.Error{Condition: amqp.ErrCondConnectionForced, Description: "idle timeout"})
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF):
		c.log.Info("connection ended by client")
	default:
		c.log.Info("connection ended", "err", err)
	}
}

func (c *conn) closeWith(e *amqp.Error) {
	c.push(outItem{frame: amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Close{Error: e}}, last: true})
	// Give the writer a moment to send the close before the socket goes.
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
}

func (c *conn) cleanup() {
	c.mu.Lock()
	c.closing = true
	sessions := c.sessions
	c.sessions = map[uint16]*session{}
	c.mu.Unlock()
	for _, s := range sessions {
		for _, l := range s.links {
			l.detachFromEntity()
		}
	}
	c.nc.Close()
	c.srv.forget(c)
	c.signal()
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// push queues frames for the writer.
func (c *conn) push(items ...outItem) {
	c.mu.Lock()
	if len(c.out) > maxQueuedFrames && !c.closing {
		// The client asks for answers faster than it reads them.
		c.closing = true
		c.mu.Unlock()
		c.log.Warn("closing connection: client is not reading", "queued", maxQueuedFrames)
		c.nc.Close()
		return
	}
	if !c.closing || items[len(items)-1].last {
		c.out = append(c.out, items...)
	}
	c.mu.Unlock()
	c.signal()
}

func (c *conn) send(ch uint16, body any) {
	c.push(outItem{frame: amqp.Frame{Type: amqp.FrameAMQP, Channel: ch, Body: body}})
}

// writer encodes queued frames into a buffered writer and flushes when there
// is nothing more to write, so bursts share system calls.
func (c *conn) writer() {
	defer close(c.done)
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	tick := time.NewTicker(c.heartbeat)
	defer tick.Stop()
	var buf []byte
	var batch []outItem
	wrote := false
	for {
		c.mu.Lock()
		batch, c.out = c.out, batch[:0]
		closing := c.closing
		c.mu.Unlock()
		if len(batch) == 0 && closing {
			return
		}
		if len(batch) == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
			select {
			case <-c.wake:
			case <-tick.C:
				if !wrote { // nothing sent for a whole interval: heartbeat
					buf, _ = amqp.AppendFrame(buf[:0], amqp.Frame{Type: amqp.FrameAMQP})
					if _, err := bw.Write(buf); err != nil {
						return
					}
				}
				wrote = false
			}
			continue
		}
		wrote = true
		for i := range batch {
			it := &batch[i]
			var err error
			if it.d != nil {
				buf, err = c.appendDelivery(buf[:0], it.d)
			} else {
				buf, err = amqp.AppendFrame(buf[:0], it.frame)
			}
			if err != nil {
				c.log.Error("encode frame", "err", err)
				_ = c.nc.Close()
				return
			}
			_ = c.nc.SetWriteDeadline(time.Now().Add(idleTimeout))
			if _, err := bw.Write(buf); err != nil {
				_ = c.nc.Close()
				return
			}
			if it.last {
				_ = bw.Flush()
				_ = c.nc.Close()
				return
			}
			*it = outItem{}
		}
	}
}

// appendDelivery encodes a message as one or more transfer frames no larger
// than the client's max frame size.
func (c *conn) appendDelivery(b []byte, d *outDelivery) ([]byte, error) {
	payload := d.payload
	if d.snap != nil {
		var err error
		if payload, err = d.snap.encode(); err != nil {
			return b, err
		}
	}
	format := uint32(0)
	id := d.id
	t := &amqp.Transfer{Handle: d.l.handle, DeliveryID: &id, DeliveryTag: d.tag, MessageFormat: &format, Settled: d.settled}
	// Room for the frame header and transfer performative; the tag is the only variable part.
	room := int(c.peerMaxFrame) - 64 - len(d.tag)
	if room < 64 {
		room = 64
	}
	for first := true; first || len(payload) > 0; first = false {
		chunk := payload
		if len(chunk) > room {
			chunk = payload[:room]
		}
		payload = payload[len(chunk):]
		t.More = len(payload) > 0
		var err error
		if b, err = amqp.AppendFrame(b, amqp.Frame{Type: amqp.FrameAMQP, Channel: d.l.s.ch, Body: t, Payload: chunk}); err != nil {
			return b, err
		}
		if !first {
			continue
		}
		// continuation frames repeat only the handle
		t = &amqp.Transfer{Handle: d.l.handle}
	}
	return b, nil
}

// handshake does the protocol headers, SASL (ANONYMOUS or PLAIN) and open.
func (c *conn) handshake() error {
	_ = c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.nc.SetDeadline(time.Time{})
	hdr, err := amqp.ReadProtoHeader(c.br)
	if err != nil {
		return err
	}
	if hdr == amqp.ProtoSASL {
		if err := c.sasl(); err != nil {
			return err
		}
		if hdr, err = amqp.ReadProtoHeader(c.br); err != nil {
			return err
		}
	}
	if hdr != amqp.ProtoAMQP {
		_, _ = c.nc.Write(amqp.ProtoAMQP[:])
		return fmt.Errorf("unsupported protocol header %q", hdr[:])
	}
	if _, err := c.nc.Write(amqp.ProtoAMQP[:]); err != nil {
		return err
	}
	f, err := amqp.ReadFrame(c.br, maxFrameSize)
	if err != nil {
		return err
	}
	open, ok := f.Body.(*amqp.Open)
	if !ok {
		return c.writeNow(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Close{Error: &amqp.Error{Condition: amqp.ErrCondIllegalState, Description: "expected open"}}})
	}
	c.peerMaxFrame = open.MaxFrameSize
	if c.peerMaxFrame == 0 || c.peerMaxFrame > maxFrameSize {
		c.peerMaxFrame = maxFrameSize
	}
	if c.peerMaxFrame < 512 {
		c.peerMaxFrame = 512
	}
	if open.IdleTimeout > 0 && open.IdleTimeout/3 < c.heartbeat {
		c.heartbeat = max(open.IdleTimeout/3, 100*time.Millisecond)
	}
	c.log.Info("connection opened", "container", open.ContainerID)
	return c.writeNow(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Open{
		ContainerID:  "meterline-sbemulator",
		Hostname:     open.Hostname,
		MaxFrameSize: maxFrameSize,
		ChannelMax:   maxSessions - 1,
		IdleTimeout:  idleTimeout,
	}})
}

func (c *conn) writeNow(f amqp.Frame) error {
	b, err := amqp.AppendFrame(nil, f)
	if err != nil {
		return err
	}
	_, err = c.nc.Write(b)
	return err
}

func (c *conn) sasl() error {
	if _, err := c.nc.Write(amqp.ProtoSASL[:]); err != nil {
		return err
	}
	if err := c.writeNow(amqp.Frame{Type: amqp.FrameSASL, Body: &amqp.SASLMechanisms{Mechanisms: []amqp.Symbol{"ANONYMOUS", "PLAIN"}}}); err != nil {
		return err
	}
	f, err := amqp.ReadFrame(c.br, maxFrameSize)
	if err != nil {
		return err
	}
	init, ok := f.Body.(*amqp.SASLInit)
	code := amqp.SASLCodeOK
	if !ok || (init.Mechanism != "ANONYMOUS" && init.Mechanism != "PLAIN") {
		code = amqp.SASLCodeAuth
	}
	if err := c.writeNow(amqp.Frame{Type: amqp.FrameSASL, Body: &amqp.SASLOutcome{Code: code}}); err != nil {
		return err
	}
	if code != amqp.SASLCodeOK {
		return fmt.Errorf("unsupported SASL frame %T", f.Body)
	}
	return nil
}

// handle processes one frame from the client.
func (c *conn) handle(f amqp.Frame) error {
	if f.Type != amqp.FrameAMQP {
		return &amqp.Error{Condition: amqp.ErrCondFramingError, Description: "SASL frame after open"}
	}
	switch b := f.Body.(type) {
	case nil:
		return nil // heartbeat
	case *amqp.Begin:
		return c.begin(f.Channel, b)
	case *amqp.Close:
		c.log.Info("connection closed by client")
		c.push(outItem{frame: amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Close{}}, last: true})
		<-c.done
		return errConnClosed
	case *amqp.Open:
		return &amqp.Error{Condition: amqp.ErrCondIllegalState, Description: "second open"}
	}
	c.mu.Lock()
	s := c.sessions[f.Channel]
	c.mu.Unlock()
	if s == nil {
		return &amqp.Error{Condition: amqp.ErrCondIllegalState, Description: fmt.Sprintf("frame %T on channel %d without a session", f.Body, f.Channel)}
	}
	switch b := f.Body.(type) {
	case *amqp.End:
		c.endSession(s)
		return nil
	case *amqp.Attach:
		return s.attach(b)
	case *amqp.Flow:
		return s.flow(b)
	case *amqp.Transfer:
		return s.transfer(b, f.Payload)
	case *amqp.Disposition:
		return s.disposition(b)
	case *amqp.Detach:
		return s.detach(b)
	}
	return &amqp.Error{Condition: amqp.ErrCondNotImplemented, Description: fmt.Sprintf("unexpected frame %T", f.Body)}
}

func (c *conn) begin(ch uint16, b *amqp.Begin) error {
	c.mu.Lock()
	if _, dup := c.sessions[ch]; dup {
		c.mu.Unlock()
		return &amqp.Error{Condition: amqp.ErrCondIllegalState, Description: fmt.Sprintf("channel %d already has a session", ch)}
	}
	if len(c.sessions) >= maxSessions {
		c.mu.Unlock()
		return &amqp.Error{Condition: amqp.ErrCondResourceLimitExceeded, Description: fmt.Sprintf("more than %d sessions", maxSessions)}
	}
	s := &session{
		c:              c,
		ch:             ch,
		links:          map[uint32]*link{},
		unsettled:      map[uint32]*outDelivery{},
		pruneAt:        10_000,
		nextIncomingID: b.NextOutgoingID,
		remoteWindow:   b.IncomingWindow,
	}
	c.sessions[ch] = s
	c.mu.Unlock()
	remote := ch
	c.send(ch, &amqp.Begin{RemoteChannel: &remote, NextOutgoingID: 0, IncomingWindow: sessionWindow, OutgoingWindow: sessionWindow, HandleMax: maxLinks - 1})
	return nil
}

func (c *conn) endSession(s *session) {
	c.mu.Lock()
	delete(c.sessions, s.ch)
	links := s.links
	s.links = map[uint32]*link{}
	for _, l := range links {
		c.links--
		if l.replyAddr != "" && c.replyTo[l.replyAddr] == l {
			delete(c.replyTo, l.replyAddr)
		}
	}
	c.mu.Unlock()
	for _, l := range links {
		l.detachFromEntity()
	}
	c.send(s.ch, &amqp.End{})
}

package emulator

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	goamqp "github.com/Azure/go-amqp"

	"meterline/infra/servicebus-emulator/amqp"
)

// rawClient speaks AMQP frame by frame, to send what no SDK would.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) frame(f amqp.Frame) {
	c.t.Helper()
	b, err := amqp.AppendFrame(nil, f)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(b)
}

func (c *rawClient) read() amqp.Frame {
	c.t.Helper()
	f, err := amqp.ReadFrame(c.br, 1<<20)
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

// open does SASL ANONYMOUS and open.
func (c *rawClient) open() {
	c.t.Helper()
	c.write(amqp.ProtoSASL[:])
	if h, err := amqp.ReadProtoHeader(c.br); err != nil || h != amqp.ProtoSASL {
		c.t.Fatalf("sasl header %q %v", h, err)
	}
	if _, ok := c.read().Body.(*amqp.SASLMechanisms); !ok {
		c.t.Fatal("no sasl-mechanisms")
	}
	c.frame(amqp.Frame{Type: amqp.FrameSASL, Body: &amqp.SASLInit{Mechanism: "ANONYMOUS"}})
	if o, ok := c.read().Body.(*amqp.SASLOutcome); !ok || o.Code != amqp.SASLCodeOK {
		c.t.Fatal("sasl outcome not ok")
	}
	c.write(amqp.ProtoAMQP[:])
	if h, err := amqp.ReadProtoHeader(c.br); err != nil || h != amqp.ProtoAMQP {
		c.t.Fatalf("amqp header %q %v", h, err)
	}
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Open{ContainerID: "raw", IdleTimeout: time.Minute}})
	if _, ok := c.read().Body.(*amqp.Open); !ok {
		c.t.Fatal("no open")
	}
}

// expectClose reads until the server's close frame and returns its error condition.
func (c *rawClient) expectClose() amqp.Symbol {
	c.t.Helper()
	for {
		f := c.read()
		if cl, ok := f.Body.(*amqp.Close); ok {
			if cl.Error == nil {
				return ""
			}
			return cl.Error.Condition
		}
	}
}

// stillWorks proves another client is unaffected.
func stillWorks(t *testing.T, env *testEnv, queue string) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	send(t, ctx, mustSender(t, env.client, queue), textMsg("still fine"))
	r := mustReceiver(t, env.client, queue, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	if got := receiveN(t, ctx, r, 1); string(got[0].Body) != "still fine" {
		t.Fatalf("got %q", got[0].Body)
	}
}

func TestBadInputGarbageProtocolHeader(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	stillWorks(t, env, "q") // the SDK client is connected before the garbage arrives
	c := dialRaw(t, env.srv.Addr())
	c.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	h, err := amqp.ReadProtoHeader(c.br)
	if err != nil || h != amqp.ProtoAMQP {
		t.Fatalf("server should answer with its protocol header: %q %v", h, err)
	}
	if _, err := c.br.ReadByte(); err == nil {
		t.Fatal("connection left open after a bad protocol header")
	}
	stillWorks(t, env, "q")
}

func TestBadInputOversizedAndMalformedFrames(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	cases := []struct {
		name string
		want amqp.Symbol
		raw  func() []byte
	}{
		{"oversized", amqp.ErrCondFramingError, func() []byte {
			b := make([]byte, 8)
			binary.BigEndian.PutUint32(b, maxFrameSize+1)
			b[4], b[5] = 2, 0
			return b
		}},
		{"size below header", amqp.ErrCondFramingError, func() []byte { return []byte{0, 0, 0, 4, 2, 0, 0, 0} }},
		{"garbage body", amqp.ErrCondDecodeError, func() []byte { return []byte{0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0xff} }},
		{"unknown performative", amqp.ErrCondNotImplemented, func() []byte { return []byte{0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x99, 0x45} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, env.srv.Addr())
			c.open()
			c.write(tc.raw())
			if cond := c.expectClose(); cond != tc.want {
				t.Fatalf("closed with %q, want %q", cond, tc.want)
			}
			stillWorks(t, env, "q")
		})
	}
}

func TestBadInputFrameWithoutSession(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	c := dialRaw(t, env.srv.Addr())
	c.open()
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Channel: 7, Body: &amqp.Attach{Name: "x", Handle: 0, Role: amqp.RoleSender, Target: &amqp.Target{Address: "q"}}})
	if cond := c.expectClose(); cond != amqp.ErrCondIllegalState {
		t.Fatalf("condition %q", cond)
	}
	stillWorks(t, env, "q")
}

func TestBadInputLinkFloodAndUnknownAddress(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	c := dialRaw(t, env.srv.Addr())
	c.open()
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100}})
	if _, ok := c.read().Body.(*amqp.Begin); !ok {
		t.Fatal("no begin")
	}
	zero := uint32(0)
	attach := func(h uint32, addr string) {
		c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Attach{Name: fmt.Sprint("l", h), Handle: h, Role: amqp.RoleSender, Target: &amqp.Target{Address: addr}, InitialDeliveryCount: &zero}})
	}
	// An unknown address: attach answered, then detached with amqp:not-found.
	attach(0, "no-such-queue")
	if cond := detachCondition(t, c); cond != amqp.ErrCondNotFound {
		t.Fatalf("unknown address: %q", cond)
	}
	// Links beyond the per-connection cap are refused one by one.
	for h := uint32(1); h <= maxLinks+1; h++ {
		attach(h, "q")
	}
	refused := 0
	for refused == 0 {
		f := c.read()
		if d, ok := f.Body.(*amqp.Detach); ok && d.Error != nil {
			if d.Error.Condition != amqp.ErrCondResourceLimitExceeded {
				t.Fatalf("refused with %q", d.Error.Condition)
			}
			refused++
		}
	}
	stillWorks(t, env, "q")
}

func detachCondition(t *testing.T, c *rawClient) amqp.Symbol {
	t.Helper()
	for {
		if d, ok := c.read().Body.(*amqp.Detach); ok {
			if d.Error == nil {
				t.Fatal("detach without error")
			}
			return d.Error.Condition
		}
	}
}

func TestEntityFullRefusesSends(t *testing.T) {
	ns := newNamespace()
	ns.addQueue(newQueue("small", entityProps{LockDuration: time.Minute, MaxDeliveryCount: 10}, true, limits{MaxMessages: 3, MaxBytes: 1 << 20}, func(string, ...any) {}))
	env := startNS(t, ns)
	ctx := ctxT(t, 10*time.Second)
	s := mustSender(t, env.client, "small")
	send(t, ctx, s, textMsg("1"), textMsg("2"), textMsg("3"))
	err := s.SendMessage(ctx, textMsg("4"), nil)
	var amqpErr *goamqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Condition != goamqp.ErrCondResourceLimitExceeded {
		t.Fatalf("send to a full queue: %v", err)
	}
	// Draining makes room again.
	r := mustReceiver(t, env.client, "small", &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModeReceiveAndDelete})
	receiveN(t, ctx, r, 3)
	send(t, ctx, mustSender(t, env.client, "small"), textMsg("5"))
}

// attachReceiver begins a session with the given incoming window and attaches a peek-lock receiver.
func (c *rawClient) attachReceiver(window uint32, addr string) {
	c.t.Helper()
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Begin{NextOutgoingID: 0, IncomingWindow: window, OutgoingWindow: 100}})
	if _, ok := c.read().Body.(*amqp.Begin); !ok {
		c.t.Fatal("no begin")
	}
	second := amqp.RcvSettleModeSecond
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Attach{Name: "r", Handle: 0, Role: amqp.RoleReceiver, RcvSettleMode: &second, Source: &amqp.Source{Address: addr}}})
	if _, ok := c.read().Body.(*amqp.Attach); !ok {
		c.t.Fatal("no attach")
	}
}

func (c *rawClient) credit(deliveryCount, credit uint32, nextIncoming uint32, window uint32) {
	h := uint32(0)
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Flow{NextIncomingID: &nextIncoming, IncomingWindow: window, OutgoingWindow: 100,
		Handle: &h, DeliveryCount: &deliveryCount, LinkCredit: &credit}})
}

// expectTransfers reads until n transfers arrived, then checks that no more
// come while the link still has credit.
func (c *rawClient) expectTransfers(n int) {
	c.t.Helper()
	for got := 0; got < n; {
		if _, ok := c.read().Body.(*amqp.Transfer); ok {
			got++
		}
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	defer c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := amqp.ReadFrame(c.br, 1<<20)
		if err != nil {
			return
		}
		if _, ok := f.Body.(*amqp.Transfer); ok {
			c.t.Fatalf("more than %d transfers", n)
		}
	}
}

func TestFlowControlCreditAndSessionWindow(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 10*time.Second)
	s := mustSender(t, env.client, "q")
	for i := range 6 {
		send(t, ctx, s, textMsg(fmt.Sprint(i)))
	}
	c := dialRaw(t, env.srv.Addr())
	c.open()
	// Link credit 2: exactly two transfers.
	c.attachReceiver(100, "q")
	c.credit(0, 2, 0, 100)
	c.expectTransfers(2)
	// Plenty of credit but a session window of 1 more transfer: one arrives...
	c.credit(2, 10, 2, 1)
	c.expectTransfers(1)
	// ...and opening the window releases the rest.
	c.credit(3, 10, 3, 100)
	c.expectTransfers(3)
}

func TestHeartbeatsWithinClientIdleTimeout(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	c := dialRaw(t, env.srv.Addr())
	c.write(amqp.ProtoAMQP[:]) // no SASL: also accepted
	if h, err := amqp.ReadProtoHeader(c.br); err != nil || h != amqp.ProtoAMQP {
		t.Fatalf("header %q %v", h, err)
	}
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Open{ContainerID: "raw", IdleTimeout: 600 * time.Millisecond}})
	if _, ok := c.read().Body.(*amqp.Open); !ok {
		t.Fatal("no open")
	}
	// Nothing else is going on, so the next frame is a heartbeat.
	if f := c.read(); f.Body != nil {
		t.Fatalf("expected an empty frame, got %T", f.Body)
	}
}

func TestDrainConsumesUnusedCredit(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 10*time.Second)
	send(t, ctx, mustSender(t, env.client, "q"), textMsg("only"))
	c := dialRaw(t, env.srv.Addr())
	c.open()
	c.attachReceiver(100, "q")
	h, count, credit, next := uint32(0), uint32(0), uint32(5), uint32(0)
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Flow{NextIncomingID: &next, IncomingWindow: 100, OutgoingWindow: 100,
		Handle: &h, DeliveryCount: &count, LinkCredit: &credit, Drain: true}})
	transfers := 0
	for {
		f := c.read()
		switch b := f.Body.(type) {
		case *amqp.Transfer:
			transfers++
		case *amqp.Flow:
			if b.Handle == nil || !b.Drain {
				continue
			}
			if transfers != 1 || *b.LinkCredit != 0 || *b.DeliveryCount != 5 {
				t.Fatalf("drain answer after %d transfers: credit %d delivery-count %d", transfers, *b.LinkCredit, *b.DeliveryCount)
			}
			return
		}
	}
}

func TestOversizedMessageDetachesOnlyThatLink(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	c := dialRaw(t, env.srv.Addr())
	c.open()
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 10000}})
	if _, ok := c.read().Body.(*amqp.Begin); !ok {
		t.Fatal("no begin")
	}
	zero := uint32(0)
	attach := func(h uint32) {
		c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Attach{Name: fmt.Sprint("s", h), Handle: h, Role: amqp.RoleSender, Target: &amqp.Target{Address: "q"}, InitialDeliveryCount: &zero}})
		for {
			if fl, ok := c.read().Body.(*amqp.Flow); ok && fl.Handle != nil && *fl.Handle == h {
				return // credit granted
			}
		}
	}
	attach(0)
	chunk := make([]byte, 60<<10)
	format := uint32(0)
	for i := range 20 { // 1.2 MB in one delivery: over the limit part-way
		id := uint32(0)
		tr := &amqp.Transfer{Handle: 0, More: i < 19}
		if i == 0 {
			tr.DeliveryID, tr.DeliveryTag, tr.MessageFormat = &id, []byte{1}, &format
		}
		c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: tr, Payload: chunk})
	}
	if cond := detachCondition(t, c); cond != amqp.ErrCondMessageSizeExceeded {
		t.Fatalf("condition %q", cond)
	}
	c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Detach{Handle: 0, Closed: true}})
	// The connection and session carry on: another link attaches and gets credit.
	attach(1)
	stillWorks(t, env, "q")
}

func TestSASLPlainAndUnknownMechanism(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	for _, tc := range []struct {
		mech amqp.Symbol
		resp []byte
		want uint8
	}{
		{"PLAIN", []byte("\x00RootManageSharedAccessKey\x00secret"), amqp.SASLCodeOK},
		{"ANONYMOUS", nil, amqp.SASLCodeOK},
		{"SCRAM-SHA-1", []byte("n,,n=user,r=abc"), amqp.SASLCodeAuth},
	} {
		c := dialRaw(t, env.srv.Addr())
		c.write(amqp.ProtoSASL[:])
		if _, err := amqp.ReadProtoHeader(c.br); err != nil {
			t.Fatal(err)
		}
		mechs, ok := c.read().Body.(*amqp.SASLMechanisms)
		if !ok || !slices.Contains(mechs.Mechanisms, "PLAIN") || !slices.Contains(mechs.Mechanisms, "ANONYMOUS") {
			t.Fatalf("mechanisms %+v", mechs)
		}
		c.frame(amqp.Frame{Type: amqp.FrameSASL, Body: &amqp.SASLInit{Mechanism: tc.mech, InitialResponse: tc.resp}})
		o, ok := c.read().Body.(*amqp.SASLOutcome)
		if !ok || o.Code != tc.want {
			t.Fatalf("%s: outcome %+v", tc.mech, o)
		}
		if tc.want != amqp.SASLCodeOK {
			continue
		}
		c.write(amqp.ProtoAMQP[:])
		if h, err := amqp.ReadProtoHeader(c.br); err != nil || h != amqp.ProtoAMQP {
			t.Fatalf("%s: header %q %v", tc.mech, h, err)
		}
	}
}

func TestDispositionForUnknownDeliveryIsAnswered(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	ctx := ctxT(t, 10*time.Second)
	send(t, ctx, mustSender(t, env.client, "q"), textMsg("x"))
	c := dialRaw(t, env.srv.Addr())
	c.open()
	c.attachReceiver(100, "q")
	c.credit(0, 1, 0, 100)
	c.expectTransfers(1)
	// Settling twice: the second answer must come too (rcv-settle-mode second waits for it), as lock-lost.
	for i, want := range []amqp.Symbol{"", amqp.ErrCondMessageLockLost} {
		c.frame(amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Disposition{Role: amqp.RoleReceiver, First: 0, State: &amqp.Accepted{}}})
		for {
			d, ok := c.read().Body.(*amqp.Disposition)
			if !ok {
				continue
			}
			var got amqp.Symbol
			if r, ok := d.State.(*amqp.Rejected); ok && r.Error != nil {
				got = r.Error.Condition
			}
			if !d.Settled || got != want {
				t.Fatalf("settlement %d: settled %v condition %q, want %q", i, d.Settled, got, want)
			}
			break
		}
	}
}

func TestServerCloseTellsClients(t *testing.T) {
	env := startNS(t, queueNS("q", entityProps{}))
	c := dialRaw(t, env.srv.Addr())
	c.open()
	go env.srv.Close()
	if cond := c.expectClose(); cond != amqp.ErrCondConnectionForced {
		t.Fatalf("condition %q", cond)
	}
}

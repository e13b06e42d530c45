package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"meterline/infra/servicebus-emulator/amqp"
)

// maxConnections bounds the clients served at once; more are refused at accept.
const maxConnections = 512

// tickInterval is how often lock expiry, TTL and scheduled messages are checked.
const tickInterval = 20 * time.Millisecond

// Server is a running emulator.
type Server struct {
	ln    net.Listener
	ns    *namespace
	log   *slog.Logger
	store *store // nil without DataDir

	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
}

func start(ctx context.Context, addr string, ns *namespace, log *slog.Logger, st *store) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("servicebus emulator: listen: %w", err)
	}
	s := &Server{ln: ln, ns: ns, log: log, store: st, stop: make(chan struct{}), conns: map[*conn]struct{}{}}
	s.wg.Add(2)
	go s.accept()
	go s.ticker()
	log.Info("servicebus emulator listening", "addr", s.Addr())
	return s, nil
}

// Addr is the listening address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// ConnectionString is what the Service Bus SDKs need to reach this emulator.
// The key is not checked; the SDK insists on one being present.
func (s *Server) ConnectionString() string {
	return "Endpoint=sb://" + s.Addr() + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=emulator;UseDevelopmentEmulator=true;"
}

// Close stops accepting, closes every connection and waits for the goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.stop)
	err := s.ln.Close()
	// Tell clients why, so they reconnect rather than report a broken socket.
	for _, c := range conns {
		c.push(outItem{frame: amqp.Frame{Type: amqp.FrameAMQP, Body: &amqp.Close{Error: &amqp.Error{Condition: amqp.ErrCondConnectionForced, Description: "the emulator is shutting down"}}}, last: true})
	}
	grace := time.After(500 * time.Millisecond)
	for _, c := range conns {
		select {
		case <-c.doneOrNever():
		case <-grace:
		}
		c.nc.Close()
	}
	s.wg.Wait()
	if s.store != nil {
		if e := s.store.close(); e != nil && err == nil {
			err = e
		}
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed || len(s.conns) >= maxConnections {
			s.mu.Unlock()
			s.log.Warn("connection refused: too many connections", "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.log.Info("connection accepted", "remote", nc.RemoteAddr().String())
		go func() {
			defer s.wg.Done()
			c.serve()
			<-c.doneOrNever()
		}()
	}
}

// doneOrNever waits for the writer only if it was started.
func (c *conn) doneOrNever() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writerStarted {
		return c.done
	}
	ch := make(chan struct{})
	close(ch)
	return ch
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) ticker() {
	defer s.wg.Done()
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.ns.tick(now)
		}
	}
}

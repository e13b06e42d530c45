// Package emulator is a Service Bus emulator in pure Go: an AMQP 1.0 server
// that the unmodified Azure Service Bus SDKs talk to with a connection string
// containing UseDevelopmentEmulator=true. It reads the official emulator's
// config.json, starts in milliseconds and runs inside Go tests (ForTest) or
// standalone (cmd/sbemulator).
//
// Pieces: the codec (package amqp) reads and writes frames; conn.go and
// session.go speak the AMQP connection, session and link protocol (SASL,
// heartbeats, credit, session windows, multi-frame and batched transfers);
// rpc.go answers $cbs and $management requests; queue.go, namespace.go and
// sessions.go are the broker (peek-lock, delivery counts, dead-lettering,
// TTL, scheduling, duplicate detection, auto-forwarding, message sessions,
// topic fan-out through the filter package's rules); store.go keeps state
// across restarts when a data directory is given.
//
// Semantics follow Service Bus: a client that dies keeps its messages locked
// until the lock expires; released deliveries do not count as attempts;
// sequence numbers are per queue or topic (subscriptions share the topic's).
package emulator

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"testing"

	"meterline/infra/servicebus-emulator/config"
	"meterline/infra/servicebus-emulator/filter"
)

// Options configure Start.
type Options struct {
	Addr    string         // listen address; "127.0.0.1:0" when empty
	Config  *config.Config // entities; nil = the shipped config.json
	DataDir string         // keep messages across restarts in this directory; "" = memory only
	Log     *slog.Logger   // nil = discard
}

//go:embed config.json
var shippedConfig []byte

// ShippedConfig parses the config.json shipped with the emulator.
func ShippedConfig() (*config.Config, error) { return config.Parse(shippedConfig) }

// Start listens and serves until Close. ctx only bounds the start.
func Start(ctx context.Context, opt Options) (*Server, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := opt.Config
	if cfg == nil {
		var err error
		if cfg, err = ShippedConfig(); err != nil {
			return nil, fmt.Errorf("servicebus emulator: shipped config: %w", err)
		}
	}
	ns := namespaceFromConfig(cfg, log)
	var st *store
	if opt.DataDir != "" {
		var err error
		if st, err = openStore(opt.DataDir, ns, log); err != nil {
			return nil, err
		}
	}
	s, err := start(ctx, opt.Addr, ns, log, st)
	if err != nil && st != nil {
		_ = st.close()
	}
	return s, err
}

// ForTest starts an emulator on a free loopback port for the length of a test.
// A nil cfg means the shipped config.json.
func ForTest(t testing.TB, cfg *config.Config) *Server {
	t.Helper()
	s, err := Start(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatalf("servicebus emulator: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// namespaceFromConfig builds the entities. Every namespace of the config is
// served on the one endpoint, as the official emulator does with its single one.
func namespaceFromConfig(cfg *config.Config, log *slog.Logger) *namespace {
	ns := newNamespace()
	logf := func(msg string, args ...any) { log.Info(msg, args...) }
	ns.log = logf
	type forwarding struct {
		q          *queue
		to, deadTo string
	}
	var fwd []forwarding
	for _, n := range cfg.Namespaces {
		for _, q := range n.Queues {
			nq := newQueue(q.Name, propsFromConfig(q.Properties, config.EntityProperties{}), true, defaultLimits, logf)
			ns.addQueue(nq)
			fwd = append(fwd, forwarding{nq, q.Properties.ForwardTo, q.Properties.ForwardDeadLetteredMessagesTo})
		}
		for _, t := range n.Topics {
			tp := &topic{name: t.Name, log: logf, props: entityProps{
				RequiresDuplicateDetection: t.Properties.RequiresDuplicateDetection,
				DuplicateWindow:            t.Properties.DuplicateDetectionHistoryTimeWindow,
			}}
			for _, s := range t.Subscriptions {
				name := t.Name + "/Subscriptions/" + s.Name
				sub := &subscription{name: s.Name, q: newQueue(name, propsFromConfig(s.Properties, t.Properties), true, defaultLimits, logf)}
				fwd = append(fwd, forwarding{sub.q, s.Properties.ForwardTo, s.Properties.ForwardDeadLetteredMessagesTo})
				for _, r := range s.Rules {
					f := r.Filter
					if f == nil {
						f = filter.True
					}
					sub.rules = append(sub.rules, rule{name: r.Name, filter: f, action: r.Action})
				}
				tp.subs = append(tp.subs, sub)
			}
			ns.addTopic(tp)
		}
	}
	// Targets resolve once every entity exists; config has checked they do.
	for _, f := range fwd {
		if f.to != "" {
			f.q.forward, _, _ = ns.sendTarget(f.to)
		}
		if f.deadTo != "" {
			f.q.forwardDead, _, _ = ns.sendTarget(f.deadTo)
		}
	}
	return ns
}

// propsFromConfig maps config properties; a subscription's TTL is capped by its topic's.
func propsFromConfig(p config.EntityProperties, parent config.EntityProperties) entityProps {
	ttl := p.DefaultMessageTimeToLive
	if pt := parent.DefaultMessageTimeToLive; pt > 0 && (ttl == 0 || pt < ttl) {
		ttl = pt
	}
	return entityProps{
		LockDuration:               p.LockDuration,
		MaxDeliveryCount:           p.MaxDeliveryCount,
		DefaultTTL:                 ttl,
		DeadLetterOnExpiration:     p.DeadLetteringOnMessageExpiration,
		RequiresDuplicateDetection: p.RequiresDuplicateDetection,
		DuplicateWindow:            p.DuplicateDetectionHistoryTimeWindow,
		RequiresSession:            p.RequiresSession,
	}
}

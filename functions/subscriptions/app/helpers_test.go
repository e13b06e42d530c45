package app_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	cloudapi "meterline/functions/cloudapi/contracts"
	"meterline/functions/subscriptions/app"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/funcapp"
	viewsmem "meterline/shared/views/memstore"
)

func memViews() app.Views { return app.ViewsOn(viewsmem.New()) }

// poison reports whether the kit dead-letters a message that failed with err.
func poison(err error) bool {
	var p *funcapp.PoisonError
	return errors.As(blocks.Classify(err), &p)
}

// onOwnTopic is what Subscriptions does with one of its own events: its projections (through
// the outbox) and the receptor on its own topic.
func onOwnTopic(s *app.Subscriptions) func(context.Context, eventstore.Event) error {
	return func(ctx context.Context, e eventstore.Event) error {
		return errors.Join(s.Project(ctx, []eventstore.Event{e}), s.ExpireInvoices.Handle(ctx, e))
	}
}

// bus records what the application publishes and, when loop is set, hands each event back to
// the receptor of its own topic, as Service Bus would.
type bus struct {
	mu        sync.Mutex
	published []eventstore.Event
	fail      bool
	loop      func(context.Context, eventstore.Event) error
}

var errBusDown = errors.New("bus down")

func (b *bus) Publish(ctx context.Context, events ...eventstore.Event) error {
	b.mu.Lock()
	if b.fail {
		b.mu.Unlock()
		return errBusDown
	}
	b.published = append(b.published, events...)
	loop := b.loop
	b.mu.Unlock()
	if loop != nil {
		for _, e := range events {
			if err := loop(ctx, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *bus) types() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.published {
		out = append(out, e.Type)
	}
	return out
}

func (b *bus) count(typ string) int {
	n := 0
	for _, t := range b.types() {
		if t == typ {
			n++
		}
	}
	return n
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type fixture struct {
	t     *testing.T
	ctx   context.Context
	store *memstore.Store
	views app.Views
	bus   *bus
	clock *clock
	s     *app.Subscriptions
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), store: memstore.New(), views: memViews(), bus: &bus{},
		clock: &clock{now: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}}
	f.s = app.New(app.Config{Store: f.store, Publisher: f.bus, Views: f.views, Now: f.clock.Now, PasswordCost: bcrypt.MinCost, Logger: quiet})
	f.bus.loop = f.s.ExpireInvoices.Handle
	return f
}

func (f *fixture) customer(plan string, limit *int64) string {
	f.t.Helper()
	id, err := f.s.Customers.Create(f.ctx, app.CreateCustomer{Name: "Acme", Plan: plan, CreditLimit: limit})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) view(customerID string) app.CustomerView {
	f.t.Helper()
	v, ok, err := f.views.Customers.Get(f.ctx, customerID)
	if err != nil || !ok {
		f.t.Fatalf("customer view %s: found=%v err=%v", customerID, ok, err)
	}
	return v
}

func (f *fixture) version(stream string) int64 {
	f.t.Helper()
	events, err := f.store.Read(f.ctx, stream, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	return int64(len(events))
}

// usageEvent is a cloudapi.UsageReported event as the Cloud API stores and publishes it.
func usageEvent(t *testing.T, customerID, reportID string, units int64, at time.Time) eventstore.Event {
	t.Helper()
	reg := eventstore.NewRegistry()
	cloudapi.Register(reg)
	ctx := eventstore.WithCommandID(context.Background(), "report:"+reportID)
	events, err := reg.NewEvents(ctx, cloudapi.Source, cloudapi.UsageStream(customerID), at,
		cloudapi.UsageReported{ReportID: reportID, CustomerID: customerID, Units: units, Requests: 1, PeriodFrom: at, PeriodTo: at.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	events[0].Version = 1
	return events[0]
}

var quiet = slog.New(slog.DiscardHandler)

func ptr(v int64) *int64 { return &v }

package app

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"time"

	"golang.org/x/crypto/bcrypt"

	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/aggregate"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/outbox"
)

// Config is what the Subscriptions application needs. Store and Views are required.
type Config struct {
	Store eventstore.Store
	// Outbox publishes events to the "subscriptions" topic right after their append and, on
	// the OutboxSweep timer, whatever that left behind. nil: nothing is published.
	Outbox *outbox.Dispatcher
	Views  Views

	Now            func() time.Time // default time.Now
	Random         io.Reader        // default crypto/rand.Reader
	PasswordCost   int              // bcrypt cost; default bcrypt.DefaultCost
	ReminderPeriod time.Duration    // invoice payment term and expiry reminder; default 15 days
	Logger         *slog.Logger     // default slog.Default()
	// SnapshotEvery: a Customer's snapshot is renewed once its stream has grown by this many
	// events (when Store is an eventstore.SnapshotStore); default aggregate.DefaultSnapshotEvery.
	SnapshotEvery int
}

// DefaultReminderPeriod is seed 001's "remindIn": 15 days.
const DefaultReminderPeriod = 15 * 24 * time.Hour

// Views are the document collections of Subscriptions, all required.
type Views struct {
	Customers   Docs[CustomerView]        // collection "customers"
	Outstanding Docs[OutstandingInvoices] // collection "outstandinginvoices"
	Users       Docs[UserView]            // collection "users"
	Emails      Docs[EmailClaim]          // collection "emails": the email index
}

// Collection names of the Views.
const (
	CustomersCollection   = "customers"
	OutstandingCollection = "outstandinginvoices"
	UsersCollection       = "users"
	EmailsCollection      = "emails"
)

// Subscriptions is the application: its services, receptors, projections and tasks.
type Subscriptions struct {
	Customers *Customers
	Users     *Users

	Usage    *UsageReceptor
	Invoices *InvoiceReceptor

	CustomerViews *Projector[CustomerView]
	Outstanding   *Projector[OutstandingInvoices]
	UserViews     *Projector[UserView]

	ExpiryTracker    *InvoiceExpiryTracker
	MonthlyInvoicing *MonthlyInvoicing
	OutboxSweep      *OutboxSweep

	Events *eventstore.Registry

	cfg Config
	log *slog.Logger
}

// New wires the application.
func New(cfg Config) *Subscriptions {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = bcrypt.DefaultCost
	}
	if cfg.ReminderPeriod <= 0 {
		cfg.ReminderPeriod = DefaultReminderPeriod
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	s := &Subscriptions{Events: reg, cfg: cfg, log: cfg.Logger}
	// Customer streams grow by a usage report a minute: load them from a snapshot and the
	// events after it (both event stores keep snapshots).
	snapshots, _ := cfg.Store.(eventstore.SnapshotStore)
	s.Customers = &Customers{
		svc: &aggregate.Service[*domain.Customer]{
			Store: cfg.Store, Events: reg, Source: contracts.Source, Now: cfg.Now,
			Dispatch: s.afterAppend, FlushPending: s.flushPending,
			New:       func(stream string) *domain.Customer { return domain.NewCustomer(domain.CustomerIDFromStream(stream)) },
			Snapshots: snapshots, SnapshotEvery: cfg.SnapshotEvery, OnSnapshotError: s.snapshotFailed,
		},
		now: cfg.Now, random: cfg.Random, terms: cfg.ReminderPeriod,
	}
	s.Users = &Users{
		svc: &aggregate.Service[*domain.User]{
			Store: cfg.Store, Events: reg, Source: contracts.Source, Now: cfg.Now,
			Dispatch: s.afterAppend, FlushPending: s.flushPending,
			New: func(stream string) *domain.User { return domain.NewUser(domain.UserIDFromStream(stream)) },
		},
		customers: s.Customers,
		directory: cfg.Views.Customers,
		emails:    cfg.Views.Emails,
		now:       cfg.Now, random: cfg.Random, cost: cfg.PasswordCost,
	}
	s.Usage = &UsageReceptor{customers: s.Customers}
	s.Invoices = &InvoiceReceptor{customers: s.Customers, events: reg}

	s.CustomerViews = &Projector[CustomerView]{
		Prefix: "customer-", Docs: cfg.Views.Customers,
		Version: func(v *CustomerView) *int64 { return &v.Version }, When: projectCustomer,
		store: cfg.Store, events: reg,
	}
	s.Outstanding = &Projector[OutstandingInvoices]{
		Prefix: "customer-", Docs: cfg.Views.Outstanding,
		Version: func(v *OutstandingInvoices) *int64 { return &v.Version }, When: projectOutstanding,
		store: cfg.Store, events: reg,
	}
	s.UserViews = &Projector[UserView]{
		Prefix: "user-", Docs: cfg.Views.Users,
		Version: func(v *UserView) *int64 { return &v.Version }, When: projectUser,
		store: cfg.Store, events: reg,
	}

	s.ExpiryTracker = &InvoiceExpiryTracker{
		Now:         cfg.Now,
		outstanding: s.Outstanding.Docs, store: cfg.Store, events: reg, reminder: cfg.ReminderPeriod,
		after: s.afterAppend, flush: s.flushPending, log: cfg.Logger,
	}
	s.MonthlyInvoicing = &MonthlyInvoicing{Now: cfg.Now, customers: s.Customers, views: s.CustomerViews.Docs, log: cfg.Logger}
	s.OutboxSweep = &OutboxSweep{outbox: cfg.Outbox, log: cfg.Logger}
	return s
}

// Now is the application's clock.
func (s *Subscriptions) Now() time.Time { return s.cfg.Now() }

// Project brings every projection of e's stream up to date.
func (s *Subscriptions) Project(ctx context.Context, stream string) error {
	return errors.Join(
		s.CustomerViews.Project(ctx, stream),
		s.Outstanding.Project(ctx, stream),
		s.UserViews.Project(ctx, stream),
	)
}

// OnOwnEvent handles one event of Subscriptions' own topic: projections and receptors.
func (s *Subscriptions) OnOwnEvent(ctx context.Context, e eventstore.Event) error {
	if err := s.Project(ctx, e.Stream); err != nil {
		return err
	}
	return s.Invoices.When(ctx, e)
}

// afterAppend runs right after each append: publish the events (the other contexts see them
// within a second), then project the changed streams (the client reads its own writes).
// Failures are only logged: the outbox sweep republishes what was not published, and the
// topic brings the events to the projections again.
func (s *Subscriptions) afterAppend(ctx context.Context, events []eventstore.Event) {
	if s.cfg.Outbox != nil {
		s.cfg.Outbox.AfterAppend(ctx, events)
	}
	done := map[string]bool{}
	for _, e := range events {
		if done[e.Stream] {
			continue
		}
		done[e.Stream] = true
		if err := s.Project(ctx, e.Stream); err != nil {
			s.log.WarnContext(ctx, "projection after append failed; the topic will bring it again", "stream", e.Stream, "error", err)
		}
	}
}

// flushPending runs after a command that changed nothing, perhaps the retry of one that
// stored its events and died before publishing them (the Service Bus message was redelivered):
// publish what is pending in the stream now, not at the next sweep. Failures are logged and
// left to the sweep; the topic brings the events to the projections.
func (s *Subscriptions) flushPending(ctx context.Context, stream string) {
	if s.cfg.Outbox != nil {
		s.cfg.Outbox.AfterNoChange(ctx, stream)
	}
}

// snapshotFailed logs a snapshot that could not be used or saved: the command went on by
// replaying the stream, only slower.
func (s *Subscriptions) snapshotFailed(ctx context.Context, stream string, err error) {
	s.log.WarnContext(ctx, "snapshot not used; the stream was replayed", "stream", stream, "error", err)
}

// isDomain reports whether err is a domain rule saying no (as opposed to a failure of I/O).
func isDomain(err error) bool {
	var de *domain.Error
	return errors.As(err, &de)
}

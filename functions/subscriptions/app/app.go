package app

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"time"

	"golang.org/x/crypto/bcrypt"

	"meterline/functions/subscriptions/acl"
	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/aggregate"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/views"
)

// EventStore is Subscriptions' event store: streams, snapshots and the outbox of what is
// still to publish (both stores have all three).
type EventStore interface {
	eventstore.Store
	eventstore.StreamOutbox
}

// Config is what the Subscriptions application needs. Store and Views are required.
type Config struct {
	Store EventStore
	// Publisher sends events to the "subscriptions" topic; nil publishes nothing (the context
	// alone, in tests). Either way the outbox feeds the context's own projections.
	Publisher eventstore.Publisher
	Views     Views

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
	Customers       *views.Docs[CustomerView]        // collection "customers"
	Outstanding     *views.Docs[OutstandingInvoices] // collection "outstandinginvoices"
	Users           *views.Docs[UserView]            // collection "users"
	Emails          *views.Docs[EmailClaim]          // collection "emails": the email index
	IdempotencyKeys *views.Docs[blocks.KeyUse]       // collection "idempotencykeys": what each Idempotency-Key was used for
}

// Collection names of the Views.
const (
	CustomersCollection       = "customers"
	OutstandingCollection     = "outstandinginvoices"
	UsersCollection           = "users"
	EmailsCollection          = "emails"
	IdempotencyKeysCollection = "idempotencykeys"
)

// ViewsOn lays the Views out as collections of b.
func ViewsOn(b views.Backend) Views {
	return Views{
		Customers:       views.Collection[CustomerView](b, CustomersCollection),
		Outstanding:     views.Collection[OutstandingInvoices](b, OutstandingCollection),
		Users:           views.Collection[UserView](b, UsersCollection),
		Emails:          views.Collection[EmailClaim](b, EmailsCollection),
		IdempotencyKeys: views.Collection[blocks.KeyUse](b, IdempotencyKeysCollection),
	}
}

// Subscriptions is the application: its services, receptors, projections and tasks.
type Subscriptions struct {
	// Application services.
	Customers *Customers
	Users     *Users

	// Receptors.
	ApplyUsage     blocks.Receptor[acl.Usage]
	ExpireInvoices blocks.Receptor[contracts.InvoicePossiblyExpired]

	// Projections of its own streams (fed by the outbox).
	CustomerViews blocks.Projection[any, CustomerView]
	Outstanding   blocks.Projection[any, OutstandingInvoices]
	UserViews     blocks.Projection[any, UserView]

	// Tasks.
	ExpiryTracker    *InvoiceExpiryTracker
	MonthlyInvoicing *MonthlyInvoicing
	// Outbox publishes every appended event, then projects it; its RunSweep is the OutboxSweep task.
	Outbox *outbox.Dispatcher

	Events *eventstore.Registry
	Now    func() time.Time // the application's clock

	log *slog.Logger
}

// New wires the application.
func New(cfg Config) *Subscriptions {
	now := blocks.Clock(cfg.Now)
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
	s := &Subscriptions{Events: reg, Now: now, log: cfg.Logger}
	s.CustomerViews = CustomerViews(cfg.Views.Customers, cfg.Store)
	s.Outstanding = Outstanding(cfg.Views.Outstanding, cfg.Store)
	s.UserViews = UserViews(cfg.Views.Users, cfg.Store)
	s.Outbox = &outbox.Dispatcher{Outbox: cfg.Store, Publisher: cfg.Publisher, Local: s.Project, Now: now, Log: cfg.Logger}

	// Customer streams grow by a usage report a minute: load them from a snapshot and the
	// events after it (both event stores keep snapshots).
	snapshots, _ := cfg.Store.(eventstore.SnapshotStore)
	s.Customers = &Customers{
		svc: &aggregate.Service[*domain.Customer]{
			Store: cfg.Store, Events: reg, Source: contracts.Source, Now: now,
			Dispatch: s.Outbox.AfterAppend, FlushPending: s.Outbox.AfterNoChange,
			New:       func(stream string) *domain.Customer { return domain.NewCustomer(domain.CustomerIDFromStream(stream)) },
			Snapshots: snapshots, SnapshotEvery: cfg.SnapshotEvery, OnSnapshotError: s.snapshotFailed,
		},
		now: now, random: cfg.Random, terms: cfg.ReminderPeriod,
	}
	s.Users = &Users{
		svc: &aggregate.Service[*domain.User]{
			Store: cfg.Store, Events: reg, Source: contracts.Source, Now: now,
			Dispatch: s.Outbox.AfterAppend, FlushPending: s.Outbox.AfterNoChange,
			New: func(stream string) *domain.User { return domain.NewUser(domain.UserIDFromStream(stream)) },
		},
		customers: s.Customers,
		directory: cfg.Views.Customers,
		emails:    cfg.Views.Emails,
		now:       now, random: cfg.Random, cost: cfg.PasswordCost,
	}
	s.ApplyUsage = applyUsage(s.Customers)
	s.ExpireInvoices = expireInvoices(s.Customers, reg)

	s.ExpiryTracker = &InvoiceExpiryTracker{
		now: now, outstanding: cfg.Views.Outstanding, store: cfg.Store, events: reg, reminder: cfg.ReminderPeriod,
		outbox: s.Outbox, log: cfg.Logger,
	}
	s.MonthlyInvoicing = &MonthlyInvoicing{now: now, customers: s.Customers, views: cfg.Views.Customers, log: cfg.Logger}
	return s
}

// Project hands events to the projections of Subscriptions' own streams: the outbox's Local,
// and the way to rebuild a view (from the events of its streams). Each projection takes the
// types it wants and reads past a gap from the store.
func (s *Subscriptions) Project(ctx context.Context, events []eventstore.Event) error {
	var errs []error
	for _, e := range events {
		errs = append(errs, s.CustomerViews.Handle(ctx, e), s.Outstanding.Handle(ctx, e), s.UserViews.Handle(ctx, e))
	}
	return errors.Join(errs...)
}

// snapshotFailed logs a snapshot that could not be used or saved: the command went on by
// replaying the stream, only slower.
func (s *Subscriptions) snapshotFailed(ctx context.Context, stream string, err error) {
	s.log.WarnContext(ctx, "snapshot not used; the stream was replayed", "stream", stream, "error", err)
}

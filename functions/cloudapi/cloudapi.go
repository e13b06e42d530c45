// Package cloudapi is the Cloud API bounded context as a Functions app: the metered forecast
// API for third parties and the company's own products, secured by API keys replicated from
// Subscriptions, and the task that reports consumption back as cloudapi.UsageReported.
//
// Functions (one source of truth: New):
//
//	Forecast           POST /api/cloud/forecast   metered: one unit per forecast point
//	Usage              GET  /api/cloud/usage      the caller's customer's consumption
//	ReplicateAccess    Service Bus topic "subscriptions", subscription "cloudapi": the access
//	                   projection (keys, users, customers and their locks)
//	UsageReporting     timer, schedule from app setting UsageReportSchedule ("0 * * * * *")
//
// Subpackages: contracts (published events), acl (Subscriptions' events -> access changes),
// domain (forecast, access rules, metering), app (services), meterlog (meter storage).
//
// Metering design: each metered request writes its own rows, in its customer's partition of
// the meter table, inserted only if absent by request id (the Idempotency-Key): no request waits
// on another's event-stream header, and a repeat meters nothing and gets the stored answer.
// A customer's concurrent requests share entity-group transactions (group commit, see package
// meterlog), and every request is durable before its 200. The reporter later turns the rows
// into events (see app.UsageReporter), which is the only place a stream is appended to.
//
// Access: every request reads the replica (key hash -> key, then user and customer locks);
// reads are reused for app.DefaultAccessCacheTTL (500 ms), well inside the seed's 1-2 s for a
// new key or a lock to take effect.
package cloudapi

import (
	"context"
	"errors"
	"time"

	"meterline/functions/cloudapi/acl"
	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/contracts"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/funcapp"
	"meterline/shared/views"
)

// Name is the bounded context's name: its app, its topic, its event source.
const Name = "cloudapi"

// DefaultUsageReportSchedule is the value the UsageReportSchedule app setting should hold
// unless there is a reason to report more or less often: every minute.
const DefaultUsageReportSchedule = "0 * * * * *"

// Deps are what the Cloud API runs on.
type Deps struct {
	Access app.AccessStore  // the access replica (shared/views collections)
	Meter  app.MeterLog     // the meter table (meterlog.Table)
	Events eventstore.Store // this context's event store (usage streams)
	// Outbox publishes usage reports to the "cloudapi" topic right after their append, and its
	// sweep (run at the start of every usage reporting tick) republishes what a crash or a
	// failed publish left behind. Optional (nil: events stay in the store's outbox).
	Outbox *outbox.Dispatcher
	// AccessCacheTTL: how long a request may rely on an access read made by an earlier one;
	// 0 means app.DefaultAccessCacheTTL, negative turns the cache off.
	AccessCacheTTL time.Duration
	// Unmetered turns metering off: ONLY for benchmarks that measure its cost.
	Unmetered bool
	Now       func() time.Time // default time.Now
}

// New registers the Cloud API's functions. Missing dependencies are a wiring mistake: it panics.
func New(deps Deps) *funcapp.App {
	if deps.Access.Keys == nil || deps.Access.Credentials == nil || deps.Access.Users == nil || deps.Access.Customers == nil ||
		deps.Meter == nil || deps.Events == nil {
		panic("cloudapi: Deps needs Access (all four collections), Meter and Events")
	}
	a := funcapp.New(Name)
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	ttl := deps.AccessCacheTTL
	if ttl == 0 {
		ttl = app.DefaultAccessCacheTTL
	}
	api := &api{
		gate:        app.Gate{Store: app.CachedAccess(deps.Access, ttl)},
		forecasting: app.Forecasting{Meter: deps.Meter, Unmetered: deps.Unmetered, Now: deps.Now},
		meter:       deps.Meter,
	}
	projection := app.AccessProjection{Store: deps.Access}
	reporter := app.UsageReporter{Meter: deps.Meter, Store: deps.Events, Events: reg, Now: deps.Now}
	if deps.Outbox != nil {
		reporter.Dispatch, reporter.FlushPending = deps.Outbox.AfterAppend, deps.Outbox.AfterNoChange
	}

	a.HTTP("Forecast", funcapp.HTTPTrigger{Methods: []string{"POST"}, Route: "cloud/forecast", AuthLevel: "anonymous"}, api.handleForecast())
	a.HTTP("Usage", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "cloud/usage", AuthLevel: "anonymous"}, api.handleUsage())
	a.ServiceBus("ReplicateAccess", funcapp.ServiceBusTrigger{Topic: "subscriptions", Subscription: Name},
		func(ctx context.Context, m *funcapp.Message) error { return replicateAccess(ctx, projection, m) })
	a.Timer("UsageReporting", funcapp.TimerTrigger{Schedule: "%UsageReportSchedule%"},
		func(ctx context.Context, _ funcapp.TimerInfo) error { return reportUsage(ctx, deps.Outbox, reporter) })
	return a
}

// reportUsage is the usage reporting tick: publish what earlier ticks left in the outbox, then
// report new consumption.
func reportUsage(ctx context.Context, out *outbox.Dispatcher, reporter app.UsageReporter) error {
	var swept error
	if out != nil {
		_, swept = out.Sweep(ctx, outbox.DefaultSweepAge)
	}
	return errors.Join(swept, reporter.Run(ctx))
}

// replicateAccess is the receptor of Subscriptions' events: types not handled are completed
// untouched, malformed ones are poison, storage failures are retried by redelivery.
func replicateAccess(ctx context.Context, p app.AccessProjection, m *funcapp.Message) error {
	change, e, err := acl.Decode(m.Body)
	if errors.Is(err, acl.ErrMalformed) {
		return funcapp.Poison("malformed-event", err)
	}
	if err != nil || change == nil {
		return err
	}
	err = p.Apply(eventstore.HandlingEvent(ctx, e), change)
	if errors.Is(err, views.ErrInvalidKey) || errors.Is(err, views.ErrTooLarge) {
		return funcapp.Poison("unstorable-event", err) // an id no document can be stored under
	}
	return err
}

// SubscriptionFilter is the SQL filter of Service Bus subscription "cloudapi" on topic
// "subscriptions": only the event types the access projection handles.
func SubscriptionFilter() string {
	f := "type IN ("
	for i, t := range acl.HandledTypes() {
		if i > 0 {
			f += ", "
		}
		f += "'" + t + "'"
	}
	return f + ")"
}

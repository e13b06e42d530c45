// Package cloudapi is the Cloud API bounded context as a Functions app: the metered forecast
// API for third parties and the company's own products, secured by API keys replicated from
// Subscriptions, and the task that reports consumption back as cloudapi.UsageReported.
// New(deps) lists the context's blocks (package blocks); Connect(ctx, setting) makes the deps
// from the app settings (connect.go); InMemoryDeps only define the functions.
//
// Functions (one source of truth: New):
//
//	Forecast                POST /api/cloud/forecast   metered: one unit per forecast point
//	Usage                   GET  /api/cloud/usage      the caller's customer's consumption
//	ReplicateKeys           topic "subscriptions", subscription "cloudapi-replicate-keys":
//	                        API keys (ApiKeyIssued, ApiKeyRevoked), mirrored into credentials
//	ReplicateUserLocks      topic "subscriptions", subscription "cloudapi-replicate-user-locks":
//	                        users' locks (UserCreated, UserLocked, UserUnlocked)
//	ReplicateCustomerLocks  topic "subscriptions", subscription "cloudapi-replicate-customer-locks":
//	                        customers' locks (CustomerCreated, CustomerLocked, CustomerUnlocked)
//	UsageReporting          timer, app setting UsageReportSchedule ("0 * * * * *")
//	CloudApiOutboxSweep     timer, app setting OutboxSweepSchedule ("0 * * * * *")
//
// Each subscription's SQL filter is generated from the event types its projection handles, so
// a projection never receives a type it did not ask for.
//
// Subpackages: contracts (published events), acl (Subscriptions' events -> access changes),
// domain (forecast, access rules, metering), app (projections, services, tasks), meterlog
// (meter storage).
//
// Metering design: each metered request writes its own rows, in its customer's partition of
// the meter table, inserted only if absent by request id (the Idempotency-Key): no request waits
// on another's event-stream header, and a repeat meters nothing and gets the stored answer.
// A customer's concurrent requests share entity-group transactions (group commit, see package
// meterlog), and every request is durable before its 200. The reporter later turns the rows
// into events (see app.UsageReporter), which is the only place a stream is appended to.
//
// Access: every request reads the replica (key hash -> credential, then user and customer
// locks); reads, a miss included, are reused for app.DefaultAccessCacheTTL (500 ms), so that a
// flood of one unknown key costs a read per TTL. The projections refresh what they write in
// this process's cache, so a key that just arrived or a lock takes effect at once here, and
// within the TTL on other instances: inside the seed's 1-2 s.
package cloudapi

import (
	"time"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/funcapp"
	"meterline/shared/openapi"
)

// Name is the bounded context's name: its app, its topic, its event source.
const Name = "cloudapi"

// Deps are what the Cloud API runs on.
type Deps struct {
	Access app.AccessStore  // the access replica (shared/views collections)
	Meter  app.MeterLog     // the meter table (meterlog.Table)
	Events eventstore.Store // this context's event store (usage streams)
	// Outbox publishes usage reports to the "cloudapi" topic right after their append; the
	// CloudApiOutboxSweep task republishes what a crash or a failed publish left behind. Optional (nil:
	// events stay in the store's outbox).
	Outbox *outbox.Dispatcher
	// AccessCacheTTL: how long a request may rely on an access read made by an earlier one;
	// 0 means app.DefaultAccessCacheTTL, negative turns the cache off.
	AccessCacheTTL time.Duration
	// Unmetered turns metering off: ONLY for benchmarks that measure its cost.
	Unmetered bool
	Now       func() time.Time // default time.Now
}

// New returns the Cloud API's Functions app. Missing dependencies are a wiring mistake: it
// panics.
func New(deps Deps) *funcapp.App {
	if deps.Access.Keys == nil || deps.Access.Credentials == nil || deps.Access.Users == nil || deps.Access.Customers == nil ||
		deps.Meter == nil || deps.Events == nil {
		panic("cloudapi: Deps needs Access (all four collections), Meter and Events")
	}
	now := blocks.Clock(deps.Now)
	reg := eventstore.NewRegistry()
	contracts.Register(reg)
	api := &api{
		gate:        app.NewGate(deps.Access, deps.AccessCacheTTL),
		forecasting: app.Forecasting{Meter: deps.Meter, Unmetered: deps.Unmetered, Now: now},
		meter:       deps.Meter,
	}
	reporter := app.UsageReporter{Meter: deps.Meter, Store: deps.Events, Events: reg, Now: now}
	if deps.Outbox != nil {
		reporter.Dispatch, reporter.FlushPending = deps.Outbox.AfterAppend, deps.Outbox.AfterNoChange
	}

	a := funcapp.New(Name)
	blocks.Register(a,
		// The API; it authenticates bearer keys itself, hence no host key.
		blocks.Endpoint{Name: "Forecast", Method: "POST", Route: "cloud/forecast", Auth: "anonymous", Handle: api.forecast, Doc: forecastDoc},
		blocks.Endpoint{Name: "Usage", Method: "GET", Route: "cloud/usage", Auth: "anonymous", Handle: api.usage, Doc: usageDoc},

		app.ReplicateKeys(deps.Access, api.gate.Refresh),
		app.ReplicateUserLocks(deps.Access, api.gate.Refresh),
		app.ReplicateCustomerLocks(deps.Access, api.gate.Refresh),

		blocks.Task{Name: "UsageReporting", Schedule: "%" + SettingUsageReportSchedule + "%", Run: reporter.Run},
		blocks.Task{Name: "CloudApiOutboxSweep", Schedule: "%" + SettingOutboxSweepSchedule + "%", Run: app.OutboxSweep(deps.Outbox)},

		blocks.OpenAPI{Context: Name, Route: "cloud/openapi.json", Info: openapi.Info{Title: "Cloud API",
			Description: "Forecasts, metered per point and billed by Subscriptions. Authenticate with an API key as a bearer token."}},
	)
	return a
}

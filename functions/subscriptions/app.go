// Package subscriptions is the Subscriptions bounded context as an Azure Functions app: the
// back-office HTTP API, the receptors on Service Bus topics and the timer tasks, wired to the
// application in package app. New(deps) lists the context's blocks; Connect(ctx, setting) makes
// the deps from the app settings; InMemoryDeps only define the functions (for function.json).
//
// App settings read (with defaults):
//
//	AzureWebJobsStorage       (required)      storage account: tables subscriptionsEvents, subscriptionsViews, container subscriptions-payloads
//	InvoiceReminderPeriod     360h            invoice payment term; outstanding longer -> InvoicePossiblyExpired (Go duration)
//	InvoiceExpirySchedule     0 */15 * * * *  InvoiceExpiryTracker timer (NCRONTAB, 6 fields)
//	MonthlyInvoicingSchedule  0 5 0 1 * *     MonthlyInvoicing timer: invoices the previous month
//	OutboxSweepSchedule       0 * * * * *     SubscriptionsOutboxSweep timer: republishes what failed
//	ServiceBusConnection      (required)      the Service Bus connection, used by the host for the triggers
//
// The timers name their schedule as "%Setting%", which the Functions host resolves from the app
// settings: put DefaultSettings in local.settings.json (Values).
//
// Service Bus: publishes every event to topic "subscriptions"; its receptors ApplyUsage (topic
// "cloudapi") and ExpireInvoices (its own topic) each have a subscription filtered to the
// types they want (package blocks). Its own projections are fed by the outbox, not the topic.
package subscriptions

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/contracts"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/memstore"
	"meterline/shared/funcapp"
	"meterline/shared/openapi"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
)

// Names of the app settings this context reads.
const (
	SettingReminderPeriod = "InvoiceReminderPeriod"
	SettingExpirySchedule = "InvoiceExpirySchedule"
	SettingInvoicing      = "MonthlyInvoicingSchedule"
	SettingOutboxSweep    = "OutboxSweepSchedule"
	ServiceBusConnection  = funcapp.DefaultServiceBusConnection
)

// DefaultSettings are the values to use when an app setting is not set.
var DefaultSettings = map[string]string{
	SettingReminderPeriod: "360h",
	SettingExpirySchedule: "0 */15 * * * *",
	SettingInvoicing:      "0 5 0 1 * *",
	SettingOutboxSweep:    "0 * * * * *",
}

// Deps is what the Subscriptions app runs on. Store and Views are required.
type Deps struct {
	Store app.EventStore
	// Publisher sends to the "subscriptions" topic; nil publishes nothing (the context alone, in
	// tests).
	Publisher eventstore.Publisher
	Views     views.Backend

	Now          func() time.Time         // default time.Now
	Setting      func(name string) string // app settings; default os.Getenv
	Random       io.Reader                // default crypto/rand.Reader
	PasswordCost int                      // bcrypt cost; default bcrypt.DefaultCost (tests: bcrypt.MinCost)
	Logger       *slog.Logger
}

// InMemoryDeps connect to nothing: for defining the functions at build time and for tests.
func InMemoryDeps() Deps {
	return Deps{Store: memstore.New(), Views: viewmem.New(), Setting: func(string) string { return "" }}
}

// New returns the Subscriptions Functions app. It panics on an invalid app setting, so that a
// misconfigured app fails at start-up, not at its first invoice.
func New(deps Deps) *funcapp.App {
	a, _ := NewWithApplication(deps)
	return a
}

// NewWithApplication is New that also returns the application behind the functions (for tests
// and for an app that drives tasks itself).
func NewWithApplication(deps Deps) (*funcapp.App, *app.Subscriptions) {
	if deps.Store == nil || deps.Views == nil {
		panic("subscriptions: Deps needs Store and Views (InMemoryDeps for a definition only)")
	}
	setting := deps.Setting
	if setting == nil {
		setting = os.Getenv
	}
	reminder, err := time.ParseDuration(settingOr(setting, SettingReminderPeriod))
	if err != nil || reminder <= 0 {
		panic(fmt.Sprintf("subscriptions: app setting %s=%q: want a positive Go duration like 360h", SettingReminderPeriod, setting(SettingReminderPeriod)))
	}
	v := app.ViewsOn(deps.Views)
	s := app.New(app.Config{
		Store: deps.Store, Publisher: deps.Publisher, Views: v,
		Now: deps.Now, Random: deps.Random, PasswordCost: deps.PasswordCost, ReminderPeriod: reminder, Logger: deps.Logger,
	})
	fa := funcapp.New(contracts.Source)
	if deps.Logger != nil {
		fa.Logger = deps.Logger
	}
	api := &api{s: s, keys: blocks.Idempotency{Keys: v.IdempotencyKeys, Now: s.Now}}
	blocks.Register(fa,
		// The back-office API.
		api.endpoint("ListPlans", "GET", "plans", api.listPlans),
		api.endpoint("CreateCustomer", "POST", "customers", api.createCustomer),
		api.endpoint("GetCustomer", "GET", "customers/{customerId}", api.getCustomer),
		api.endpoint("AddCharge", "POST", "customers/{customerId}/charges", api.addCharge),
		api.endpoint("AddPayment", "POST", "customers/{customerId}/payments", api.addPayment),
		api.endpoint("CreateUser", "POST", "customers/{customerId}/users", api.createUser),
		api.endpoint("GetUser", "GET", "customers/{customerId}/users/{userId}", api.getUser),
		api.endpoint("SetPassword", "PUT", "customers/{customerId}/users/{userId}/password", api.setPassword),
		api.endpoint("IssueKey", "POST", "customers/{customerId}/users/{userId}/keys", api.issueKey),
		api.endpoint("RevokeKey", "DELETE", "customers/{customerId}/users/{userId}/keys/{keyId}", api.revokeKey),
		api.endpoint("LockUser", "POST", "customers/{customerId}/users/{userId}/lock", api.lockUser),
		api.endpoint("UnlockUser", "POST", "customers/{customerId}/users/{userId}/unlock", api.unlockUser),

		s.ApplyUsage,
		s.ExpireInvoices,

		s.CustomerViews,
		s.Outstanding,
		s.UserViews,

		blocks.Task{Name: "InvoiceExpiryTracker", Schedule: "%" + SettingExpirySchedule + "%", Run: s.ExpiryTracker.Run},
		blocks.Task{Name: "MonthlyInvoicing", Schedule: "%" + SettingInvoicing + "%", Run: s.MonthlyInvoicing.Run},
		blocks.Task{Name: "SubscriptionsOutboxSweep", Schedule: "%" + SettingOutboxSweep + "%", Run: s.Outbox.RunSweep},

		blocks.OpenAPI{Context: contracts.Source, Info: openapi.Info{Title: "Subscriptions back office",
			Description: "Customers, plans, billing and users' API keys. Every operation but the plans list needs a function key."}},
	)
	return fa, s
}

func settingOr(setting func(string) string, name string) string {
	if v := setting(name); v != "" {
		return v
	}
	return DefaultSettings[name]
}

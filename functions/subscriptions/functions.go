// Package subscriptions is the Subscriptions bounded context as an Azure Functions app: the
// public HTTP API, the receptors on Service Bus topics and the timer tasks, wired to the
// application in package app. New(deps) returns the app; Connect(ctx, setting) makes the
// deps from the app settings; New(Deps{}) only defines the functions (for function.json).
//
// App settings read (with defaults):
//
//	AzureWebJobsStorage       (required)      storage account: tables subscriptionsEvents, subscriptionsViews, container subscriptions-payloads
//	InvoiceReminderPeriod     360h            invoice payment term; outstanding longer -> InvoicePossiblyExpired (Go duration)
//	InvoiceExpirySchedule     0 */15 * * * *  InvoiceExpiryTracker timer (NCRONTAB, 6 fields)
//	MonthlyInvoicingSchedule  0 5 0 1 * *     MonthlyInvoicing timer: invoices the previous month
//	OutboxSweepSchedule       0 * * * * *     OutboxSweep timer: republishes what failed to publish
//	ServiceBusConnection      (required)      the Service Bus connection, used by the host for the triggers
//
// The timers name their schedule as "%Setting%", which the Functions host resolves from the app
// settings: put DefaultSettings in local.settings.json (Values).
//
// Service Bus: publishes to topic "subscriptions"; receives topic "cloudapi" subscription
// "subscriptions" and topic "subscriptions" subscription "subscriptions" (filters:
// SubscriptionFilters).
package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/contracts"
	"meterline/shared/eventstore"
	"meterline/shared/eventstore/outbox"
	"meterline/shared/funcapp"
	"meterline/shared/views"
)

// Names of the app settings this context reads.
const (
	SettingReminderPeriod   = "InvoiceReminderPeriod"
	SettingExpirySchedule   = "InvoiceExpirySchedule"
	SettingInvoicing        = "MonthlyInvoicingSchedule"
	SettingOutboxSweep      = "OutboxSweepSchedule"
	ServiceBusConnection    = funcapp.DefaultServiceBusConnection
	CloudAPITopic           = "cloudapi"
	OwnSubscriptionOnTopics = "subscriptions" // our subscription on topics "cloudapi" and "subscriptions"
)

// DefaultSettings are the values to use when an app setting is not set.
var DefaultSettings = map[string]string{
	SettingReminderPeriod: "360h",
	SettingExpirySchedule: "0 */15 * * * *",
	SettingInvoicing:      "0 5 0 1 * *",
	SettingOutboxSweep:    "0 * * * * *",
}

// SubscriptionFilters are the SQL filters of the Service Bus subscriptions this context reads,
// by "topic/subscription": only usage reports from the Cloud API; every event of its own topic
// (its projections follow all its streams).
func SubscriptionFilters() map[string]string {
	return map[string]string{
		CloudAPITopic + "/" + OwnSubscriptionOnTopics:   "type = 'cloudapi.UsageReported'",
		contracts.Topic + "/" + OwnSubscriptionOnTopics: "1=1",
	}
}

// Deps is what the Subscriptions app runs on. Store and Views are required to serve; New with
// zero Deps only registers the functions (for writing function.json).
type Deps struct {
	Store eventstore.Store
	// Outbox publishes to the "subscriptions" topic: Outbox = the store, Publisher = the
	// Service Bus publisher. nil: nothing is published (tests of the context alone).
	Outbox *outbox.Dispatcher
	Views  views.Backend

	Now          func() time.Time         // default time.Now
	Setting      func(name string) string // app settings; default os.Getenv
	Random       io.Reader                // default crypto/rand.Reader
	PasswordCost int                      // bcrypt cost; default bcrypt.DefaultCost (tests: bcrypt.MinCost)
	Logger       *slog.Logger
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
	setting := deps.Setting
	if setting == nil {
		setting = os.Getenv
	}
	reminder, err := time.ParseDuration(settingOr(setting, SettingReminderPeriod))
	if err != nil || reminder <= 0 {
		panic(fmt.Sprintf("subscriptions: app setting %s=%q: want a positive Go duration like 360h", SettingReminderPeriod, setting(SettingReminderPeriod)))
	}
	s := app.New(app.Config{
		Store: deps.Store, Outbox: deps.Outbox, Views: ViewsOn(deps.Views),
		Now: deps.Now, Random: deps.Random, PasswordCost: deps.PasswordCost, ReminderPeriod: reminder, Logger: deps.Logger,
	})
	fa := funcapp.New(contracts.Source)
	if deps.Logger != nil {
		fa.Logger = deps.Logger
	}
	h := &api{s: s}
	route := func(name, method, path string, fn func(w http.ResponseWriter, r *http.Request)) {
		fa.HTTP(name, funcapp.HTTPTrigger{Methods: []string{method}, Route: "subscriptions/" + path, AuthLevel: "anonymous"}, http.HandlerFunc(fn))
	}
	route("ListPlans", "GET", "plans", h.listPlans)
	route("CreateCustomer", "POST", "customers", h.createCustomer)
	route("GetCustomer", "GET", "customers/{customerId}", h.getCustomer)
	route("AddCharge", "POST", "customers/{customerId}/charges", h.addCharge)
	route("AddPayment", "POST", "customers/{customerId}/payments", h.addPayment)
	route("CreateUser", "POST", "customers/{customerId}/users", h.createUser)
	route("GetUser", "GET", "customers/{customerId}/users/{userId}", h.getUser)
	route("SetPassword", "PUT", "customers/{customerId}/users/{userId}/password", h.setPassword)
	route("IssueKey", "POST", "customers/{customerId}/users/{userId}/keys", h.issueKey)
	route("RevokeKey", "DELETE", "customers/{customerId}/users/{userId}/keys/{keyId}", h.revokeKey)
	route("LockUser", "POST", "customers/{customerId}/users/{userId}/lock", h.lockUser)
	route("UnlockUser", "POST", "customers/{customerId}/users/{userId}/unlock", h.unlockUser)

	fa.ServiceBus("ApplyUsage", funcapp.ServiceBusTrigger{Topic: CloudAPITopic, Subscription: OwnSubscriptionOnTopics, Connection: ServiceBusConnection},
		receptor(s.Usage.When))
	fa.ServiceBus("OnSubscriptionsEvent", funcapp.ServiceBusTrigger{Topic: contracts.Topic, Subscription: OwnSubscriptionOnTopics, Connection: ServiceBusConnection},
		receptor(s.OnOwnEvent))

	fa.Timer("InvoiceExpiryTracker", funcapp.TimerTrigger{Schedule: "%" + SettingExpirySchedule + "%"}, task(s.ExpiryTracker.Run))
	fa.Timer("MonthlyInvoicing", funcapp.TimerTrigger{Schedule: "%" + SettingInvoicing + "%"}, task(s.MonthlyInvoicing.Run))
	fa.Timer("OutboxSweep", funcapp.TimerTrigger{Schedule: "%" + SettingOutboxSweep + "%"}, task(s.OutboxSweep.Run))
	return fa, s
}

// task is the timer function of a task: the timer's details do not matter to it.
func task(run func(ctx context.Context) error) func(context.Context, funcapp.TimerInfo) error {
	return func(ctx context.Context, _ funcapp.TimerInfo) error { return run(ctx) }
}

func settingOr(setting func(string) string, name string) string {
	if v := setting(name); v != "" {
		return v
	}
	return DefaultSettings[name]
}

// receptor adapts a handler of events to a Service Bus function: the body is the event's JSON
// envelope; an envelope that cannot be read, or an event that can never be handled, is
// dead-lettered with the reason; any other error is retried by redelivery.
func receptor(when func(context.Context, eventstore.Event) error) funcapp.MessageHandler {
	return func(ctx context.Context, m *funcapp.Message) error {
		e, err := eventstore.UnmarshalEnvelope(m.Body)
		if err != nil {
			return funcapp.Poison("invalid-envelope", err)
		}
		err = when(ctx, e)
		if errors.Is(err, app.ErrUnusable) {
			return funcapp.Poison("unusable-event", err)
		}
		return err
	}
}

// ViewsOn returns the Subscriptions view collections stored in b.
func ViewsOn(b views.Backend) app.Views {
	return app.Views{
		Customers:   views.Collection[app.CustomerView](b, app.CustomersCollection),
		Outstanding: views.Collection[app.OutstandingInvoices](b, app.OutstandingCollection),
		Users:       views.Collection[app.UserView](b, app.UsersCollection),
		Emails:      views.Collection[app.EmailClaim](b, app.EmailsCollection),
	}
}

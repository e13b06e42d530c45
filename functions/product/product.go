// Package product is the Product bounded context as a Functions app: the web portal where the
// users of a customer sign in, see their balance, invoices and usage, and run forecasts through
// the Cloud API.
//
// Functions (one source of truth: New):
//
//	Portal              GET  /api/product/{*path}    the page and its assets (package web)
//	SignIn              POST /api/product/signin     {email, password} -> session cookie
//	SignOut             POST /api/product/signout
//	Me                  GET  /api/product/me         the signed-in user's account, invoices, usage
//	ReplicateAccounts   Service Bus topic "subscriptions", subscription "product"
//	ReplicateUsage      Service Bus topic "cloudapi", subscription "product"
//	SweepSessions       timer, schedule from app setting ProductSessionSweepSchedule ("0 */15 * * * *")
//
// Independence: sign-in and every page read only Product's own views, replicated from the
// other contexts' events (package acl -> package domain -> app.Projection). With Subscriptions
// stopped, users still sign in with the password they last set and see their account as last
// replicated.
//
// Forecasts: the page calls POST /api/cloud/forecast itself, from the browser, with the API key
// the user pastes (kept only in the tab's sessionStorage). The portal backend never sees nor
// proxies API keys: the Cloud API meters and authorises the call exactly as for a third party,
// and Product holds no secret that could call the Cloud API on anyone's behalf. It needs the
// Cloud API on the same origin (one host locally, a shared front door in Azure) or CORS.
package product

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"meterline/functions/product/acl"
	"meterline/functions/product/app"
	"meterline/shared/funcapp"
	"meterline/shared/views"
)

// Name is the bounded context's name: its app and its topic.
const Name = "product"

// Deps are what the portal runs on.
type Deps struct {
	Views app.Views
	// SecureCookie marks the session cookie Secure (HTTPS only). Off for local http runs.
	SecureCookie bool
	SessionTTL   time.Duration    // default app.DefaultSessionTTL
	Now          func() time.Time // default time.Now
	Logger       *slog.Logger     // default slog.Default()
}

// DefaultSessionSweepSchedule is the value the ProductSessionSweepSchedule app setting should
// hold (local.settings.json): every 15 minutes.
const DefaultSessionSweepSchedule = "0 */15 * * * *"

// New registers the portal's functions.
func New(deps Deps) *funcapp.App {
	a := funcapp.New(Name)
	if deps.Logger != nil {
		a.Logger = deps.Logger
	}
	p := &portal{
		sessions:     app.Sessions{Views: deps.Views, TTL: deps.SessionTTL, Now: deps.Now},
		portal:       app.Portal{Views: deps.Views},
		secureCookie: deps.SecureCookie,
	}
	projection := app.Projection{Views: deps.Views}
	receptor := func(ctx context.Context, m *funcapp.Message) error { return replicate(ctx, projection, m) }
	sweeper := app.SessionSweeper{Views: deps.Views, Now: deps.Now, Log: deps.Logger}

	a.HTTP("SignIn", funcapp.HTTPTrigger{Methods: []string{"POST"}, Route: "product/signin", AuthLevel: "anonymous"}, p.handleSignIn())
	a.HTTP("SignOut", funcapp.HTTPTrigger{Methods: []string{"POST"}, Route: "product/signout", AuthLevel: "anonymous"}, p.handleSignOut())
	a.HTTP("Me", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "product/me", AuthLevel: "anonymous"}, p.handleMe())
	a.HTTP("Portal", funcapp.HTTPTrigger{Methods: []string{"GET"}, Route: "product/{*path}", AuthLevel: "anonymous"}, handlePortal())
	a.ServiceBus("ReplicateAccounts", funcapp.ServiceBusTrigger{Topic: "subscriptions", Subscription: Name}, receptor)
	a.ServiceBus("ReplicateUsage", funcapp.ServiceBusTrigger{Topic: "cloudapi", Subscription: Name}, receptor)
	a.Timer("SweepSessions", funcapp.TimerTrigger{Schedule: "%" + SessionSweepScheduleSetting + "%"},
		func(ctx context.Context, _ funcapp.TimerInfo) error { return sweeper.Run(ctx) })
	return a
}

// replicate is the receptor of other contexts' events: types not handled are completed
// untouched, malformed ones are poison, storage failures are retried by redelivery.
func replicate(ctx context.Context, p app.Projection, m *funcapp.Message) error {
	fact, _, err := acl.Decode(m.Body)
	if errors.Is(err, acl.ErrMalformed) {
		return funcapp.Poison("malformed-event", err)
	}
	if err != nil || fact == nil {
		return err
	}
	err = p.Apply(ctx, fact)
	if errors.Is(err, views.ErrInvalidKey) || errors.Is(err, views.ErrTooLarge) {
		return funcapp.Poison("unstorable-event", err)
	}
	return err
}

// SubscriptionFilters are the SQL filters of the portal's Service Bus subscriptions "product",
// by topic: only the event types the portal handles.
func SubscriptionFilters() map[string]string {
	return map[string]string{
		"subscriptions": acl.Filter(acl.SubscriptionsTypes()),
		"cloudapi":      acl.Filter(acl.CloudAPITypes()),
	}
}

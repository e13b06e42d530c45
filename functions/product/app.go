// Package product is the Product bounded context as a Functions app: the web portal where the
// users of a customer sign in, see their balance, invoices and usage, and run forecasts through
// the Cloud API.
//
// Functions (one source of truth: New; the subscriptions and their filters are generated from
// the projections, see package blocks):
//
//	Portal              GET  /api/product/{*path}    the page and its assets (package web)
//	SignIn              POST /api/product/signin     {email, password} -> session cookie
//	SignOut             POST /api/product/signout
//	Me                  GET  /api/product/me         the signed-in user's account, invoices, usage
//	ReplicateUsers      topic "subscriptions", subscription "product-replicate-users": user events
//	ReplicateAccounts   topic "subscriptions", subscription "product-replicate-accounts": customer events
//	ReplicateUsage      topic "cloudapi", subscription "product-replicate-usage": usage reports
//	SweepSessions       timer, schedule from app setting ProductSessionSweepSchedule ("0 */15 * * * *")
//
// Independence: sign-in and every page read only Product's own views, replicated from the
// other contexts' events (package acl -> package domain -> the projections of package app).
// With Subscriptions stopped, users still sign in with the password they last set and see
// their account as last replicated.
//
// Forecasts: the page calls POST /api/cloud/forecast itself, from the browser, with the API key
// the user pastes (kept only in the tab's sessionStorage). The portal backend never sees nor
// proxies API keys: the Cloud API meters and authorises the call exactly as for a third party,
// and Product holds no secret that could call the Cloud API on anyone's behalf. It needs the
// Cloud API on the same origin (one host locally, a shared front door in Azure) or CORS.
package product

import (
	"log/slog"
	"time"

	"meterline/functions/product/app"
	"meterline/shared/blocks"
	"meterline/shared/funcapp"
	"meterline/shared/openapi"
)

// Name is the bounded context's name: its app (it publishes nothing, so it has no topic).
const Name = "product"

// Deps are what the portal runs on.
type Deps struct {
	Views app.Views
	// SecureCookie marks the session cookie Secure (HTTPS only). Off for local http runs.
	SecureCookie bool
	SessionTTL   time.Duration    // default app.DefaultSessionTTL
	Now          func() time.Time // default time.Now
	Logger       *slog.Logger     // default: funcapp's JSON logger on stderr
}

// DefaultSessionSweepSchedule is the value the ProductSessionSweepSchedule app setting should
// hold (local.settings.json): every 15 minutes.
const DefaultSessionSweepSchedule = "0 */15 * * * *"

// New returns the portal's Functions app: its blocks.
func New(deps Deps) *funcapp.App {
	a := funcapp.New(Name)
	if deps.Logger != nil {
		a.Logger = deps.Logger
	}
	now := blocks.Clock(deps.Now)
	v := deps.Views
	ui := &portal{
		sessions:     app.Sessions{Views: v, TTL: deps.SessionTTL, Now: now},
		portal:       app.Portal{Views: v},
		secureCookie: deps.SecureCookie,
	}
	sweeper := app.SessionSweeper{Views: v, Now: now}
	blocks.Register(a,
		endpoint("SignIn", "POST", "signin", ui.signIn),
		endpoint("SignOut", "POST", "signout", ui.signOut),
		endpoint("Me", "GET", "me", ui.me),
		endpoint("Portal", "GET", "{*path}", servePage),

		app.ReplicateUsers(v.Users, v.Emails),
		app.ReplicateAccounts(v.Accounts),
		app.ReplicateUsage(v.Usage),

		blocks.Task{Name: "SweepSessions", Schedule: "%" + SessionSweepScheduleSetting + "%", Run: sweeper.Run},

		blocks.OpenAPI{Context: Name, Info: openapi.Info{Title: "Product 1 portal",
			Description: "The customers' portal: sign in with the password set in Subscriptions; a session cookie authenticates the rest."}},
	)
	return a
}

package product

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/product/app"
	"meterline/functions/product/domain"
	"meterline/shared/connect"
	"meterline/shared/views"
	viewmem "meterline/shared/views/memstore"
	viewtables "meterline/shared/views/tablestore"
)

// Storage and app settings of the Product context.
const (
	ViewsTable = "productviews" // the context's own table: all its views, one collection per partition

	StorageSetting      = "AzureWebJobsStorage"
	SecureCookieSetting = "ProductSecureCookie" // "true" when the portal is served over HTTPS
	SessionTTLSetting   = "ProductSessionTTL"   // a Go duration, e.g. "8h"; empty means the default
	// SessionSweepScheduleSetting is the SweepSessions timer's NCRONTAB schedule, resolved by the
	// Functions host ("%ProductSessionSweepSchedule%"); see DefaultSessionSweepSchedule.
	SessionSweepScheduleSetting = "ProductSessionSweepSchedule"
)

// ViewsOn lays the portal's views out as collections of a views backend.
func ViewsOn(b views.Backend) app.Views {
	return app.Views{
		Users:    views.Collection[domain.PortalUser](b, "portal-users"),
		Emails:   views.Collection[domain.EmailOwner](b, "portal-emails"),
		Accounts: views.Collection[domain.Account](b, "accounts"),
		Usage:    views.Collection[domain.Usage](b, "usage"),
		Sessions: views.Collection[app.Session](b, "sessions"),
		Attempts: views.Collection[app.SignInAttempts](b, "signin-attempts"),
	}
}

// InMemoryDeps are dependencies that connect to nothing: for defining the functions at build
// time and for tests.
func InMemoryDeps() Deps { return Deps{Views: ViewsOn(viewmem.New())} }

// Open builds the portal's dependencies on a storage account (its table is created if
// missing). The caller sets SecureCookie when the portal is served over HTTPS.
func Open(ctx context.Context, tables *aztables.ServiceClient) (Deps, error) {
	store, err := viewtables.New(ctx, tables, ViewsTable)
	if err != nil {
		return Deps{}, fmt.Errorf("product: views: %w", err)
	}
	return Deps{Views: ViewsOn(store)}, nil
}

// Connect builds Deps from the app settings: AzureWebJobsStorage (required: the views),
// ProductSecureCookie and ProductSessionTTL (optional). The portal publishes nothing, so it
// needs no Service Bus connection of its own (its projections' triggers use the host's).
// Error messages never repeat a connection string.
func Connect(ctx context.Context, setting func(name string) string) (Deps, error) {
	tables, err := connect.Tables(setting, StorageSetting) // parses only: connects to nothing yet
	if err != nil {
		return Deps{}, fmt.Errorf("product: %w", err)
	}
	var ttl time.Duration // checked before anything connects
	if s := setting(SessionTTLSetting); s != "" {
		if ttl, err = time.ParseDuration(s); err != nil || ttl <= 0 {
			return Deps{}, fmt.Errorf("product: app setting %s: want a positive duration like \"8h\", got %q", SessionTTLSetting, s)
		}
	}
	deps, err := Open(ctx, tables)
	if err != nil {
		return Deps{}, err
	}
	deps.SecureCookie = setting(SecureCookieSetting) == "true"
	deps.SessionTTL = ttl
	return deps, nil
}

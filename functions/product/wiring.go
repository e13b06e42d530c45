package product

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"meterline/functions/product/app"
	"meterline/functions/product/domain"
	"meterline/shared/views"
	viewtables "meterline/shared/views/tablestore"
)

// ViewsTable is the Product context's own table: all its views, one collection per partition.
const ViewsTable = "productviews"

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

// Open builds the portal's dependencies on a storage account (its table is created if
// missing). The caller sets SecureCookie when the portal is served over HTTPS.
func Open(ctx context.Context, tables *aztables.ServiceClient) (Deps, error) {
	store, err := viewtables.New(ctx, tables, ViewsTable)
	if err != nil {
		return Deps{}, fmt.Errorf("product: %w", err)
	}
	return Deps{Views: ViewsOn(store)}, nil
}

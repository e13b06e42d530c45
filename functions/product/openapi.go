package product

import (
	"net/http"
	"time"

	"meterline/functions/product/app"
	"meterline/shared/funcapp"
)

// The portal's OpenAPI descriptions (served at /api/product/openapi.json; the context's tests
// check every answer against them).

type signedIn struct {
	Email      string    `json:"email"`
	CustomerID string    `json:"customerId"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

var docs = map[string]*funcapp.Operation{
	"SignIn": {Summary: "sign in with email and password; sets the session cookie",
		Request: signInRequest{}, Response: signedIn{},
		// 401 wrong credentials, 403 locked user or a cross-site request, 429 too many failures.
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests}},
	"SignOut": {Summary: "end the session and drop its cookie", Success: []int{http.StatusNoContent},
		Security: "cookie", Errors: []int{http.StatusForbidden}},
	"Me": {Summary: "the signed-in user's account: balance, invoices, usage", Response: app.Me{},
		Security: "cookie", Errors: []int{http.StatusUnauthorized}},
	"Portal": {Summary: "the portal's page and assets, by name (empty: index.html)",
		Success: []int{http.StatusOK, http.StatusNotModified}, Content: "text/*",
		Headers: []string{"If-None-Match"}, Errors: []int{http.StatusNotFound}},
}

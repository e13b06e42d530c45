package product

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"meterline/functions/product/app"
	"meterline/functions/product/domain"
	"meterline/functions/product/web"
	"meterline/shared/blocks"
	"meterline/shared/fault"
	"meterline/shared/funcapp"
)

// SessionCookie is the name of the session cookie. Its Path is the portal's API, so the token
// is not sent to other apps on the same origin.
const (
	SessionCookie = "meterline_session"
	cookiePath    = "/api/product"
	maxBody       = 16 << 10
	maxEmail      = 254
	maxPassword   = 72 // bcrypt reads no further
)

// endpoint is one of the portal's HTTP endpoints. They are anonymous to the Functions host: the
// portal authenticates its users itself, with the session cookie. A state-changing one is also
// refused to other sites' pages (CSRF): the cookie is SameSite=Strict, and the request must come
// from the portal's own origin (Go's cross-origin protection: Sec-Fetch-Site, else Origin
// against Host; a request that has neither is not from a browser, so it cannot be forged by one).
func endpoint(name, method, path string, handle func(w http.ResponseWriter, r *http.Request) error) blocks.Endpoint {
	if method != http.MethodGet && method != http.MethodHead {
		handle = sameOrigin(handle)
	}
	return blocks.Endpoint{Name: name, Method: method, Route: "product/" + path, Auth: "anonymous", Handle: handle, Doc: docs[name]}
}

// crossOrigin decides which requests come from another site.
var crossOrigin = http.NewCrossOriginProtection()

// ErrCrossOrigin answers a state-changing request from another site's page.
var ErrCrossOrigin = fault.New(fault.Forbidden, "cross_origin", "this request must come from the portal's own pages")

func sameOrigin(handle func(w http.ResponseWriter, r *http.Request) error) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := crossOrigin.Check(r); err != nil {
			return ErrCrossOrigin
		}
		return handle(w, r)
	}
}

type portal struct {
	sessions     app.Sessions
	portal       app.Portal
	secureCookie bool
}

type signInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (p *portal) signIn(w http.ResponseWriter, r *http.Request) error {
	var req signInRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	email := domain.NormalizeEmail(req.Email)
	switch {
	case email == "" || !strings.Contains(email, "@") || len(email) > maxEmail:
		return fault.InvalidField("email", "an email address is required")
	case req.Password == "" || len(req.Password) > maxPassword:
		return fault.InvalidField("password", "required, at most 72 bytes")
	}
	token, session, err := p.sessions.SignIn(r.Context(), email, req.Password)
	var throttled *app.TooManyAttemptsError
	if errors.As(err, &throttled) {
		// 429 has no fault kind, so this one answer is written here.
		w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds()+0.999)))
		funcapp.WriteError(w, http.StatusTooManyRequests, "too_many_attempts", "too many failed sign-ins; try again later")
		return nil
	}
	if err != nil {
		return err // domain.ErrBadCredentials (401), domain.ErrUserLocked (403), or storage
	}
	http.SetCookie(w, p.cookie(token, session.ExpiresAt))
	w.Header().Set("Cache-Control", "no-store")
	funcapp.WriteJSON(w, http.StatusOK, map[string]any{"email": session.Email, "customerId": session.CustomerID, "expiresAt": session.ExpiresAt})
	return nil
}

func (p *portal) signOut(w http.ResponseWriter, r *http.Request) error {
	if err := p.sessions.SignOut(r.Context(), sessionToken(r)); err != nil {
		return err
	}
	http.SetCookie(w, p.cookie("", time.Unix(0, 0)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *portal) me(w http.ResponseWriter, r *http.Request) error {
	session, err := p.sessions.Session(r.Context(), sessionToken(r))
	if err != nil {
		return err // app.ErrNoSession: 401 not_signed_in
	}
	me, err := p.portal.Me(r.Context(), session)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	funcapp.WriteJSON(w, http.StatusOK, me)
	return nil
}

// servePage serves the page for the portal's root and its assets by name.
func servePage(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("path")
	if name == "" {
		name = "index.html"
	}
	asset, ok := web.Lookup(name)
	if !ok {
		return fault.New(fault.NotFound, "not_found", "no such page: "+name)
	}
	h := w.Header()
	h.Set("Content-Type", asset.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", asset.ETag)
	if r.Header.Get("If-None-Match") == asset.ETag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Write(asset.Body)
	return nil
}

func (p *portal) cookie(token string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: SessionCookie, Value: token, Path: cookiePath, Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.secureCookie}
	if token == "" {
		c.MaxAge = -1
	}
	return c
}

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// decodeJSON reads a small JSON object; unknown fields are ignored. It fails with a fault
// (400 invalid_body).
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badBody("could not read the body")
	}
	if len(body) > maxBody {
		return badBody("body too large")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badBody("body: expected a JSON object {email, password}")
	}
	return nil
}

func badBody(message string) *fault.Error {
	return &fault.Error{Kind: fault.Invalid, Code: "invalid_body", Message: message}
}

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

type portal struct {
	sessions     app.Sessions
	portal       app.Portal
	secureCookie bool
}

type signInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (p *portal) handleSignIn() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req signInRequest
		if err := decodeJSON(r, &req); err != nil {
			funcapp.WriteError(w, http.StatusBadRequest, "invalid_body", err.Error())
			return
		}
		email := domain.NormalizeEmail(req.Email)
		switch {
		case email == "" || !strings.Contains(email, "@") || len(email) > maxEmail:
			funcapp.WriteError(w, http.StatusBadRequest, "invalid_email", "email: an email address is required")
			return
		case req.Password == "" || len(req.Password) > maxPassword:
			funcapp.WriteError(w, http.StatusBadRequest, "invalid_password", "password: required, at most 72 bytes")
			return
		}
		token, session, err := p.sessions.SignIn(r.Context(), email, req.Password)
		var throttled *app.TooManyAttemptsError
		switch {
		case errors.As(err, &throttled):
			w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds()+0.999)))
			funcapp.WriteError(w, http.StatusTooManyRequests, "too_many_attempts", "too many failed sign-ins; try again later")
		case errors.Is(err, domain.ErrBadCredentials):
			funcapp.WriteError(w, http.StatusUnauthorized, "invalid_credentials", "wrong email or password")
		case errors.Is(err, domain.ErrUserLocked):
			funcapp.WriteError(w, http.StatusForbidden, "user_locked", "this user is locked; ask your account's administrator")
		case err != nil:
			internalError(w, r, err)
		default:
			http.SetCookie(w, p.cookie(token, session.ExpiresAt))
			w.Header().Set("Cache-Control", "no-store")
			funcapp.WriteJSON(w, http.StatusOK, map[string]any{"email": session.Email, "customerId": session.CustomerID, "expiresAt": session.ExpiresAt})
		}
	})
}

func (p *portal) handleSignOut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.sessions.SignOut(r.Context(), sessionToken(r)); err != nil {
			internalError(w, r, err)
			return
		}
		http.SetCookie(w, p.cookie("", time.Unix(0, 0)))
		w.WriteHeader(http.StatusNoContent)
	})
}

func (p *portal) handleMe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, err := p.sessions.Session(r.Context(), sessionToken(r))
		if errors.Is(err, app.ErrNoSession) {
			funcapp.WriteError(w, http.StatusUnauthorized, "not_signed_in", "sign in first")
			return
		}
		if err != nil {
			internalError(w, r, err)
			return
		}
		me, err := p.portal.Me(r.Context(), session)
		if err != nil {
			internalError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		funcapp.WriteJSON(w, http.StatusOK, me)
	})
}

// handlePortal serves the page for the portal's root and its assets by name.
func handlePortal() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("path")
		if name == "" {
			name = "index.html"
		}
		asset, ok := web.Lookup(name)
		if !ok {
			funcapp.WriteError(w, http.StatusNotFound, "not_found", "no such page: "+name)
			return
		}
		h := w.Header()
		h.Set("Content-Type", asset.ContentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", asset.ETag)
		if r.Header.Get("If-None-Match") == asset.ETag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(asset.Body)
	})
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

// decodeJSON reads a small JSON object; unknown fields are ignored.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errors.New("could not read the body")
	}
	if len(body) > maxBody {
		return errors.New("body too large")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errors.New("body: expected a JSON object {email, password}")
	}
	return nil
}

func internalError(w http.ResponseWriter, r *http.Request, err error) {
	funcapp.Logger(r.Context()).Error("product: request failed", "error", err.Error())
	funcapp.WriteError(w, http.StatusInternalServerError, "internal", "internal error")
}

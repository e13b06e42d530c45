package cloudapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
)

// maxBody bounds a forecast request: 10,000 numbers of up to ~25 characters fit comfortably.
const maxBody = 1 << 20

// maxIdempotencyKey is the longest Idempotency-Key accepted.
const maxIdempotencyKey = 255

type api struct {
	gate        app.Gate
	forecasting app.Forecasting
	meter       app.MeterLog
}

// authenticate resolves the bearer key to a caller, or answers 401/403 and returns false.
func (a *api) authenticate(w http.ResponseWriter, r *http.Request) (domain.Caller, bool) {
	scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	key = strings.TrimSpace(key)
	if !strings.EqualFold(scheme, "Bearer") || key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cloudapi"`)
		funcapp.WriteError(w, http.StatusUnauthorized, "unauthorized", "Authorization: Bearer <apiKey> is required")
		return domain.Caller{}, false
	}
	sum := sha256.Sum256([]byte(key)) // keys are high-entropy: a fast hash is the right lookup key
	caller, err := a.gate.Authorize(r.Context(), hex.EncodeToString(sum[:]))
	switch {
	case err == nil:
		return caller, true
	case errors.Is(err, domain.ErrUnknownKey), errors.Is(err, domain.ErrRevokedKey):
		w.Header().Set("WWW-Authenticate", `Bearer realm="cloudapi", error="invalid_token"`)
		funcapp.WriteError(w, http.StatusUnauthorized, "unauthorized", err.Error())
	case errors.Is(err, domain.ErrUserLocked), errors.Is(err, domain.ErrCustomerLocked):
		funcapp.WriteError(w, http.StatusForbidden, "locked", err.Error())
	default:
		internal(w, r, err)
	}
	return domain.Caller{}, false
}

func internal(w http.ResponseWriter, r *http.Request, err error) {
	funcapp.Logger(r.Context()).Error("cloudapi: request failed", "error", err.Error())
	funcapp.WriteError(w, http.StatusInternalServerError, "internal", "the request could not be completed; retry it (with the same Idempotency-Key)")
}

func (a *api) handleForecast() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller, ok := a.authenticate(w, r)
		if !ok {
			return
		}
		requestID, err := requestID(r.Header)
		if err != nil {
			funcapp.WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				funcapp.WriteError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("body: larger than %d bytes", maxBody))
				return
			}
			funcapp.WriteError(w, http.StatusBadRequest, "invalid_request", "body: could not be read")
			return
		}
		req, err := domain.DecodeForecastRequest(body)
		if err != nil {
			funcapp.WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		answer, replayed, err := a.forecasting.Forecast(r.Context(), caller, requestID, req)
		switch {
		case errors.Is(err, app.ErrIdempotencyKeyReused):
			funcapp.WriteError(w, http.StatusUnprocessableEntity, "idempotency_key_reused", "Idempotency-Key: "+err.Error())
			return
		case err != nil:
			internal(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.WriteHeader(http.StatusOK)
		w.Write(answer)
	}
}

// requestID is the caller's Idempotency-Key, or a fresh id when there is none. The prefixes
// keep the two kinds apart.
func requestID(h http.Header) (string, error) {
	key, present := h["Idempotency-Key"]
	if !present {
		return "gen:" + eventstore.NewID(), nil
	}
	k := strings.TrimSpace(strings.Join(key, ","))
	if k == "" || len(k) > maxIdempotencyKey || strings.IndexFunc(k, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", fmt.Errorf("Idempotency-Key: must be 1 to %d printable characters", maxIdempotencyKey)
	}
	return "key:" + k, nil
}

func (a *api) handleUsage() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller, ok := a.authenticate(w, r)
		if !ok {
			return
		}
		usage, err := a.meter.Usage(r.Context(), caller.CustomerID)
		if err != nil {
			internal(w, r, err)
			return
		}
		funcapp.WriteJSON(w, http.StatusOK, usage)
	}
}

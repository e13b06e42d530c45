package cloudapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"meterline/functions/cloudapi/app"
	"meterline/functions/cloudapi/domain"
	"meterline/shared/blocks"
	"meterline/shared/eventstore"
	"meterline/shared/fault"
	"meterline/shared/funcapp"
)

// maxBody bounds a forecast request: 10,000 numbers of up to ~25 characters fit comfortably.
const maxBody = 1 << 20

// api holds the Cloud API's endpoints. Each returns its failures as faults, which
// blocks.WriteError answers; the public error code of a bad request is "invalid_request".
type api struct {
	gate        app.Gate
	forecasting app.Forecasting
	meter       app.MeterLog
}

// forecast is POST /api/cloud/forecast: metered, idempotent under an Idempotency-Key (the meter
// log keeps the answer and gives it again).
func (a *api) forecast(w http.ResponseWriter, r *http.Request) error {
	caller, err := a.authenticate(w, r)
	if err != nil {
		return err
	}
	requestID, err := requestID(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
			return &fault.Error{Kind: fault.TooLarge, Code: "invalid_request", Field: "body", Message: fmt.Sprintf("larger than %d bytes", maxBody)}
		}
		return &fault.Error{Kind: fault.Invalid, Code: "invalid_request", Field: "body", Message: "could not be read", Err: err}
	}
	req, err := domain.DecodeForecastRequest(body)
	if err != nil {
		return invalidRequest(err)
	}
	answer, replayed, err := a.forecasting.Forecast(r.Context(), caller, requestID, req)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(answer)
	return nil
}

// usage is GET /api/cloud/usage: the caller's customer's consumption.
func (a *api) usage(w http.ResponseWriter, r *http.Request) error {
	caller, err := a.authenticate(w, r)
	if err != nil {
		return err
	}
	usage, err := a.meter.Usage(r.Context(), caller.CustomerID)
	if err != nil {
		return err
	}
	funcapp.WriteJSON(w, http.StatusOK, usage)
	return nil
}

// authenticate resolves the bearer key to a caller. A 401 carries its WWW-Authenticate header
// (RFC 6750), set before the fault is returned: WriteError knows only the status and body.
func (a *api) authenticate(w http.ResponseWriter, r *http.Request) (domain.Caller, error) {
	scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	key = strings.TrimSpace(key)
	if !strings.EqualFold(scheme, "Bearer") || key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cloudapi"`)
		return domain.Caller{}, fault.New(fault.Unauthorized, "unauthorized", "Authorization: Bearer <apiKey> is required")
	}
	sum := sha256.Sum256([]byte(key)) // keys are high-entropy: a fast hash is the right lookup key
	caller, err := a.gate.Authorize(r.Context(), hex.EncodeToString(sum[:]))
	if errors.Is(err, fault.Unauthorized) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cloudapi", error="invalid_token"`)
	}
	return caller, err
}

// requestID is the caller's Idempotency-Key, or a fresh id when there is none. The prefixes
// keep the two kinds apart.
func requestID(r *http.Request) (string, error) {
	key, present, err := blocks.IdempotencyKey(r)
	switch {
	case err != nil:
		return "", invalidRequest(err)
	case !present:
		return "gen:" + eventstore.NewID(), nil
	}
	return "key:" + key, nil
}

// invalidRequest is a 400 with the Cloud API's one code for bad requests; the message names the
// field at fault.
func invalidRequest(err error) error {
	return &fault.Error{Kind: fault.Invalid, Code: "invalid_request", Message: err.Error(), Err: err}
}

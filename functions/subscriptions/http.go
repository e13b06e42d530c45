package subscriptions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/eventstore"
	"meterline/shared/funcapp"
)

// api holds the HTTP handlers of the public API.
type api struct{ s *app.Subscriptions }

func (a *api) listPlans(w http.ResponseWriter, r *http.Request) {
	funcapp.WriteJSON(w, http.StatusOK, map[string]any{"plans": domain.Plans()})
}

func (a *api) createCustomer(w http.ResponseWriter, r *http.Request) {
	f, err := readFields(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	cmd, err := parseCreateCustomer(f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx, err := commandContext(r, "create-customer", cmd.Name, cmd.Plan, optInt(cmd.CreditLimit))
	if err != nil {
		writeError(w, r, err)
		return
	}
	id, err := a.s.Customers.Create(ctx, cmd)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/subscriptions/customers/"+id)
	funcapp.WriteJSON(w, http.StatusCreated, map[string]string{"customerId": id})
}

func (a *api) getCustomer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("customerId")
	if !app.ValidID(id) {
		writeError(w, r, domain.ErrCustomerNotFound)
		return
	}
	v, ok, err := a.s.CustomerViews.Docs.Get(r.Context(), id)
	if err == nil && !ok {
		err = domain.ErrCustomerNotFound
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	funcapp.WriteJSON(w, http.StatusOK, v)
}

func (a *api) addCharge(w http.ResponseWriter, r *http.Request) {
	customerID := r.PathValue("customerId")
	f, err := readFields(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	cmd, err := parseCharge(customerID, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx, err := commandContext(r, "charge", customerID, cmd.ChargeID)
	if err == nil {
		err = a.s.Customers.Charge(ctx, cmd)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	funcapp.WriteJSON(w, http.StatusAccepted, map[string]string{"customerId": customerID, "chargeId": cmd.ChargeID})
}

func (a *api) addPayment(w http.ResponseWriter, r *http.Request) {
	customerID := r.PathValue("customerId")
	f, err := readFields(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	cmd, err := parsePayment(customerID, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx, err := commandContext(r, "payment", customerID, cmd.PaymentID)
	if err == nil {
		err = a.s.Customers.Pay(ctx, cmd)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	funcapp.WriteJSON(w, http.StatusAccepted, map[string]string{"customerId": customerID, "paymentId": cmd.PaymentID})
}

func (a *api) createUser(w http.ResponseWriter, r *http.Request) {
	customerID := r.PathValue("customerId")
	f, err := readFields(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	cmd, err := parseCreateUser(customerID, f)
	if err != nil {
		writeError(w, r, err)
		return
	}
	// The password stays out of the command id: it would end up, hashed fast, in event metadata.
	ctx, err := commandContext(r, "create-user", customerID, strings.ToLower(strings.TrimSpace(cmd.Email)))
	if err != nil {
		writeError(w, r, err)
		return
	}
	u, err := a.s.Users.Create(ctx, cmd)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/subscriptions/customers/"+customerID+"/users/"+u.UserID)
	if u.APIKey == "" {
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"userId": u.UserID,
			"message": "this request already created the user; its API key was shown then and is never shown again (POST .../keys issues a new one)"})
		return
	}
	funcapp.WriteJSON(w, http.StatusCreated, map[string]string{"userId": u.UserID, "keyId": u.KeyID, "apiKey": u.APIKey})
}

func (a *api) getUser(w http.ResponseWriter, r *http.Request) {
	customerID, userID := r.PathValue("customerId"), r.PathValue("userId")
	if !app.ValidID(userID) {
		writeError(w, r, domain.ErrUserNotFound)
		return
	}
	v, ok, err := a.s.UserViews.Docs.Get(r.Context(), userID)
	if err == nil && (!ok || v.CustomerID != customerID) {
		err = domain.ErrUserNotFound
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	funcapp.WriteJSON(w, http.StatusOK, v)
}

func (a *api) issueKey(w http.ResponseWriter, r *http.Request) {
	customerID, userID := r.PathValue("customerId"), r.PathValue("userId")
	ctx, err := commandContext(r, "issue-key", customerID, userID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	keyID, key, err := a.s.Users.IssueKey(ctx, customerID, userID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if key == "" {
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"keyId": keyID,
			"message": "this request already issued the key; it was shown then and is never shown again"})
		return
	}
	funcapp.WriteJSON(w, http.StatusCreated, map[string]string{"keyId": keyID, "apiKey": key})
}

func (a *api) revokeKey(w http.ResponseWriter, r *http.Request) {
	err := a.s.Users.RevokeKey(r.Context(), r.PathValue("customerId"), r.PathValue("userId"), r.PathValue("keyId"))
	writeNoContent(w, r, err)
}

func (a *api) lockUser(w http.ResponseWriter, r *http.Request) {
	writeNoContent(w, r, a.s.Users.Lock(r.Context(), r.PathValue("customerId"), r.PathValue("userId")))
}

func (a *api) unlockUser(w http.ResponseWriter, r *http.Request) {
	writeNoContent(w, r, a.s.Users.Unlock(r.Context(), r.PathValue("customerId"), r.PathValue("userId")))
}

func (a *api) setPassword(w http.ResponseWriter, r *http.Request) {
	f, err := readFields(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	password, err := f.String("password", true)
	if err == nil {
		err = a.s.Users.SetPassword(r.Context(), r.PathValue("customerId"), r.PathValue("userId"), password)
	}
	writeNoContent(w, r, err)
}

// commandContext carries the request's correlation id and, with an Idempotency-Key header, a
// command id: the operation, the key and a digest of what the request asks, so that reusing a
// key for another request cannot swallow it.
func commandContext(r *http.Request, op string, parts ...string) (context.Context, error) {
	ctx := r.Context()
	if corr := funcapp.CorrelationID(ctx); corr != "" {
		ctx = eventstore.WithCorrelation(ctx, corr)
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return ctx, nil
	}
	if len(key) > 200 || strings.IndexFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		return nil, &domain.Error{Kind: domain.ErrInvalid, Code: "invalid_idempotency_key", Field: "Idempotency-Key",
			Message: "must be 1 to 200 printable ASCII characters"}
	}
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return eventstore.WithCommandID(ctx, op+":"+key+":"+hex.EncodeToString(h.Sum(nil)[:8])), nil
}

func optInt(v *int64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10)
}

func writeNoContent(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeError maps domain errors to 400/404/409 with their code and message; anything else is
// a failure of ours, logged and answered 500 without details.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var de *domain.Error
	if errors.As(err, &de) {
		status := http.StatusBadRequest
		switch {
		case errors.Is(de, domain.ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(de, domain.ErrConflict):
			status = http.StatusConflict
		}
		funcapp.WriteError(w, status, de.Code, de.Error())
		return
	}
	if errors.Is(err, eventstore.ErrConflict) {
		funcapp.WriteError(w, http.StatusConflict, "concurrent_update", "the account changed concurrently too often; retry")
		return
	}
	funcapp.Logger(r.Context()).ErrorContext(r.Context(), "request failed", "error", err)
	funcapp.WriteError(w, http.StatusInternalServerError, "internal", "internal error; please retry later")
}

package subscriptions

import (
	"net/http"
	"strconv"
	"strings"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/blocks"
	"meterline/shared/funcapp"
	"meterline/shared/views"
)

// api holds the HTTP endpoints of the back-office API. Every command runs under keys, the one
// Idempotency-Key policy: a key is bound to the operation and the request it first came with.
type api struct {
	s    *app.Subscriptions
	keys blocks.Idempotency
}

// endpoint is a back-office operation: the host lets only callers with a function key in (the
// back office, service to service); the public plans list is the one exception.
func (a *api) endpoint(name, method, path string, handle func(w http.ResponseWriter, r *http.Request) error) blocks.Endpoint {
	auth := "function"
	if name == "ListPlans" {
		auth = "anonymous"
	}
	return blocks.Endpoint{Name: name, Method: method, Route: "subscriptions/" + path, Auth: auth, Handle: handle, Doc: docs[name]}
}

func (a *api) listPlans(w http.ResponseWriter, r *http.Request) error {
	funcapp.WriteJSON(w, http.StatusOK, map[string]any{"plans": domain.Plans()})
	return nil
}

func (a *api) createCustomer(w http.ResponseWriter, r *http.Request) error {
	f, err := readFields(w, r)
	if err != nil {
		return err
	}
	cmd, err := parseCreateCustomer(f)
	if err != nil {
		return err
	}
	ctx, err := a.keys.Command(r, "create-customer", cmd.Name, cmd.Plan, optInt(cmd.CreditLimit))
	if err != nil {
		return err
	}
	id, err := a.s.Customers.Create(ctx, cmd)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/subscriptions/customers/"+id)
	funcapp.WriteJSON(w, http.StatusCreated, map[string]string{"customerId": id})
	return nil
}

func (a *api) getCustomer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("customerId")
	if !app.ValidID(id) {
		return domain.ErrCustomerNotFound
	}
	v, ok, err := a.s.CustomerViews.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if !ok {
		return domain.ErrCustomerNotFound
	}
	v.Tracked = views.Tracked{} // the projection's bookkeeping is not part of the answer
	funcapp.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *api) addCharge(w http.ResponseWriter, r *http.Request) error {
	customerID := r.PathValue("customerId")
	f, err := readFields(w, r)
	if err != nil {
		return err
	}
	cmd, err := parseCharge(customerID, f)
	if err != nil {
		return err
	}
	ctx, err := a.keys.Command(r, "charge", customerID, cmd.ChargeID, strconv.FormatInt(cmd.Amount, 10), cmd.Currency, cmd.Description)
	if err != nil {
		return err
	}
	if err := a.s.Customers.Charge(ctx, cmd); err != nil {
		return err
	}
	funcapp.WriteJSON(w, http.StatusAccepted, map[string]string{"customerId": customerID, "chargeId": cmd.ChargeID})
	return nil
}

func (a *api) addPayment(w http.ResponseWriter, r *http.Request) error {
	customerID := r.PathValue("customerId")
	f, err := readFields(w, r)
	if err != nil {
		return err
	}
	cmd, err := parsePayment(customerID, f)
	if err != nil {
		return err
	}
	ctx, err := a.keys.Command(r, "payment", customerID, cmd.PaymentID, strconv.FormatInt(cmd.Amount, 10), cmd.Currency)
	if err != nil {
		return err
	}
	if err := a.s.Customers.Pay(ctx, cmd); err != nil {
		return err
	}
	funcapp.WriteJSON(w, http.StatusAccepted, map[string]string{"customerId": customerID, "paymentId": cmd.PaymentID})
	return nil
}

func (a *api) createUser(w http.ResponseWriter, r *http.Request) error {
	customerID := r.PathValue("customerId")
	f, err := readFields(w, r)
	if err != nil {
		return err
	}
	cmd, err := parseCreateUser(customerID, f)
	if err != nil {
		return err
	}
	// The password stays out of the request's identity: it would be stored, hashed fast, with
	// the key. The same key with another password is taken as the same request.
	ctx, err := a.keys.Command(r, "create-user", customerID, strings.ToLower(strings.TrimSpace(cmd.Email)))
	if err != nil {
		return err
	}
	u, err := a.s.Users.Create(ctx, cmd)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/subscriptions/customers/"+customerID+"/users/"+u.UserID)
	if u.APIKey == "" {
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"userId": u.UserID,
			"message": "this request already created the user; its API key was shown then and is never shown again (POST .../keys issues a new one)"})
		return nil
	}
	funcapp.WriteJSON(w, http.StatusCreated, map[string]string{"userId": u.UserID, "keyId": u.KeyID, "apiKey": u.APIKey})
	return nil
}

func (a *api) getUser(w http.ResponseWriter, r *http.Request) error {
	customerID, userID := r.PathValue("customerId"), r.PathValue("userId")
	if !app.ValidID(userID) {
		return domain.ErrUserNotFound
	}
	v, ok, err := a.s.UserViews.Get(r.Context(), userID)
	if err != nil {
		return err
	}
	if !ok || v.CustomerID != customerID {
		return domain.ErrUserNotFound
	}
	v.Tracked = views.Tracked{}
	funcapp.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *api) issueKey(w http.ResponseWriter, r *http.Request) error {
	customerID, userID := r.PathValue("customerId"), r.PathValue("userId")
	ctx, err := a.keys.Command(r, "issue-key", customerID, userID)
	if err != nil {
		return err
	}
	keyID, key, err := a.s.Users.IssueKey(ctx, customerID, userID)
	if err != nil {
		return err
	}
	if key == "" {
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"keyId": keyID,
			"message": "this request already issued the key; it was shown then and is never shown again"})
		return nil
	}
	funcapp.WriteJSON(w, http.StatusCreated, map[string]string{"keyId": keyID, "apiKey": key})
	return nil
}

func (a *api) revokeKey(w http.ResponseWriter, r *http.Request) error {
	customerID, userID, keyID := r.PathValue("customerId"), r.PathValue("userId"), r.PathValue("keyId")
	ctx, err := a.keys.Command(r, "revoke-key", customerID, userID, keyID)
	if err == nil {
		err = a.s.Users.RevokeKey(ctx, customerID, userID, keyID)
	}
	return noContent(w, err)
}

func (a *api) lockUser(w http.ResponseWriter, r *http.Request) error {
	customerID, userID := r.PathValue("customerId"), r.PathValue("userId")
	ctx, err := a.keys.Command(r, "lock-user", customerID, userID)
	if err == nil {
		err = a.s.Users.Lock(ctx, customerID, userID)
	}
	return noContent(w, err)
}

func (a *api) unlockUser(w http.ResponseWriter, r *http.Request) error {
	customerID, userID := r.PathValue("customerId"), r.PathValue("userId")
	ctx, err := a.keys.Command(r, "unlock-user", customerID, userID)
	if err == nil {
		err = a.s.Users.Unlock(ctx, customerID, userID)
	}
	return noContent(w, err)
}

func (a *api) setPassword(w http.ResponseWriter, r *http.Request) error {
	customerID, userID := r.PathValue("customerId"), r.PathValue("userId")
	f, err := readFields(w, r)
	if err != nil {
		return err
	}
	password, err := f.String("password", true)
	if err != nil {
		return err
	}
	// As for create-user, the password is not part of the request's identity.
	ctx, err := a.keys.Command(r, "set-password", customerID, userID)
	if err == nil {
		err = a.s.Users.SetPassword(ctx, customerID, userID, password)
	}
	return noContent(w, err)
}

func optInt(v *int64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10)
}

func noContent(w http.ResponseWriter, err error) error {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
	}
	return err
}

package subscriptions

import (
	"net/http"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/funcapp"
)

// The back office's OpenAPI descriptions, by function name (served at
// /api/subscriptions/openapi.json; the context's tests check every answer against them).

type (
	plansAnswer struct {
		Plans []domain.Plan `json:"plans"`
	}
	customerRequest struct {
		Name        string `json:"name"`
		Plan        string `json:"plan"` // one of the plans' names
		CreditLimit int64  `json:"creditLimit,omitempty"`
	}
	customerCreated struct {
		CustomerID string `json:"customerId"`
	}
	chargeRequest struct {
		ChargeID    string `json:"chargeId"` // the caller's id: a charge is applied once
		Amount      int64  `json:"amount"`   // minor units
		Currency    string `json:"currency,omitempty"`
		Description string `json:"description,omitempty"`
	}
	chargeAccepted struct {
		CustomerID string `json:"customerId"`
		ChargeID   string `json:"chargeId"`
	}
	paymentRequest struct {
		PaymentID string `json:"paymentId"`
		Amount    int64  `json:"amount"`
		Currency  string `json:"currency,omitempty"`
	}
	paymentAccepted struct {
		CustomerID string `json:"customerId"`
		PaymentID  string `json:"paymentId"`
	}
	userRequest struct {
		Email    string `json:"email"`
		Password string `json:"password,omitempty"`
	}
	// userCreated: 201 with the API key, shown this once; 200 with a message when the same
	// request is repeated.
	userCreated struct {
		UserID  string `json:"userId"`
		KeyID   string `json:"keyId,omitempty"`
		APIKey  string `json:"apiKey,omitempty"`
		Message string `json:"message,omitempty"`
	}
	keyIssued struct {
		KeyID   string `json:"keyId"`
		APIKey  string `json:"apiKey,omitempty"`
		Message string `json:"message,omitempty"`
	}
	passwordRequest struct {
		Password string `json:"password"`
	}
)

var idempotent = []string{funcapp.HeaderIdempotencyKey}

// A command may be refused as invalid, for a missing customer or user, for a conflict with
// what is stored, or for an Idempotency-Key reused for another request.
var commandErrors = []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}

var docs = map[string]*funcapp.Operation{
	"ListPlans": {Summary: "the plans on offer", Response: plansAnswer{}},
	"CreateCustomer": {Summary: "create a customer on a plan", Request: customerRequest{}, Response: customerCreated{},
		Success: []int{http.StatusCreated}, Errors: commandErrors, Headers: idempotent},
	"GetCustomer": {Summary: "a customer's account: balance, status, consumption, invoices", Response: app.CustomerView{},
		Errors: []int{http.StatusNotFound}},
	"AddCharge": {Summary: "charge a customer once per chargeId", Request: chargeRequest{}, Response: chargeAccepted{},
		Success: []int{http.StatusAccepted}, Errors: commandErrors, Headers: idempotent},
	"AddPayment": {Summary: "record a customer's payment once per paymentId", Request: paymentRequest{}, Response: paymentAccepted{},
		Success: []int{http.StatusAccepted}, Errors: commandErrors, Headers: idempotent},
	"CreateUser": {Summary: "create a user of a customer with a first API key", Request: userRequest{}, Response: userCreated{},
		Success: []int{http.StatusCreated, http.StatusOK}, Errors: commandErrors, Headers: idempotent},
	"GetUser": {Summary: "a user: status and keys (never the keys themselves)", Response: app.UserView{},
		Errors: []int{http.StatusNotFound}},
	"SetPassword": {Summary: "set a user's portal password", Request: passwordRequest{},
		Success: []int{http.StatusNoContent}, Errors: commandErrors, Headers: idempotent},
	"IssueKey": {Summary: "issue a new API key, shown this once", Response: keyIssued{},
		Success: []int{http.StatusCreated, http.StatusOK}, Errors: commandErrors, Headers: idempotent},
	"RevokeKey":  {Summary: "revoke an API key", Success: []int{http.StatusNoContent}, Errors: commandErrors, Headers: idempotent},
	"LockUser":   {Summary: "lock a user out of the API and the portal", Success: []int{http.StatusNoContent}, Errors: commandErrors, Headers: idempotent},
	"UnlockUser": {Summary: "unlock a user", Success: []int{http.StatusNoContent}, Errors: commandErrors, Headers: idempotent},
}

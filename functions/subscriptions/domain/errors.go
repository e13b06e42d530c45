package domain

import (
	"fmt"

	"meterline/shared/fault"
)

// Invalid reports bad input in field (a fault of kind fault.Invalid, code "invalid_<field>").
func Invalid(field, message string) *fault.Error { return fault.InvalidField(field, message) }

// Errors of the rules; compare with errors.Is (or with the fault kinds: errors.Is(err, fault.NotFound)).
var (
	ErrCustomerNotFound = fault.New(fault.NotFound, "customer_not_found", "no such customer")
	ErrCustomerExists   = fault.New(fault.Conflict, "customer_exists", "the customer already exists with other details")
	ErrChargeIDReused   = fault.New(fault.Conflict, "charge_id_reused", "this chargeId was already used for a different charge")
	ErrPaymentIDReused  = fault.New(fault.Conflict, "payment_id_reused", "this paymentId was already used for a different payment")
	ErrCurrencyMismatch = &fault.Error{Kind: fault.Invalid, Code: "invalid_currency", Field: "currency", Message: "the customer is billed in another currency"}
	ErrBalanceOverflow  = &fault.Error{Kind: fault.Invalid, Code: "invalid_amount", Field: "amount", Message: "the balance would leave the supported range"}
	ErrInvoiceNotFound  = fault.New(fault.NotFound, "invoice_not_found", "no such invoice")

	ErrUserNotFound = fault.New(fault.NotFound, "user_not_found", "no such user")
	ErrUserExists   = fault.New(fault.Conflict, "user_exists", "the user already exists with other details")
	ErrEmailTaken   = &fault.Error{Kind: fault.Conflict, Code: "email_taken", Field: "email", Message: "a user with this email already exists"}
	ErrKeyNotFound  = fault.New(fault.NotFound, "key_not_found", "no such API key")
	ErrKeyIDReused  = fault.New(fault.Conflict, "key_id_reused", "this key id was already used for another key")
	ErrTooManyKeys  = fault.New(fault.Conflict, "too_many_keys", fmt.Sprintf("a user may hold at most %d active API keys; revoke one first", MaxActiveKeys))
)

package domain

import (
	"errors"
	"fmt"
)

// Kinds of domain errors; the HTTP layer maps them to 400, 404 and 409.
var (
	ErrInvalid  = errors.New("invalid")
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Error is a domain error: a kind (ErrInvalid, ErrNotFound, ErrConflict), a stable code for
// clients, the field it is about (for invalid input) and a message for people.
type Error struct {
	Kind    error
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Is makes errors.Is(err, ErrInvalid) (etc.) true for errors of that kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Invalid reports bad input in field.
func Invalid(field, message string) *Error {
	return &Error{Kind: ErrInvalid, Code: "invalid_" + field, Field: field, Message: message}
}

// Errors of the rules; compare with errors.Is.
var (
	ErrCustomerNotFound = &Error{Kind: ErrNotFound, Code: "customer_not_found", Message: "no such customer"}
	ErrCustomerExists   = &Error{Kind: ErrConflict, Code: "customer_exists", Message: "the customer already exists with other details"}
	ErrChargeIDReused   = &Error{Kind: ErrConflict, Code: "charge_id_reused", Message: "this chargeId was already used for a different charge"}
	ErrPaymentIDReused  = &Error{Kind: ErrConflict, Code: "payment_id_reused", Message: "this paymentId was already used for a different payment"}
	ErrCurrencyMismatch = &Error{Kind: ErrInvalid, Code: "invalid_currency", Field: "currency", Message: "the customer is billed in another currency"}
	ErrBalanceOverflow  = &Error{Kind: ErrInvalid, Code: "invalid_amount", Field: "amount", Message: "the balance would leave the supported range"}
	ErrInvoiceNotFound  = &Error{Kind: ErrNotFound, Code: "invoice_not_found", Message: "no such invoice"}

	ErrUserNotFound = &Error{Kind: ErrNotFound, Code: "user_not_found", Message: "no such user"}
	ErrUserExists   = &Error{Kind: ErrConflict, Code: "user_exists", Message: "the user already exists with other details"}
	ErrEmailTaken   = &Error{Kind: ErrConflict, Code: "email_taken", Field: "email", Message: "a user with this email already exists"}
	ErrKeyNotFound  = &Error{Kind: ErrNotFound, Code: "key_not_found", Message: "no such API key"}
	ErrKeyIDReused  = &Error{Kind: ErrConflict, Code: "key_id_reused", Message: "this key id was already used for another key"}
	ErrTooManyKeys  = &Error{Kind: ErrConflict, Code: "too_many_keys", Message: fmt.Sprintf("a user may hold at most %d active API keys; revoke one first", MaxActiveKeys)}
)

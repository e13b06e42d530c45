// Package fault is the one error type of the application: a rule or an input saying no, with a
// kind (what class of "no" it is), a stable code for programs and a message for people. Domain
// code returns it; the HTTP edge (package blocks) maps its kind to a status in one place, and a
// receptor treats it as a message that can never succeed. Any other error is a failure of the
// infrastructure: retried, logged, answered 500 without details.
//
//	var ErrCustomerNotFound = &fault.Error{Kind: fault.NotFound, Code: "customer_not_found", Message: "no such customer"}
//	errors.Is(err, fault.NotFound) // true for every not-found fault
package fault

import (
	"errors"
	"fmt"
)

// Kind is the class of a fault; errors.Is(err, kind) matches every fault of that kind.
type Kind struct{ name string }

func (k *Kind) Error() string { return k.name }

// The kinds, each with the HTTP status the edge answers.
var (
	Invalid       = &Kind{"invalid"}       // 400: the request is malformed or breaks an input rule
	Unauthorized  = &Kind{"unauthorized"}  // 401: who are you?
	Forbidden     = &Kind{"forbidden"}     // 403: not you, not now
	NotFound      = &Kind{"not found"}     // 404
	Conflict      = &Kind{"conflict"}      // 409: the state forbids it (exists already, used id)
	TooLarge      = &Kind{"too large"}     // 413
	Unprocessable = &Kind{"unprocessable"} // 422: well-formed, but contradicts an earlier request
)

// Error is a fault: Kind, a stable Code ("customer_not_found"), the Field at fault for invalid
// input, a Message for people, and optionally the error it comes from.
type Error struct {
	Kind    *Kind
	Code    string
	Field   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Is makes errors.Is(err, fault.NotFound) true for faults of that kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

// New returns a fault of kind with code and message.
func New(kind *Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// InvalidField reports bad input in field; its code is "invalid_<field>".
func InvalidField(field, message string) *Error {
	return &Error{Kind: Invalid, Code: "invalid_" + field, Field: field, Message: message}
}

// As returns the fault in err's chain, if any.
func As(err error) (*Error, bool) {
	var f *Error
	ok := errors.As(err, &f)
	return f, ok
}

package amqp

// Error conditions (spec 2.8.15-2.8.18) and the Service Bus ones the SDKs act on.
const (
	ErrCondInternalError         Symbol = "amqp:internal-error"
	ErrCondNotFound              Symbol = "amqp:not-found"
	ErrCondUnauthorizedAccess    Symbol = "amqp:unauthorized-access"
	ErrCondDecodeError           Symbol = "amqp:decode-error"
	ErrCondResourceLimitExceeded Symbol = "amqp:resource-limit-exceeded"
	ErrCondNotAllowed            Symbol = "amqp:not-allowed"
	ErrCondInvalidField          Symbol = "amqp:invalid-field"
	ErrCondNotImplemented        Symbol = "amqp:not-implemented"
	ErrCondResourceLocked        Symbol = "amqp:resource-locked"
	ErrCondPreconditionFailed    Symbol = "amqp:precondition-failed"
	ErrCondResourceDeleted       Symbol = "amqp:resource-deleted"
	ErrCondIllegalState          Symbol = "amqp:illegal-state"
	ErrCondFrameSizeTooSmall     Symbol = "amqp:frame-size-too-small"

	ErrCondConnectionForced   Symbol = "amqp:connection:forced"
	ErrCondFramingError       Symbol = "amqp:connection:framing-error"
	ErrCondConnectionRedirect Symbol = "amqp:connection:redirect"

	ErrCondWindowViolation  Symbol = "amqp:session:window-violation"
	ErrCondErrantLink       Symbol = "amqp:session:errant-link"
	ErrCondHandleInUse      Symbol = "amqp:session:handle-in-use"
	ErrCondUnattachedHandle Symbol = "amqp:session:unattached-handle"

	ErrCondDetachForced          Symbol = "amqp:link:detach-forced"
	ErrCondTransferLimitExceeded Symbol = "amqp:link:transfer-limit-exceeded"
	ErrCondMessageSizeExceeded   Symbol = "amqp:link:message-size-exceeded"
	ErrCondLinkRedirect          Symbol = "amqp:link:redirect"
	ErrCondStolen                Symbol = "amqp:link:stolen"

	ErrCondMessageLockLost       Symbol = "com.microsoft:message-lock-lost"
	ErrCondSessionLockLost       Symbol = "com.microsoft:session-lock-lost"
	ErrCondSessionCannotBeLocked Symbol = "com.microsoft:session-cannot-be-locked"
	ErrCondEntityNotFound        Symbol = "com.microsoft:entity-not-found"
	ErrCondEntityDisabled        Symbol = "com.microsoft:entity-disabled"
	ErrCondEntityAlreadyExists   Symbol = "com.microsoft:entity-already-exists"
	ErrCondMessageNotFound       Symbol = "com.microsoft:message-not-found"
	ErrCondServerBusy            Symbol = "com.microsoft:server-busy"
	ErrCondTimeout               Symbol = "com.microsoft:timeout"
	ErrCondOperationCancelled    Symbol = "com.microsoft:operation-cancelled"
	ErrCondDeadLetter            Symbol = "com.microsoft:dead-letter"
)

// DecodeError reports malformed AMQP-encoded bytes.
type DecodeError struct {
	Msg string
}

func (e *DecodeError) Error() string { return "amqp: decode: " + e.Msg }

// EncodeError reports a Go value that has no AMQP encoding.
type EncodeError struct {
	Msg string
}

func (e *EncodeError) Error() string { return "amqp: encode: " + e.Msg }

// FrameError is a connection-level protocol error from ReadFrame. Condition is
// what the server should put in its close frame before dropping the connection.
type FrameError struct {
	Condition   Symbol
	Description string
}

func (e *FrameError) Error() string {
	return "amqp: " + string(e.Condition) + ": " + e.Description
}

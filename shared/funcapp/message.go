package funcapp

import (
	"time"
)

// Message is a Service Bus message as a receptor sees it.
type Message struct {
	Body          []byte
	MessageID     string
	CorrelationID string
	Subject       string // "Label" in older SDKs
	ContentType   string
	DeliveryCount int // 1 on the first delivery
	EnqueuedTime  time.Time
	ExpiresAt     time.Time
	// ApplicationProperties ("UserProperties" in older SDKs): strings, bools, nil, json.Number
	// for numbers, and nested maps/slices.
	ApplicationProperties map[string]any
	SequenceNumber        int64
	LockToken             string
	SessionID             string
	ReplyTo               string
	To                    string
	PartitionKey          string
	DeadLetterSource      string
}

// Property returns an application property as a string ("" when absent or not a string).
func (m *Message) Property(name string) string {
	s, _ := m.ApplicationProperties[name].(string)
	return s
}

// traceParent is the W3C trace context the publisher put on the message: traceparent, or
// Diagnostic-Id (Application Insights' name for it).
func (m *Message) traceParent() string {
	if tp := m.Property("traceparent"); tp != "" {
		return tp
	}
	return m.Property("Diagnostic-Id")
}

// PoisonError marks a message that can never be handled successfully.
type PoisonError struct {
	Reason string // short, stable, e.g. "unknown-event-type"
	Err    error
}

// Poison wraps err to say the message can never succeed: the runtime sends it, with reason, to
// the app's dead-letter queue and answers success so that it is not redelivered.
func Poison(reason string, err error) error { return &PoisonError{Reason: reason, Err: err} }

func (e *PoisonError) Error() string {
	if e.Err == nil {
		return "poison message: " + e.Reason
	}
	return "poison message: " + e.Reason + ": " + e.Err.Error()
}

func (e *PoisonError) Unwrap() error { return e.Err }

// DeadLetter is what the runtime sends to "<app>-deadletters" for a poison message: enough to
// understand the failure and to resubmit the original.
type DeadLetter struct {
	Reason                string         `json:"reason"`
	Error                 string         `json:"error,omitempty"`
	App                   string         `json:"app"`
	Function              string         `json:"function"`
	InvocationID          string         `json:"invocationId,omitempty"`
	MessageID             string         `json:"messageId,omitempty"`
	CorrelationID         string         `json:"correlationId,omitempty"`
	Subject               string         `json:"subject,omitempty"`
	ContentType           string         `json:"contentType,omitempty"`
	DeliveryCount         int            `json:"deliveryCount"`
	EnqueuedTime          time.Time      `json:"enqueuedTime"`
	ApplicationProperties map[string]any `json:"applicationProperties,omitempty"`
	Body                  []byte         `json:"body"` // base64 in JSON
	DeadLetteredAt        time.Time      `json:"deadLetteredAt"`
}

package filter

import (
	"strings"
)

// Message is what a filter reads: the system properties of a Service Bus
// message (sys.X) and its application properties (user.x).
//
// System is always called with the canonical spelling of a name from
// SystemProperties (sys.subject arrives as "Label"). User is called with
// the name as written in the expression; Service Bus compares property names
// case-insensitively, so an implementation should fall back to a
// case-insensitive lookup when the exact name is missing (MapMessage does).
//
// Values may be nil, string, bool, any Go integer or float type, time.Time
// (EnqueuedTimeUtc, ScheduledEnqueueTimeUtc, ...) or time.Duration
// (TimeToLive); other types are neither equal nor ordered to anything.
// A property that is absent is reported with ok == false and is NULL.
type Message interface {
	System(name string) (any, bool)
	User(name string) (any, bool)
}

// MutableMessage is a Message a rule action can change.
type MutableMessage interface {
	Message
	SetUser(name string, v any)
	RemoveUser(name string)
	// SetSystem sets (v != nil) or clears (v == nil) a system property; the
	// broker refuses the ones it cannot change.
	SetSystem(name string, v any) error
}

// Filter decides whether a message matches a subscription rule.
type Filter interface {
	Match(m Message) (bool, error)
}

type constFilter bool

func (c constFilter) Match(Message) (bool, error) { return bool(c), nil }

func (c constFilter) String() string {
	if c {
		return "1=1"
	}
	return "1=0"
}

var (
	// True matches every message (Service Bus's TrueFilter, "1=1").
	True Filter = constFilter(true)
	// False matches no message (Service Bus's FalseFilter, "1=0").
	False Filter = constFilter(false)
)

// SystemProperties lists the canonical names usable as sys.X. Lookups are
// case-insensitive; Subject is an alias of Label.
var SystemProperties = []string{
	"ContentType", "CorrelationId", "DeadLetterSource", "DeliveryCount",
	"EnqueuedSequenceNumber", "EnqueuedTimeUtc", "ExpiresAtUtc", "ForcePersistence",
	"Label", "LockToken", "LockedUntilUtc", "MessageId", "PartitionKey", "ReplyTo",
	"ReplyToSessionId", "ScheduledEnqueueTimeUtc", "SequenceNumber", "SessionId",
	"Size", "State", "TimeToLive", "To", "ViaPartitionKey",
}

// settableSystem are the system properties a rule action may SET.
var settableSystem = map[string]bool{
	"ContentType": true, "CorrelationId": true, "Label": true, "MessageId": true,
	"PartitionKey": true, "ReplyTo": true, "ReplyToSessionId": true,
	"ScheduledEnqueueTimeUtc": true, "SessionId": true, "TimeToLive": true, "To": true,
}

var systemByLower = func() map[string]string {
	m := make(map[string]string, len(SystemProperties)+1)
	for _, n := range SystemProperties {
		m[strings.ToLower(n)] = n
	}
	m["subject"] = "Label"
	return m
}()

// CanonicalSystemName returns the canonical spelling of a system property
// name, and false when Service Bus has no such property.
func CanonicalSystemName(name string) (string, bool) {
	n, ok := systemByLower[strings.ToLower(name)]
	return n, ok
}

// Correlation is Service Bus's correlation filter: every field that is set
// must equal the message's system property of the same name, and every entry
// of Properties must equal the application property of that name.
type Correlation struct {
	ContentType, CorrelationID, Label, MessageID, ReplyTo, ReplyToSessionID, SessionID, To string
	Properties                                                                             map[string]any
}

// Match implements Filter.
func (c *Correlation) Match(m Message) (bool, error) {
	sys := [...]struct{ name, want string }{
		{"ContentType", c.ContentType}, {"CorrelationId", c.CorrelationID}, {"Label", c.Label},
		{"MessageId", c.MessageID}, {"ReplyTo", c.ReplyTo}, {"ReplyToSessionId", c.ReplyToSessionID},
		{"SessionId", c.SessionID}, {"To", c.To},
	}
	for _, f := range sys {
		if f.want == "" {
			continue
		}
		got, ok := m.System(f.name)
		if !ok {
			return false, nil
		}
		v := fromAny(got)
		if v.k != kString || v.s != f.want {
			return false, nil
		}
	}
	for name, want := range c.Properties {
		got, ok := m.User(name)
		if !ok {
			return false, nil
		}
		if r := equal(fromAny(got), fromAny(want)); r != triTrue {
			return false, nil
		}
	}
	return true, nil
}

// MapMessage is a MutableMessage held in two maps, for tests and for
// brokers that keep properties in maps. User lookups fall back to a
// case-insensitive search, as Service Bus property names are.
type MapMessage struct {
	SysProps  map[string]any // keyed by canonical system property name
	UserProps map[string]any
}

// System implements Message.
func (m *MapMessage) System(name string) (any, bool) {
	v, ok := m.SysProps[name]
	return v, ok
}

// User implements Message.
func (m *MapMessage) User(name string) (any, bool) {
	if v, ok := m.UserProps[name]; ok {
		return v, true
	}
	for k, v := range m.UserProps {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// SetUser implements MutableMessage; it replaces a property whose name
// differs only in case.
func (m *MapMessage) SetUser(name string, v any) {
	m.RemoveUser(name)
	if m.UserProps == nil {
		m.UserProps = map[string]any{}
	}
	m.UserProps[name] = v
}

// RemoveUser implements MutableMessage.
func (m *MapMessage) RemoveUser(name string) {
	for k := range m.UserProps {
		if strings.EqualFold(k, name) {
			delete(m.UserProps, k)
		}
	}
}

// SetSystem implements MutableMessage; it accepts every name.
func (m *MapMessage) SetSystem(name string, v any) error {
	if v == nil {
		delete(m.SysProps, name)
		return nil
	}
	if m.SysProps == nil {
		m.SysProps = map[string]any{}
	}
	m.SysProps[name] = v
	return nil
}

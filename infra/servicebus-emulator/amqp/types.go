package amqp

import (
	"fmt"
	"time"
)

// Symbol is an AMQP symbol: an ASCII name such as "amqp:accepted:list".
type Symbol string

// Char is an AMQP char, a single UTF-32 code point.
type Char rune

// UUID is an AMQP uuid (RFC 4122 byte order).
type UUID [16]byte

// Decimal32, Decimal64 and Decimal128 hold IEEE 754 decimal values as raw
// big-endian bytes: nothing in Service Bus uses them, so they only round-trip.
type (
	Decimal32  [4]byte
	Decimal64  [8]byte
	Decimal128 [16]byte
)

// Map is an AMQP map. Keys must be comparable Go values (Symbol, string,
// uint64, int64, ...). A binary key decodes as BinaryKey, because []byte
// cannot be a Go map key.
type Map map[any]any

// BinaryKey is a binary value used as a map key (for example a delivery tag
// in attach's unsettled map). It encodes as AMQP binary.
type BinaryKey string

// Array is an AMQP array whose element type has no typed Go slice here
// (ubyte, short, double, list, described ...). All elements must have the
// same Go type; described elements are *Described with one descriptor.
type Array struct {
	Elems []any
}

// Described is a described value whose descriptor is not one this package
// knows (message sections, filters, lifetime policies ...).
type Described struct {
	Descriptor any // uint64 or Symbol in practice
	Value      any
}

// Role says which end of a link a peer is.
type Role bool

const (
	RoleSender   Role = false
	RoleReceiver Role = true
)

func (r Role) String() string {
	if r == RoleReceiver {
		return "receiver"
	}
	return "sender"
}

// Settlement modes (spec 2.8.2, 2.8.3), for Attach.SndSettleMode,
// Attach.RcvSettleMode and Transfer.RcvSettleMode.
const (
	SndSettleModeUnsettled uint8 = 0
	SndSettleModeSettled   uint8 = 1
	SndSettleModeMixed     uint8 = 2 // the default

	RcvSettleModeFirst  uint8 = 0 // the default
	RcvSettleModeSecond uint8 = 1
)

// SASL outcome codes (spec 5.3.3.6).
const (
	SASLCodeOK      uint8 = 0
	SASLCodeAuth    uint8 = 1
	SASLCodeSys     uint8 = 2
	SASLCodeSysPerm uint8 = 3
	SASLCodeSysTemp uint8 = 4
)

// Descriptor codes of the composite types this package knows.
const (
	DescriptorOpen           uint64 = 0x10
	DescriptorBegin          uint64 = 0x11
	DescriptorAttach         uint64 = 0x12
	DescriptorFlow           uint64 = 0x13
	DescriptorTransfer       uint64 = 0x14
	DescriptorDisposition    uint64 = 0x15
	DescriptorDetach         uint64 = 0x16
	DescriptorEnd            uint64 = 0x17
	DescriptorClose          uint64 = 0x18
	DescriptorError          uint64 = 0x1d
	DescriptorReceived       uint64 = 0x23
	DescriptorAccepted       uint64 = 0x24
	DescriptorRejected       uint64 = 0x25
	DescriptorReleased       uint64 = 0x26
	DescriptorModified       uint64 = 0x27
	DescriptorSource         uint64 = 0x28
	DescriptorTarget         uint64 = 0x29
	DescriptorSASLMechanisms uint64 = 0x40
	DescriptorSASLInit       uint64 = 0x41
	DescriptorSASLChallenge  uint64 = 0x42
	DescriptorSASLResponse   uint64 = 0x43
	DescriptorSASLOutcome    uint64 = 0x44
)

// symbolDescriptors maps the symbolic descriptors to their codes.
var symbolDescriptors = map[Symbol]uint64{
	"amqp:open:list":            DescriptorOpen,
	"amqp:begin:list":           DescriptorBegin,
	"amqp:attach:list":          DescriptorAttach,
	"amqp:flow:list":            DescriptorFlow,
	"amqp:transfer:list":        DescriptorTransfer,
	"amqp:disposition:list":     DescriptorDisposition,
	"amqp:detach:list":          DescriptorDetach,
	"amqp:end:list":             DescriptorEnd,
	"amqp:close:list":           DescriptorClose,
	"amqp:error:list":           DescriptorError,
	"amqp:received:list":        DescriptorReceived,
	"amqp:accepted:list":        DescriptorAccepted,
	"amqp:rejected:list":        DescriptorRejected,
	"amqp:released:list":        DescriptorReleased,
	"amqp:modified:list":        DescriptorModified,
	"amqp:source:list":          DescriptorSource,
	"amqp:target:list":          DescriptorTarget,
	"amqp:sasl-mechanisms:list": DescriptorSASLMechanisms,
	"amqp:sasl-init:list":       DescriptorSASLInit,
	"amqp:sasl-challenge:list":  DescriptorSASLChallenge,
	"amqp:sasl-response:list":   DescriptorSASLResponse,
	"amqp:sasl-outcome:list":    DescriptorSASLOutcome,
}

// Open is the first performative on a connection (spec 2.7.1).
type Open struct {
	ContainerID         string
	Hostname            string
	MaxFrameSize        uint32 // 0 => absent (default 4294967295)
	ChannelMax          uint16 // 0 => absent (default 65535)
	IdleTimeout         time.Duration
	OutgoingLocales     []Symbol
	IncomingLocales     []Symbol
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          Map
}

// Begin starts a session (spec 2.7.2).
type Begin struct {
	RemoteChannel       *uint16
	NextOutgoingID      uint32
	IncomingWindow      uint32
	OutgoingWindow      uint32
	HandleMax           uint32 // 0 => absent (default 4294967295)
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          Map
}

// Attach attaches a link to a session (spec 2.7.3).
type Attach struct {
	Name                 string
	Handle               uint32
	Role                 Role
	SndSettleMode        *uint8 // nil => mixed
	RcvSettleMode        *uint8 // nil => first
	Source               *Source
	Target               *Target
	Unsettled            Map
	IncompleteUnsettled  bool
	InitialDeliveryCount *uint32 // required when Role is sender
	MaxMessageSize       uint64  // 0 => no limit
	OfferedCapabilities  []Symbol
	DesiredCapabilities  []Symbol
	Properties           Map
}

// Source is a link source terminus (spec 3.5.3).
type Source struct {
	Address               string
	Durable               uint32
	ExpiryPolicy          Symbol // "" => absent (session-end)
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties Map
	DistributionMode      Symbol
	Filter                Map
	DefaultOutcome        any
	Outcomes              []Symbol
	Capabilities          []Symbol
}

// Target is a link target terminus (spec 3.5.4).
type Target struct {
	Address               string
	Durable               uint32
	ExpiryPolicy          Symbol // "" => absent (session-end)
	Timeout               uint32 // seconds
	Dynamic               bool
	DynamicNodeProperties Map
	Capabilities          []Symbol
}

// Flow updates session and link flow state (spec 2.7.4).
type Flow struct {
	NextIncomingID *uint32
	IncomingWindow uint32
	NextOutgoingID uint32
	OutgoingWindow uint32
	Handle         *uint32
	DeliveryCount  *uint32
	LinkCredit     *uint32
	Available      *uint32
	Drain          bool
	Echo           bool
	Properties     Map
}

// Transfer carries (part of) a message on a link (spec 2.7.5).
type Transfer struct {
	Handle        uint32
	DeliveryID    *uint32
	DeliveryTag   []byte
	MessageFormat *uint32
	Settled       bool
	More          bool
	RcvSettleMode *uint8
	State         any // a delivery state (*Accepted, *Received ...) or nil
	Resume        bool
	Aborted       bool
	Batchable     bool
}

// Disposition reports the state of a range of deliveries (spec 2.7.6).
type Disposition struct {
	Role      Role
	First     uint32
	Last      *uint32
	Settled   bool
	State     any // a delivery state (*Accepted, *Rejected ...) or nil
	Batchable bool
}

// Detach detaches (and with Closed, closes) a link (spec 2.7.7).
type Detach struct {
	Handle uint32
	Closed bool
	Error  *Error
}

// End ends a session (spec 2.7.8).
type End struct {
	Error *Error
}

// Close closes the connection (spec 2.7.9).
type Close struct {
	Error *Error
}

// Error is an AMQP error (spec 2.8.14). It is also a Go error.
type Error struct {
	Condition   Symbol
	Description string
	Info        Map
}

func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	if e.Description == "" {
		return "amqp error " + string(e.Condition)
	}
	return fmt.Sprintf("amqp error %s: %s", e.Condition, e.Description)
}

// Delivery states and outcomes (spec 3.4).
type (
	Accepted struct{}
	Rejected struct {
		Error *Error
	}
	Released struct{}
	Modified struct {
		DeliveryFailed     bool
		UndeliverableHere  bool
		MessageAnnotations Map
	}
	Received struct {
		SectionNumber uint32
		SectionOffset uint64
	}
)

// SASL frames (spec 5.3.3).
type (
	SASLMechanisms struct {
		Mechanisms []Symbol
	}
	SASLInit struct {
		Mechanism       Symbol
		InitialResponse []byte
		Hostname        string
	}
	SASLChallenge struct {
		Challenge []byte
	}
	SASLResponse struct {
		Response []byte
	}
	SASLOutcome struct {
		Code           uint8
		AdditionalData []byte
	}
)

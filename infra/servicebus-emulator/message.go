package emulator

import (
	"crypto/rand"
	"fmt"
	"maps"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"meterline/infra/servicebus-emulator/amqp"
)

// Annotations the SDKs read from delivered messages. Several are type-asserted
// without a check on the client side, so their Go types here are load-bearing.
const (
	annSequenceNumber   = "x-opt-sequence-number"        // int64
	annEnqueuedTime     = "x-opt-enqueued-time"          // time.Time
	annLockedUntil      = "x-opt-locked-until"           // time.Time
	annScheduledTime    = "x-opt-scheduled-enqueue-time" // time.Time
	annDeadLetterSource = "x-opt-deadletter-source"      // string
	annMessageState     = "x-opt-message-state"          // int32: 0 active, 1 deferred, 2 scheduled
	annLockToken        = "x-opt-lock-token"             // uuid, delivery annotation
)

// body is the immutable part of a message as the sender wrote it. Copies of a
// message in several subscriptions share one body.
type body struct {
	msg    *goamqp.Message // parsed once: properties for filters, dedup and management
	header goamqp.MessageHeader
	ann    goamqp.Annotations // the sender's annotations without the ones we set per delivery
	rest   []byte             // encoded properties, application properties, body and footer
}

func (b *body) size() int { return len(b.rest) + 64 }

// parseBody decodes one encoded AMQP message.
func parseBody(raw []byte) (*body, error) {
	m := new(goamqp.Message)
	if err := m.UnmarshalBinary(raw); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return newBody(m)
}

func newBody(m *goamqp.Message) (*body, error) {
	b := &body{msg: m}
	if m.Header != nil {
		b.header = *m.Header
	}
	b.ann = make(goamqp.Annotations, len(m.Annotations))
	for k, v := range m.Annotations {
		switch k {
		case annSequenceNumber, annEnqueuedTime, annLockedUntil, annDeadLetterSource, annMessageState:
			continue
		}
		b.ann[k] = v
	}
	restMsg := goamqp.Message{
		Properties:            m.Properties,
		ApplicationProperties: m.ApplicationProperties,
		Data:                  m.Data,
		Value:                 m.Value,
		Sequence:              m.Sequence,
		Footer:                m.Footer,
	}
	rest, err := restMsg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	b.rest = rest
	return b, nil
}

// withAppProps returns a copy of b whose application properties are merged with props.
func (b *body) withAppProps(props map[string]any) (*body, error) {
	if len(props) == 0 {
		return b, nil
	}
	m := *b.msg
	m.ApplicationProperties = maps.Clone(b.msg.ApplicationProperties)
	if m.ApplicationProperties == nil {
		m.ApplicationProperties = map[string]any{}
	}
	maps.Copy(m.ApplicationProperties, props)
	m.Header = &b.header
	m.Annotations = b.ann
	return newBody(&m)
}

func (b *body) messageID() (string, bool) {
	if b.msg.Properties == nil || b.msg.Properties.MessageID == nil {
		return "", false
	}
	return fmt.Sprint(b.msg.Properties.MessageID), true
}

// scheduledTime reports the x-opt-scheduled-enqueue-time the sender asked for.
func (b *body) scheduledTime() (time.Time, bool) {
	switch v := b.ann[annScheduledTime].(type) {
	case time.Time:
		return v, true
	case *time.Time:
		if v != nil {
			return *v, true
		}
	}
	return time.Time{}, false
}

// lockToken is the RFC 4122 byte order of a lock token, as the SDK holds it.
type lockToken [16]byte

func newLockToken() lockToken {
	var t lockToken
	_, _ = rand.Read(t[:])
	t[6] = t[6]&0x0f | 0x40
	t[8] = t[8]&0x3f | 0x80
	return t
}

// deliveryTag is the token in .NET GUID byte order, which the SDK swaps back.
func (t lockToken) deliveryTag() []byte {
	b := make([]byte, 16)
	copy(b, t[:])
	b[0], b[3] = b[3], b[0]
	b[1], b[2] = b[2], b[1]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return b
}

// snapshot is a message as it is handed out: the per-delivery fields frozen
// under the entity lock so encoding can happen outside it.
type snapshot struct {
	body          *body
	seq           int64
	enqueued      time.Time
	expiresAt     time.Time // zero: never
	lockedUntil   time.Time // zero: not locked
	lockToken     lockToken
	deliveryCount uint32 // attempts including this one
	state         int32
	dlSource      string
	withLockAnn   bool // put the lock token in a delivery annotation (management receives)
}

// encode produces the wire form of the message for this delivery.
func (s *snapshot) encode() ([]byte, error) {
	h := s.body.header
	if s.deliveryCount > 0 {
		h.DeliveryCount = s.deliveryCount - 1 // the SDK adds one
	}
	if h.TTL == 0 && !s.expiresAt.IsZero() {
		h.TTL = s.expiresAt.Sub(s.enqueued) // the entity's default, as Service Bus reports it
	}
	ann := make(goamqp.Annotations, len(s.body.ann)+5)
	maps.Copy(ann, s.body.ann)
	ann[annSequenceNumber] = s.seq
	ann[annEnqueuedTime] = s.enqueued
	if !s.lockedUntil.IsZero() {
		ann[annLockedUntil] = s.lockedUntil
	}
	if s.dlSource != "" {
		ann[annDeadLetterSource] = s.dlSource
	}
	if s.state != 0 {
		ann[annMessageState] = s.state
	}
	m := goamqp.Message{Annotations: ann}
	if s.withLockAnn {
		m.DeliveryAnnotations = goamqp.Annotations{annLockToken: goamqp.UUID(s.lockToken)}
	}
	b, err := encodeHeader(h)
	if err != nil {
		return nil, err
	}
	rest, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(append(b, rest...), s.body.rest...), nil
}

// encodeHeader writes the header section with every field present, as Service Bus does.
// go-amqp leaves out a zero delivery-count, and the JavaScript SDK (rhea) then reports a first
// delivery's deliveryCount as undefined instead of 0. The header is the message's first section.
func encodeHeader(h goamqp.MessageHeader) ([]byte, error) {
	var ttl any // null: no time to live
	if h.TTL > 0 {
		ttl = uint32(h.TTL / time.Millisecond)
	}
	return amqp.Marshal(&amqp.Described{Descriptor: uint64(0x70),
		Value: []any{h.Durable, h.Priority, ttl, h.FirstAcquirer, h.DeliveryCount}})
}

package emulator

import (
	"fmt"
	"maps"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"meterline/infra/servicebus-emulator/filter"
)

// rule decides whether a subscription gets a copy of a message and may
// rewrite that copy's properties.
type rule struct {
	name   string
	filter filter.Filter
	action *filter.Action // nil: none
}

// filterMessage exposes a message's system and application properties to
// filters under Service Bus's names.
func filterMessage(b *body) *filter.MapMessage {
	return &filter.MapMessage{SysProps: systemProps(b), UserProps: b.msg.ApplicationProperties}
}

// routedMessage is what a topic's filters see. Its system properties are
// gathered only when a filter reads one: most subscriptions take every
// message (TrueFilter) or match on application properties alone.
type routedMessage struct {
	filter.MapMessage
	b *body
}

func newRoutedMessage(b *body) *routedMessage {
	return &routedMessage{MapMessage: filter.MapMessage{UserProps: b.msg.ApplicationProperties}, b: b}
}

// System implements filter.Message.
func (m *routedMessage) System(name string) (any, bool) {
	if m.SysProps == nil {
		m.SysProps = systemProps(m.b)
	}
	return m.MapMessage.System(name)
}

// systemProps gathers a message's system properties under Service Bus's names.
func systemProps(b *body) map[string]any {
	sys := map[string]any{"Size": int64(len(b.rest))}
	if p := b.msg.Properties; p != nil {
		put := func(name string, v any) {
			switch x := v.(type) {
			case nil:
			case *string:
				if x != nil {
					sys[name] = *x
				}
			case goamqp.UUID:
				sys[name] = x.String()
			default:
				sys[name] = fmt.Sprint(x)
			}
		}
		put("MessageId", p.MessageID)
		put("CorrelationId", p.CorrelationID)
		put("ContentType", p.ContentType)
		put("Label", p.Subject)
		put("To", p.To)
		put("ReplyTo", p.ReplyTo)
		put("SessionId", p.GroupID)
		put("ReplyToSessionId", p.ReplyToGroupID)
	}
	if b.header.TTL > 0 {
		sys["TimeToLive"] = b.header.TTL.Seconds()
	}
	if pk, ok := b.ann["x-opt-partition-key"]; ok {
		sys["PartitionKey"] = pk
	}
	return sys
}

// applyAction runs a rule action on a copy of the message.
func applyAction(b *body, a *filter.Action) (*body, error) {
	fm := filterMessage(b)
	fm.UserProps = maps.Clone(fm.UserProps)
	before := maps.Clone(fm.SysProps)
	if err := a.Apply(fm); err != nil {
		return nil, err
	}
	m := *b.msg
	m.ApplicationProperties = fm.UserProps
	m.Header = &b.header
	m.Annotations = b.ann
	props := goamqp.MessageProperties{}
	if b.msg.Properties != nil {
		props = *b.msg.Properties
	}
	str := func(name string) *string {
		v, ok := fm.SysProps[name]
		if !ok {
			return nil
		}
		s := fmt.Sprint(v)
		return &s
	}
	for name, v := range fm.SysProps {
		if before[name] == v {
			continue
		}
		switch name {
		case "MessageId":
			props.MessageID = v
		case "CorrelationId":
			props.CorrelationID = v
		case "ContentType":
			props.ContentType = str(name)
		case "Label":
			props.Subject = str(name)
		case "To":
			props.To = str(name)
		case "ReplyTo":
			props.ReplyTo = str(name)
		case "SessionId":
			props.GroupID = str(name)
		case "ReplyToSessionId":
			props.ReplyToGroupID = str(name)
		case "TimeToLive":
			if f, ok := v.(float64); ok {
				h := b.header
				h.TTL = time.Duration(f * float64(time.Second))
				m.Header = &h
			}
		}
	}
	m.Properties = &props
	return newBody(&m)
}

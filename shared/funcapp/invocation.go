package funcapp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidPayload is wrapped by every error about an invocation payload the handler cannot
// read; the runtime answers 400 with the reason.
var ErrInvalidPayload = errors.New("invalid invocation payload")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPayload, fmt.Sprintf(format, args...))
}

// invocation is the body of POST /{FunctionName}: {"Data": {...}, "Metadata": {...}}.
type invocation struct {
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage
}

func decodeInvocation(body []byte) (*invocation, error) {
	inv := &invocation{}
	if err := json.Unmarshal(body, inv); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, invalid("%s is not an object", typeErr.Field)
		}
		return nil, invalid("not a JSON object: %v", err)
	}
	if inv.Data == nil {
		return nil, invalid("Data is missing or not an object")
	}
	return inv, nil
}

// find finds key in m, exactly or else ignoring case (the host's .NET serializers and
// hand-written payloads disagree on case).
func find(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// lookup is find where null values count as absent.
func lookup(m map[string]json.RawMessage, key string) json.RawMessage {
	v, ok := find(m, key)
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil
	}
	return v
}

func (inv *invocation) binding(name string) (json.RawMessage, error) {
	v, ok := find(inv.Data, name)
	if !ok {
		return nil, invalid("Data has no %q binding", name)
	}
	return v, nil
}

// message reads a serviceBusTrigger invocation.
func (inv *invocation) message() (*Message, error) {
	raw, err := inv.binding(bindingMessage)
	if err != nil {
		return nil, err
	}
	m := &Message{}
	if m.Body, err = messageBody(raw); err != nil {
		return nil, err
	}
	md := inv.Metadata
	strs := []struct {
		dst  *string
		keys []string
	}{
		{&m.MessageID, []string{"MessageId"}},
		{&m.CorrelationID, []string{"CorrelationId"}},
		{&m.Subject, []string{"Subject", "Label"}},
		{&m.ContentType, []string{"ContentType"}},
		{&m.LockToken, []string{"LockToken"}},
		{&m.SessionID, []string{"SessionId"}},
		{&m.ReplyTo, []string{"ReplyTo"}},
		{&m.To, []string{"To"}},
		{&m.PartitionKey, []string{"PartitionKey"}},
		{&m.DeadLetterSource, []string{"DeadLetterSource"}},
	}
	for _, s := range strs {
		if *s.dst, err = metaString(md, s.keys...); err != nil {
			return nil, err
		}
	}
	dc, err := metaInt(md, "DeliveryCount")
	if err != nil {
		return nil, err
	}
	if dc < 0 || dc > 1<<31-1 {
		return nil, invalid("DeliveryCount %d out of range", dc)
	}
	m.DeliveryCount = int(dc)
	if m.SequenceNumber, err = metaInt(md, "SequenceNumber"); err != nil {
		return nil, err
	}
	if m.EnqueuedTime, err = metaTime(md, "EnqueuedTimeUtc", "EnqueuedTime"); err != nil {
		return nil, err
	}
	if m.ExpiresAt, err = metaTime(md, "ExpiresAtUtc", "ExpiresAt"); err != nil {
		return nil, err
	}
	if m.ApplicationProperties, err = metaObject(md, "ApplicationProperties", "UserProperties"); err != nil {
		return nil, err
	}
	return m, nil
}

// messageBody decodes the trigger value. With "dataType": "binary" (what we declare) it is the
// base64 of the exact bytes. Tolerated for other set-ups: a string serialized twice
// ("\"text\""), a plain string, or a JSON value given as is.
func messageBody(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return []byte{}, nil
	}
	if raw[0] != '"' {
		if !json.Valid(raw) {
			return nil, invalid("message body is not valid JSON")
		}
		return append([]byte(nil), raw...), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, invalid("message body: %v", err)
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if inner, ok := unquote(s); ok {
		return []byte(inner), nil
	}
	return []byte(s), nil
}

// unquote undoes the host's second serialization of a string: "\"text\"" -> "text".
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var inner string
	if json.Unmarshal([]byte(s), &inner) != nil {
		return "", false
	}
	return inner, true
}

// scalarText returns a metadata scalar as text: the host sends .NET scalars serialized to JSON
// and then serialized again as strings ("1", "\"id\"", "\"2023-10-12T20:13:49\"").
func scalarText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		if inner, ok := unquote(s); ok {
			return inner, nil
		}
		return s, nil
	case '{', '[':
		return "", errors.New("expected a scalar, got " + string(raw[:1]))
	default:
		if !json.Valid(raw) {
			return "", errors.New("invalid JSON")
		}
		return string(raw), nil
	}
}

func metaString(md map[string]json.RawMessage, keys ...string) (string, error) {
	for _, k := range keys {
		if raw := lookup(md, k); raw != nil {
			s, err := scalarText(raw)
			if err != nil {
				return "", invalid("Metadata.%s: %v", k, err)
			}
			return s, nil
		}
	}
	return "", nil
}

func metaInt(md map[string]json.RawMessage, key string) (int64, error) {
	s, err := metaString(md, key)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, invalid("Metadata.%s: %q is not an integer", key, s)
	}
	return n, nil
}

func metaTime(md map[string]json.RawMessage, keys ...string) (time.Time, error) {
	for _, k := range keys {
		s, err := metaString(md, k)
		if err != nil {
			return time.Time{}, err
		}
		if s == "" {
			continue
		}
		t, err := parseHostTime(s)
		if err != nil {
			return time.Time{}, invalid("Metadata.%s: %v", k, err)
		}
		return t, nil
	}
	return time.Time{}, nil
}

// metaObject reads a dictionary (ApplicationProperties); numbers stay json.Number so that
// 64-bit integers survive.
func metaObject(md map[string]json.RawMessage, keys ...string) (map[string]any, error) {
	for _, k := range keys {
		raw := lookup(md, k)
		if raw == nil {
			continue
		}
		obj, err := objectOrQuoted(raw)
		if err != nil {
			return nil, invalid("Metadata.%s: %v", k, err)
		}
		if obj == nil {
			return nil, nil
		}
		var out map[string]any
		d := json.NewDecoder(bytes.NewReader(obj))
		d.UseNumber()
		if err := d.Decode(&out); err != nil {
			return nil, invalid("Metadata.%s: %v", k, err)
		}
		return out, nil
	}
	return nil, nil
}

// objectOrQuoted returns the JSON object in raw, which may also arrive serialized as a string.
// An empty string or null gives nil.
func objectOrQuoted(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		s = strings.TrimSpace(s)
		if s == "" || s == "null" {
			return nil, nil
		}
		raw = json.RawMessage(s)
	}
	if !isJSONObject(raw) {
		return nil, errors.New("expected an object")
	}
	return raw, nil
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}

// Layouts the host is known to produce. Go accepts a fractional second after the seconds
// field even when the layout has none, so .NET's 7 digits parse too.
var hostTimeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05", // no zone: UTC
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"01/02/2006 15:04:05", // DateTime.ToString() in the invariant culture
}

func parseHostTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range hostTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", s)
}

// timer reads a timerTrigger invocation:
// {"Schedule": {...}, "ScheduleStatus": {"Last", "Next", "LastUpdated"} | null, "IsPastDue": bool}.
func (inv *invocation) timer() (TimerInfo, error) {
	raw, err := inv.binding(bindingTimer)
	if err != nil {
		return TimerInfo{}, err
	}
	obj, err := objectOrQuoted(raw)
	if err != nil || obj == nil {
		return TimerInfo{}, invalid("timer: expected an object")
	}
	var v struct {
		ScheduleStatus map[string]json.RawMessage
		IsPastDue      json.RawMessage
	}
	if err := json.Unmarshal(obj, &v); err != nil {
		return TimerInfo{}, invalid("timer: %v", err)
	}
	var info TimerInfo
	if pd, err := scalarText(v.IsPastDue); err != nil {
		return TimerInfo{}, invalid("timer.IsPastDue: %v", err)
	} else if pd != "" {
		if info.IsPastDue, err = strconv.ParseBool(strings.ToLower(pd)); err != nil {
			return TimerInfo{}, invalid("timer.IsPastDue: %q is not a boolean", pd)
		}
	}
	for _, f := range []struct {
		dst *time.Time
		key string
	}{{&info.Last, "Last"}, {&info.Next, "Next"}, {&info.LastUpdated, "LastUpdated"}} {
		s, err := scalarText(lookup(v.ScheduleStatus, f.key))
		if err != nil {
			return TimerInfo{}, invalid("timer.ScheduleStatus.%s: %v", f.key, err)
		}
		if s == "" {
			continue
		}
		if *f.dst, err = parseHostTime(s); err != nil {
			return TimerInfo{}, invalid("timer.ScheduleStatus.%s: %v", f.key, err)
		}
	}
	return info, nil
}

// isBinaryMediaType says whether the host sent an HTTP body as base64 (it does so for
// application/octet-stream and multipart/*).
func isBinaryMediaType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

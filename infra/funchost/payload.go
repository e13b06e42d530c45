package funchost

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// The payload builders below reproduce how the real host turns binding data
// into the custom-handler request (ScriptInvocationContextExtensions in
// azure-functions-host): byte[] -> base64, DateTime / DateTimeOffset ->
// re-parsed from their culture string (so whole seconds, DateTime without a
// zone), objects -> JSON objects, everything else -> JsonConvert.SerializeObject
// (so a string arrives as "\"text\"" and a number as "1").

// invocationRequest is the body of POST /{FunctionName}.
type invocationRequest struct {
	Data     map[string]any `json:"Data"`
	Metadata map[string]any `json:"Metadata"`
}

// invocationResponse is what the handler answers.
type invocationResponse struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []any                      `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
}

// dotnetSerialized is JsonConvert.SerializeObject of a scalar: a JSON text
// carried as a string.
func dotnetSerialized(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// dotnetDateTime is a DateTime (no zone) after the host's round trip through
// ToString(): whole seconds, no offset.
func dotnetDateTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05")
}

// dotnetDateTimeOffset is a DateTimeOffset after the same round trip.
func dotnetDateTimeOffset(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05") + "+00:00"
}

// newtonsoftTime is how Json.NET writes a UTC DateTime inside an object.
func newtonsoftTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.9999999Z07:00")
}

// newtonsoftLocalTime is a DateTime of kind Local on a UTC machine (timer status).
func newtonsoftLocalTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.9999999") + "+00:00"
}

// maxDateTimeOffset is DateTimeOffset.MaxValue, the .NET ExpiresAt of a message without TTL.
var maxDateTimeOffset = time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func guidString(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func sysMetadata(fn string, now time.Time) map[string]any {
	return map[string]any{"MethodName": fn, "UtcNow": newtonsoftTime(now), "RandGuid": newGUID()}
}

// triggerBodyValue shapes a trigger's byte payload as Data.<name>.
func triggerBodyValue(body []byte, dataType string) any {
	if strings.EqualFold(dataType, "binary") {
		return body // encoding/json writes []byte as base64, as Json.NET does
	}
	// A string trigger value is serialized a second time.
	return dotnetSerialized(string(body))
}

// mergeJSONBody is the host's ApplyBindingData: when a string trigger value
// is a JSON object, its top-level properties (arrays and nulls excepted) are
// added to the binding data, overwriting same-named keys. Objects stay
// objects; other values become their string form, which is then serialized
// again like any string. (Json.NET's date parsing of such strings is not
// reproduced: date-like strings arrive unchanged.)
func mergeJSONBody(meta map[string]any, body []byte, dataType string) {
	if strings.EqualFold(dataType, "binary") {
		return
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber() // keep numbers as written, as Json.NET's string conversion does
	var obj map[string]any
	if dec.Decode(&obj) != nil {
		return
	}
	for k, v := range obj {
		switch v := v.(type) {
		case nil, []any:
		case map[string]any:
			meta[k] = v
		case string:
			meta[k] = dotnetSerialized(v)
		case bool:
			meta[k] = dotnetSerialized(map[bool]string{true: "True", false: "False"}[v])
		case json.Number:
			meta[k] = dotnetSerialized(v.String())
		}
	}
}

// serviceBusPayload builds the request for a serviceBusTrigger invocation,
// keys and conversions as ServiceBusTriggerBindingStrategy + the host produce.
func serviceBusPayload(fn *Function, msg *azservicebus.ReceivedMessage, namespace, clientID string, now time.Time) *invocationRequest {
	b := fn.Trigger
	meta := map[string]any{
		// Action objects serialize to {} (no public properties); the client to its properties.
		"MessageReceiver": map[string]any{},
		"MessageSession":  map[string]any{},
		"MessageActions":  map[string]any{},
		"SessionActions":  map[string]any{},
		"ReceiveActions":  map[string]any{},
		"Client": map[string]any{
			"FullyQualifiedNamespace": namespace,
			"IsClosed":                false,
			"TransportType":           0,
			"Identifier":              clientID,
		},
		"DeliveryCount": dotnetSerialized(msg.DeliveryCount),
		"LockToken":     dotnetSerialized(guidString(msg.LockToken)),
	}
	str := func(key string, v *string) {
		if v != nil {
			meta[key] = dotnetSerialized(*v)
		}
	}
	str("DeadLetterSource", msg.DeadLetterSource)
	expires := maxDateTimeOffset
	if msg.ExpiresAt != nil {
		expires = *msg.ExpiresAt
	}
	meta["ExpiresAtUtc"] = dotnetDateTime(expires)
	meta["ExpiresAt"] = dotnetDateTimeOffset(expires)
	if msg.EnqueuedTime != nil {
		meta["EnqueuedTimeUtc"] = dotnetDateTime(*msg.EnqueuedTime)
		meta["EnqueuedTime"] = dotnetDateTimeOffset(*msg.EnqueuedTime)
	}
	if msg.MessageID != "" {
		meta["MessageId"] = dotnetSerialized(msg.MessageID)
	}
	str("ContentType", msg.ContentType)
	str("ReplyTo", msg.ReplyTo)
	if msg.SequenceNumber != nil {
		meta["SequenceNumber"] = dotnetSerialized(*msg.SequenceNumber)
	}
	str("To", msg.To)
	str("Subject", msg.Subject)
	str("Label", msg.Subject)
	str("CorrelationId", msg.CorrelationID)
	props := map[string]any{}
	for k, v := range msg.ApplicationProperties {
		if t, ok := v.(time.Time); ok {
			v = newtonsoftTime(t)
		}
		props[k] = v
	}
	meta["ApplicationProperties"] = props
	meta["UserProperties"] = props
	str("SessionId", msg.SessionID)
	str("ReplyToSessionId", msg.ReplyToSessionID)
	str("PartitionKey", msg.PartitionKey)

	mergeJSONBody(meta, msg.Body, b.DataType)
	meta["sys"] = sysMetadata(fn.Name, now)
	return &invocationRequest{
		Data:     map[string]any{b.Name: triggerBodyValue(msg.Body, b.DataType)},
		Metadata: meta,
	}
}

// timerPayload builds the request for a timerTrigger invocation (TimerInfo).
func timerPayload(fn *Function, status *ScheduleStatus, pastDue bool, now time.Time) *invocationRequest {
	var st any
	if status != nil {
		st = map[string]any{
			"Last":        newtonsoftLocalTime(status.Last),
			"Next":        newtonsoftLocalTime(status.Next),
			"LastUpdated": newtonsoftLocalTime(status.LastUpdated),
		}
	}
	return &invocationRequest{
		Data: map[string]any{fn.Trigger.Name: map[string]any{
			"Schedule":       map[string]any{"AdjustForDST": true},
			"ScheduleStatus": st,
			"IsPastDue":      pastDue,
		}},
		Metadata: map[string]any{"sys": sysMetadata(fn.Name, now)},
	}
}

// httpRequestData is Data.req for JSON mode (the host's GetRequestAsJObject).
func httpRequestData(url, method string, query map[string][]string, header map[string][]string,
	params map[string]string, body []byte, contentType string) map[string]any {
	q := map[string]any{}
	for k, v := range query {
		q[k] = strings.Join(v, ",")
	}
	h := map[string]any{}
	for k, v := range header {
		h[k] = v
	}
	p := map[string]any{}
	for k, v := range params {
		p[k] = v
	}
	req := map[string]any{
		"Url": url, "Method": method, "Query": q, "Headers": h, "Params": p,
		"Identities": []any{},
	}
	if len(body) > 0 {
		ct := strings.ToLower(contentType)
		if strings.HasPrefix(ct, "application/octet-stream") || strings.Contains(ct, "multipart/") {
			req["Body"] = base64.StdEncoding.EncodeToString(body)
		} else {
			req["Body"] = string(body)
		}
	}
	return req
}

// httpMetadata is the binding data of an httpTrigger: Query and Headers as
// objects, route parameters as serialized strings, and the JSON body merge.
func httpMetadata(fn *Function, query, header map[string][]string, params map[string]string, body []byte) map[string]any {
	meta := map[string]any{}
	q := map[string]any{}
	for k, v := range query {
		q[k] = strings.Join(v, ",")
	}
	h := map[string]any{}
	for k, v := range header {
		h[k] = strings.Join(v, ",")
	}
	meta["Query"] = q
	meta["Headers"] = h
	for k, v := range params {
		meta[k] = dotnetSerialized(v)
	}
	mergeJSONBody(meta, body, fn.Trigger.DataType)
	meta["sys"] = sysMetadata(fn.Name, time.Now())
	return meta
}

// httpOutput is the http output binding value {statusCode, body, headers}.
type httpOutput struct {
	StatusCode int
	Headers    map[string]string
	Body       []byte
}

func parseHTTPOutput(raw json.RawMessage) (*httpOutput, error) {
	var v struct {
		StatusCode json.RawMessage `json:"statusCode"`
		Status     json.RawMessage `json:"status"`
		Body       json.RawMessage `json:"body"`
		Headers    map[string]any  `json:"headers"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("http output must be an object {statusCode, body, headers}: %v", err)
	}
	out := &httpOutput{StatusCode: 200, Headers: map[string]string{}}
	code := v.StatusCode
	if len(code) == 0 {
		code = v.Status
	}
	if len(code) > 0 && string(code) != "null" {
		var n int
		var s string
		switch {
		case json.Unmarshal(code, &n) == nil:
		case json.Unmarshal(code, &s) == nil:
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(s)); err != nil {
				return nil, fmt.Errorf("http output statusCode %s is not a number", code)
			}
		default:
			return nil, fmt.Errorf("http output statusCode %s is not a number", code)
		}
		if n < 100 || n > 999 {
			return nil, fmt.Errorf("http output statusCode %d is out of range", n)
		}
		out.StatusCode = n
	}
	for k, hv := range v.Headers {
		out.Headers[k] = fmt.Sprint(hv)
	}
	if len(v.Body) > 0 && string(v.Body) != "null" {
		var s string
		if json.Unmarshal(v.Body, &s) == nil {
			out.Body = []byte(s)
		} else {
			out.Body = v.Body
			if !hasHeader(out.Headers, "Content-Type") {
				out.Headers["Content-Type"] = "application/json; charset=utf-8"
			}
		}
	}
	return out, nil
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

package funchost

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// messageSender is the part of *azservicebus.Sender the serviceBus output uses.
type messageSender interface {
	SendMessage(ctx context.Context, msg *azservicebus.Message, options *azservicebus.SendMessageOptions) error
	Close(ctx context.Context) error
}

// outputSenders keeps one Service Bus client per connection string and one
// sender per entity for an app's serviceBus output bindings.
type outputSenders struct {
	mu      sync.Mutex
	clients map[string]*azservicebus.Client
	senders map[string]messageSender
}

func (o *outputSenders) sender(out ServiceBusOutput) (messageSender, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := out.Connection + "\x00" + out.Entity
	if s, ok := o.senders[key]; ok {
		return s, nil
	}
	if o.clients == nil {
		o.clients, o.senders = map[string]*azservicebus.Client{}, map[string]messageSender{}
	}
	c, ok := o.clients[out.Connection]
	if !ok {
		var err error
		if c, err = azservicebus.NewClientFromConnectionString(out.Connection, nil); err != nil {
			return nil, fmt.Errorf("serviceBus output %q: bad connection string", out.Name)
		}
		o.clients[out.Connection] = c
	}
	s, err := c.NewSender(out.Entity, nil)
	if err != nil {
		return nil, err
	}
	o.senders[key] = s
	return s, nil
}

func (o *outputSenders) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range o.senders {
		_ = s.Close(ctx)
	}
	for _, c := range o.clients {
		_ = c.Close(ctx)
	}
	o.senders, o.clients = nil, nil
}

// sendOutputs sends what the handler returned for each serviceBus output
// binding, as the host does after a successful invocation: a JSON string
// becomes a text message, an object a JSON message, an array several messages.
func (a *appRuntime) sendOutputs(ctx context.Context, fn *Function, resp *invocationResponse) error {
	if resp == nil {
		return nil
	}
	for _, out := range fn.ServiceBusOutputs {
		raw := resp.Outputs[out.Name]
		if out.Name == "$return" {
			raw = resp.ReturnValue
		}
		msgs, err := outputMessages(raw, out.Binary)
		if err != nil {
			return fmt.Errorf("serviceBus output %q: %w", out.Name, err)
		}
		if len(msgs) == 0 {
			continue
		}
		s, err := a.outputs.sender(out)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := s.SendMessage(ctx, m, nil); err != nil {
				return fmt.Errorf("serviceBus output %q to %s: %w", out.Name, out.Entity, err)
			}
		}
	}
	return nil
}

// outputMessages turns an output binding value into messages. A top-level
// string is first tried as base64, and when it decodes it is the message's
// bytes (HttpScriptInvocationResultExtensions.GetBindingValue calls
// Convert.FromBase64String on every output value unless the binding's
// dataType is binary); items of an array are not.
func outputMessages(raw json.RawMessage, binary bool) ([]*azservicebus.Message, error) {
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		return nil, nil
	}
	var top string
	if !binary && json.Unmarshal(raw, &top) == nil {
		if b, ok := dotnetFromBase64(top); ok {
			return []*azservicebus.Message{{Body: b}}, nil
		}
	}
	return outputItems(raw)
}

// dotnetFromBase64 is Convert.FromBase64String: the standard alphabet with
// padding, white space anywhere ignored.
func dotnetFromBase64(s string) ([]byte, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

func outputItems(raw json.RawMessage) ([]*azservicebus.Message, error) {
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		return nil, nil
	}
	if strings.HasPrefix(text, "[") {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		var out []*azservicebus.Message
		for _, it := range items {
			m, err := outputItems(it)
			if err != nil {
				return nil, err
			}
			out = append(out, m...)
		}
		return out, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		ct := "text/plain"
		return []*azservicebus.Message{{Body: []byte(s), ContentType: &ct}}, nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	ct := "application/json"
	if !strings.HasPrefix(text, "{") {
		ct = "text/plain" // a number or boolean: its text
	}
	return []*azservicebus.Message{{Body: compact.Bytes(), ContentType: &ct}}, nil
}

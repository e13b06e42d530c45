package funcapp

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Definition is the content of a function.json file.
type Definition struct {
	Bindings []Binding `json:"bindings"`
}

// Binding is one entry of function.json's "bindings", with the fields our triggers use.
type Binding struct {
	Type      string `json:"type"`
	Direction string `json:"direction"`
	Name      string `json:"name"`

	AuthLevel string   `json:"authLevel,omitempty"`
	Methods   []string `json:"methods,omitempty"`
	Route     string   `json:"route,omitempty"`

	TopicName         string `json:"topicName,omitempty"`
	SubscriptionName  string `json:"subscriptionName,omitempty"`
	QueueName         string `json:"queueName,omitempty"`
	Connection        string `json:"connection,omitempty"`
	IsSessionsEnabled bool   `json:"isSessionsEnabled,omitempty"`
	DataType          string `json:"dataType,omitempty"`

	Schedule     string `json:"schedule,omitempty"`
	RunOnStartup *bool  `json:"runOnStartup,omitempty"`
	UseMonitor   *bool  `json:"useMonitor,omitempty"`
}

// DeadLetterQueue is the queue a bounded context's poison messages go to.
func DeadLetterQueue(app string) string { return app + "-deadletters" }

// Definition returns the function.json content for f.
func (f Function) Definition() Definition {
	switch f.Kind {
	case KindHTTP:
		var methods []string
		for _, m := range f.HTTP.Methods {
			methods = append(methods, strings.ToLower(m))
		}
		return Definition{Bindings: []Binding{
			{Type: KindHTTP, Direction: "in", Name: bindingRequest, AuthLevel: f.HTTP.AuthLevel, Methods: methods, Route: f.HTTP.Route},
			{Type: "http", Direction: "out", Name: bindingResponse},
		}}
	case KindServiceBus:
		t := f.ServiceBus
		return Definition{Bindings: []Binding{
			{
				Type: KindServiceBus, Direction: "in", Name: bindingMessage,
				TopicName: t.Topic, SubscriptionName: t.Subscription, QueueName: t.Queue,
				Connection: t.Connection, IsSessionsEnabled: t.Sessions,
				// Binary: the body arrives as exact base64 bytes, neither serialized twice as
				// a string nor merged into the metadata when it is a JSON object.
				DataType: "binary",
			},
			{Type: "serviceBus", Direction: "out", Name: bindingDeadLetter, QueueName: DeadLetterQueue(f.App), Connection: t.Connection},
		}}
	case KindTimer:
		runOnStartup, useMonitor := f.Timer.RunOnStartup, !f.Timer.NoMonitor
		return Definition{Bindings: []Binding{
			{Type: KindTimer, Direction: "in", Name: bindingTimer, Schedule: f.Timer.Schedule, RunOnStartup: &runOnStartup, UseMonitor: &useMonitor},
		}}
	}
	panic("funcapp: unknown function kind " + f.Kind)
}

// WriteFunctionJSON writes dir/<FunctionName>/function.json for every registered function,
// the layout the Functions host discovers (one folder per function next to host.json).
func (a *App) WriteFunctionJSON(dir string) error {
	for _, f := range a.functions {
		b, err := json.MarshalIndent(f.Definition(), "", "  ")
		if err != nil {
			return err
		}
		fdir := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(fdir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(fdir, "function.json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write function.json of %s: %w", f.Name, err)
		}
	}
	return nil
}

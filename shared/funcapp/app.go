package funcapp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"
)

// App is one Functions app: the functions a bounded context (or several, see Include) serves.
// Register everything before calling Handler or Serve; registration mistakes are programming
// errors and panic, like http.ServeMux does.
type App struct {
	// Name is the bounded context, e.g. "subscriptions"; it names the dead-letter queue.
	Name string
	// RoutePrefix is host.json's extensions.http.routePrefix ("api" by default).
	RoutePrefix string
	// Logger receives structured logs; New sets NewLogger(os.Stdout, os.Stderr), which the host
	// collects at the right levels.
	Logger *slog.Logger

	functions []*Function
	byName    map[string]*Function
	views     []View
}

// New returns an empty app for the bounded context name.
func New(name string) *App {
	if !validName.MatchString(name) {
		panic(fmt.Sprintf("funcapp: invalid app name %q", name))
	}
	return &App{
		Name:        name,
		RoutePrefix: "api",
		Logger:      NewLogger(os.Stdout, os.Stderr),
		byName:      map[string]*Function{},
	}
}

// HTTPTrigger declares an httpTrigger binding.
type HTTPTrigger struct {
	Methods   []string // e.g. {"GET"}; empty means every method
	Route     string   // function.json syntax: "subscriptions/customers/{customerId}"; empty means the function name
	AuthLevel string   // anonymous | function | admin; empty means "function" (the host's default)
	// Doc describes the operation for the app's OpenAPI document (package openapi); not in
	// function.json.
	Doc *Operation
}

// Operation documents an HTTP function for OpenAPI. Bodies are described by Go values whose
// JSON the function writes or reads: a field without omitempty is required.
type Operation struct {
	Summary  string
	Request  any      // a value of the JSON request body's type; nil: no body
	Response any      // a value of the JSON success body's type; nil: no body
	Success  []int    // the success statuses, the usual one first; nil means {200}
	Errors   []int    // the statuses of the problems (application/problem+json) it may answer
	Query    []string // optional query parameters
	Headers  []string // optional request headers it reads, e.g. Idempotency-Key
	// Security is how the function itself authenticates callers beyond the host's key:
	// "bearer" (an API key as a bearer token) or "cookie" (a session cookie), or "".
	Security string
	// Content is the success body's media type when it is not JSON (e.g. "text/html").
	Content string
}

// ServiceBusTrigger declares a serviceBusTrigger binding on a topic subscription or a queue.
type ServiceBusTrigger struct {
	Topic        string
	Subscription string
	Queue        string // instead of Topic + Subscription
	Connection   string // app-setting name of the connection string; empty means "ServiceBusConnection"
	Sessions     bool   // isSessionsEnabled
	// Filter is the subscription's SQL rule (e.g. "type IN ('a', 'b')"); empty means every
	// message. It is topology, not function.json: the broker applies it (see package topology).
	Filter string
	// Types are the event types Filter selects ({"*"} for every type), for the tools that
	// address messages to a subscription (a replay takes only the types it wants).
	Types []string
}

// TimerTrigger declares a timerTrigger binding.
type TimerTrigger struct {
	Schedule     string // 6-field NCRONTAB, a TimeSpan ("00:05:00") or "%SettingName%"
	RunOnStartup bool
	// NoMonitor turns off the schedule monitor; with it on (the default) a run missed while the
	// app was down is noticed when it comes back (TimerInfo.IsPastDue).
	NoMonitor bool
}

// MessageHandler handles one Service Bus message. An error makes the host abandon the message
// (redelivered, dead-lettered by the broker after MaxDeliveryCount); Poison(...) sends it to the
// app's dead-letter queue at once.
type MessageHandler func(ctx context.Context, m *Message) error

// TimerHandler runs one timer tick. A failed run is logged and not retried.
type TimerHandler func(ctx context.Context, t TimerInfo) error

// TimerInfo describes a timer tick.
type TimerInfo struct {
	IsPastDue   bool      // the run is late (the app was down or busy at its time)
	Last        time.Time // previous scheduled run; zero without monitor status
	Next        time.Time // next scheduled run; zero without monitor status
	LastUpdated time.Time
}

// Trigger kinds, as function.json names them.
const (
	KindHTTP       = "httpTrigger"
	KindServiceBus = "serviceBusTrigger"
	KindTimer      = "timerTrigger"
)

// Function is one registered function.
type Function struct {
	Name string
	App  string // the bounded context that registered it; its dead-letter queue is App+"-deadletters"
	Kind string // KindHTTP, KindServiceBus or KindTimer

	HTTP       *HTTPTrigger
	ServiceBus *ServiceBusTrigger
	Timer      *TimerTrigger

	httpHandler    http.Handler
	messageHandler MessageHandler
	timerHandler   TimerHandler
}

// Binding names used in function.json and in the host's payloads.
const (
	bindingRequest    = "req"
	bindingResponse   = "res"
	bindingMessage    = "message"
	bindingTimer      = "timer"
	bindingDeadLetter = "deadLetter"
)

// DefaultServiceBusConnection is the app setting holding the Service Bus connection string.
const DefaultServiceBusConnection = "ServiceBusConnection"

// The host accepts function names made of letters, digits, '_' and '-', starting with a letter.
var validName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,126}$`)

// HTTP registers an HTTP endpoint. The handler reads route parameters with r.PathValue.
func (a *App) HTTP(name string, t HTTPTrigger, h http.Handler) {
	if h == nil {
		panic("funcapp: nil handler for " + name)
	}
	if t.AuthLevel == "" {
		t.AuthLevel = "function"
	}
	switch t.AuthLevel {
	case "anonymous", "function", "admin":
	default:
		panic(fmt.Sprintf("funcapp: %s: invalid authLevel %q", name, t.AuthLevel))
	}
	t.Methods = append([]string(nil), t.Methods...)
	for i, m := range t.Methods {
		t.Methods[i] = strings.ToUpper(m)
	}
	if _, err := parseRoute(a.routeOf(name, t)); err != nil {
		panic(fmt.Sprintf("funcapp: %s: %v", name, err))
	}
	a.add(&Function{Name: name, App: a.Name, Kind: KindHTTP, HTTP: &t, httpHandler: h})
}

// ServiceBus registers a receptor for messages of a topic subscription or a queue.
func (a *App) ServiceBus(name string, t ServiceBusTrigger, h MessageHandler) {
	if h == nil {
		panic("funcapp: nil handler for " + name)
	}
	if (t.Queue == "") == (t.Topic == "") || (t.Topic != "" && t.Subscription == "") {
		panic(fmt.Sprintf("funcapp: %s: set either Queue or Topic and Subscription", name))
	}
	if t.Connection == "" {
		t.Connection = DefaultServiceBusConnection
	}
	a.add(&Function{Name: name, App: a.Name, Kind: KindServiceBus, ServiceBus: &t, messageHandler: h})
}

// Timer registers a scheduled task.
func (a *App) Timer(name string, t TimerTrigger, h TimerHandler) {
	if h == nil {
		panic("funcapp: nil handler for " + name)
	}
	if strings.TrimSpace(t.Schedule) == "" {
		panic(fmt.Sprintf("funcapp: %s: empty schedule", name))
	}
	a.add(&Function{Name: name, App: a.Name, Kind: KindTimer, Timer: &t, timerHandler: h})
}

// Include adds every function of other (another bounded context) to a, for an app that hosts
// several contexts. Each function keeps its own context's dead-letter queue.
func (a *App) Include(other *App) {
	for _, f := range other.functions {
		a.add(f)
	}
	for _, v := range other.views {
		a.AddView(v)
	}
}

// Functions lists the registered functions in registration order.
func (a *App) Functions() []Function {
	out := make([]Function, len(a.functions))
	for i, f := range a.functions {
		out[i] = *f
	}
	return out
}

func (a *App) add(f *Function) {
	if !validName.MatchString(f.Name) {
		panic(fmt.Sprintf("funcapp: invalid function name %q", f.Name))
	}
	for existing := range a.byName {
		// Function folders and names are case-insensitive to the host.
		if strings.EqualFold(existing, f.Name) {
			panic(fmt.Sprintf("funcapp: function %q registered twice", f.Name))
		}
	}
	if a.byName == nil {
		a.byName = map[string]*Function{}
	}
	a.byName[f.Name] = f
	a.functions = append(a.functions, f)
}

func (a *App) routeOf(name string, t HTTPTrigger) string {
	if t.Route == "" {
		return name
	}
	return t.Route
}

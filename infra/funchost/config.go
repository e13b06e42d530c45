package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// Options tune Load. The zero value reads no local.settings.json and uses the
// process environment.
type Options struct {
	// SettingsFile is the path of local.settings.json; empty means none.
	SettingsFile string
	// Env is the environment overlaid on the settings; nil means os.Environ().
	Env []string
	// HostID names the app in the storage account (timer status, locks);
	// empty means the AzureFunctionsWebHost__hostid setting, else the app
	// folder's name.
	HostID string
	// Logger receives invocation and handler logs; nil means slog.Default().
	Logger *slog.Logger
	// HandlerOutput receives the handler's stdout and stderr; nil means the
	// Logger, one record per line.
	HandlerOutput io.Writer
	// TimerLockPoll is how often a host without a timer's singleton lock
	// tries to take it over; zero means 15 s.
	TimerLockPoll time.Duration
	// StartupTimeout bounds the wait for the handler's first answer on GET /;
	// zero means 30 s, the host's HttpWorkerOptions.InitializationTimeout.
	StartupTimeout time.Duration
}

// DefinitionError is a bad or unsupported setting in host.json or a
// function.json, named by file and field.
type DefinitionError struct {
	File  string // relative to the app folder, e.g. "ProcessUsage/function.json"
	Field string // e.g. "bindings[0].topicName"
	Msg   string
}

func (e *DefinitionError) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Field + ": " + e.Msg
}

// HostConfig is what the host uses from host.json.
type HostConfig struct {
	Executable                  string   // absolute path of the handler (or a program found on PATH)
	Arguments                   []string // %Setting% expanded
	WorkingDir                  string   // absolute
	EnableForwardingHTTPRequest bool
	RoutePrefix                 string        // without slashes; may be empty
	FunctionTimeout             time.Duration // 0 means none
	// Consumption is true when WEBSITE_SKU is "Dynamic": the host then
	// defaults functionTimeout to 5 minutes and caps it at 10.
	Consumption bool
	ServiceBus  ServiceBusOptions
	// ExtensionBundle is host.json extensionBundle; without one the host
	// registers only its built-in bindings (HTTP and timer).
	ExtensionBundle *ExtensionBundle
	// Retry is host.json retry, the default policy of every function.
	Retry *RetryPolicy
	// TimeZone is where NCRONTAB schedules are evaluated: WEBSITE_TIME_ZONE,
	// else TZ, else UTC.
	TimeZone *time.Location
}

// ExtensionBundle is host.json extensionBundle.
type ExtensionBundle struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// ServiceBusOptions are host.json extensions.serviceBus.
type ServiceBusOptions struct {
	MaxConcurrentCalls         int
	PrefetchCount              int
	MaxAutoLockRenewalDuration time.Duration
}

// Binding is one entry of a function.json "bindings" array, with %Setting%
// expressions resolved.
type Binding struct {
	Type      string `json:"type"`
	Direction string `json:"direction"`
	Name      string `json:"name"`
	DataType  string `json:"dataType"`

	// serviceBusTrigger
	TopicName            string `json:"topicName"`
	SubscriptionName     string `json:"subscriptionName"`
	QueueName            string `json:"queueName"`
	Connection           string `json:"connection"`
	IsSessionsEnabled    bool   `json:"isSessionsEnabled"`
	Cardinality          string `json:"cardinality"`
	AutoCompleteMessages *bool  `json:"autoCompleteMessages"`

	// timerTrigger
	Schedule     string `json:"schedule"`
	RunOnStartup bool   `json:"runOnStartup"`
	UseMonitor   *bool  `json:"useMonitor"`

	// httpTrigger
	AuthLevel string   `json:"authLevel"`
	Methods   []string `json:"methods"`
	Route     string   `json:"route"`
}

// Function is one function of the app.
type Function struct {
	Name     string
	File     string // "Name/function.json"
	Bindings []Binding
	Trigger  *Binding

	// ServiceBusConnection is the resolved connection string (serviceBusTrigger).
	ServiceBusConnection string
	// ServiceBusOutputs are the serviceBus output bindings.
	ServiceBusOutputs []ServiceBusOutput
	// Schedule is the parsed timer schedule (timerTrigger).
	Schedule Schedule
	// UseMonitor says whether the timer's status is kept in storage.
	UseMonitor bool
	// Route is the parsed route (httpTrigger).
	Route *Route
	// HTTPOutput is the name of the http output binding ("res", "$return"), if any.
	HTTPOutput string
	// Forwarded is true when the HTTP request is proxied as is to the handler.
	Forwarded bool
	// Retry is the retry policy the host applies (function.json retry, else
	// host.json retry); only timer triggers support one.
	Retry *RetryPolicy
}

// App is a loaded Function App folder.
type App struct {
	Dir       string
	Name      string
	HostID    string
	Settings  Settings
	Config    HostConfig
	Functions []*Function

	opt Options
	log *slog.Logger
}

// Load reads appDir/host.json and every appDir/*/function.json. All bad or
// unsupported definitions are reported together as DefinitionErrors.
func Load(appDir string, opt Options) (*App, error) {
	dir, err := filepath.Abs(appDir)
	if err != nil {
		return nil, err
	}
	env := opt.Env
	if env == nil {
		env = os.Environ()
	}
	settings, err := loadSettings(opt.SettingsFile, env)
	if err != nil {
		return nil, err
	}
	app := &App{Dir: dir, Name: filepath.Base(dir), Settings: settings, opt: opt, log: opt.Logger}
	if app.log == nil {
		app.log = slog.Default()
	}
	app.HostID = hostID(opt.HostID, settings, app.Name)

	var errs []error
	app.Config, errs = loadHostJSON(dir, settings)

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rel := e.Name() + "/function.json"
		raw, err := os.ReadFile(filepath.Join(dir, e.Name(), "function.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		fn, ferrs := parseFunction(e.Name(), rel, raw, app.Config, settings)
		errs = append(errs, ferrs...)
		if fn != nil && !disabled(fn, settings) {
			app.Functions = append(app.Functions, fn)
		}
	}
	for _, fn := range app.Functions {
		if fn.Retry == nil {
			fn.Retry = app.Config.Retry
		}
		if fn.Retry != nil && !strings.EqualFold(fn.Trigger.Type, "timerTrigger") {
			// Only trigger bindings marked [SupportsRetry] get the policy
			// (azure-webjobs-sdk SupportsRetryAttribute); here that is the
			// timer. Service Bus retries through redelivery instead.
			app.log.Warn("retry policy not applied: "+fn.Trigger.Type+" does not support retry policies (only timerTrigger does here)",
				"app", app.Name, "function", fn.Name)
			fn.Retry = nil
		}
		if strings.EqualFold(fn.Trigger.Type, "timerTrigger") {
			if _, err := storageConnection(settings); err != nil {
				errs = append(errs, &DefinitionError{File: "local.settings.json", Field: "Values.AzureWebJobsStorage",
					Msg: "required by timerTrigger " + fn.File + " (schedule status and singleton lock): " + err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(app.Functions) == 0 {
		// As the real host: it runs, and says so.
		app.log.Warn("No job functions found: no function.json one folder below host.json", "app", dir)
	}
	return app, nil
}

var hostIDChars = regexp.MustCompile(`[^a-z0-9-]`)

// hostID follows the real host's rules for an explicit id (AzureFunctionsWebHost__hostid):
// lower case, at most 32 characters, letters, digits and dashes.
func hostID(explicit string, s Settings, appName string) string {
	id := explicit
	if id == "" {
		id, _ = s.Lookup("AzureFunctionsWebHost__hostid")
	}
	if id == "" {
		id = appName
	}
	id = hostIDChars.ReplaceAllString(strings.ToLower(id), "-")
	id = strings.Trim(id, "-")
	if len(id) > 32 {
		id = strings.TrimRight(id[:32], "-")
	}
	if id == "" {
		id = "funchost"
	}
	return id
}

// disabled honours "disabled": true (read in parseFunction) and the app
// settings AzureWebJobs.<Name>.Disabled and, because Linux environment
// variables cannot hold dots, AzureWebJobs_<Name>_Disabled
// (FunctionIndexer.IsDisabled in azure-webjobs-sdk).
func disabled(fn *Function, s Settings) bool {
	return s.Enabled("AzureWebJobs."+fn.Name+".Disabled") || s.Enabled("AzureWebJobs_"+fn.Name+"_Disabled")
}

// Function timeouts as ScriptJobHostOptionsSetup sets them: Consumption
// (WEBSITE_SKU=Dynamic) defaults to 5 minutes and allows at most 10; every
// other plan (ours: Linux App Service B1..P1v3 or Elastic Premium EP1)
// defaults to 30 minutes and takes -1 for no timeout. At least 1 second.
const (
	minFunctionTimeout         = time.Second
	defaultFunctionTimeout     = 30 * time.Minute
	consumptionFunctionTimeout = 5 * time.Minute
	consumptionMaxTimeout      = 10 * time.Minute
)

func loadHostJSON(dir string, s Settings) (HostConfig, []error) {
	const file = "host.json"
	sku, _ := s.Lookup("WEBSITE_SKU")
	cfg := HostConfig{
		RoutePrefix:     "api",
		Consumption:     strings.EqualFold(sku, "Dynamic"),
		FunctionTimeout: defaultFunctionTimeout,
		ServiceBus: ServiceBusOptions{
			// ServiceBusOptions: 16 times Utility.GetProcessorCount().
			MaxConcurrentCalls:         16 * runtime.NumCPU(),
			MaxAutoLockRenewalDuration: 5 * time.Minute,
		},
		TimeZone: time.UTC,
	}
	if cfg.Consumption {
		cfg.FunctionTimeout = consumptionFunctionTimeout
	}
	bad := func(field, format string, a ...any) error {
		return &DefinitionError{File: file, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	var errs []error
	if loc, err := scheduleTimeZone(s); err != nil {
		errs = append(errs, err)
	} else {
		cfg.TimeZone = loc
	}
	raw, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return cfg, []error{&DefinitionError{File: file, Msg: err.Error()}}
	}
	var h struct {
		Version         string           `json:"version"`
		FunctionTimeout *string          `json:"functionTimeout"`
		ExtensionBundle *ExtensionBundle `json:"extensionBundle"`
		Retry           json.RawMessage  `json:"retry"`
		Extensions      struct {
			HTTP *struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
			ServiceBus *struct {
				MaxConcurrentCalls         *int    `json:"maxConcurrentCalls"`
				PrefetchCount              *int    `json:"prefetchCount"`
				MaxAutoLockRenewalDuration *string `json:"maxAutoLockRenewalDuration"`
				AutoCompleteMessages       *bool   `json:"autoCompleteMessages"`
				// Extension 4.x and older nest these.
				MessageHandlerOptions *struct {
					MaxConcurrentCalls   *int    `json:"maxConcurrentCalls"`
					MaxAutoRenewDuration *string `json:"maxAutoRenewDuration"`
					AutoComplete         *bool   `json:"autoComplete"`
				} `json:"messageHandlerOptions"`
			} `json:"serviceBus"`
		} `json:"extensions"`
		CustomHandler *struct {
			Description *struct {
				DefaultExecutablePath string   `json:"defaultExecutablePath"`
				WorkingDirectory      string   `json:"workingDirectory"`
				Arguments             []string `json:"arguments"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return cfg, []error{bad("", "%v", err)}
	}
	if h.Version != "2.0" {
		errs = append(errs, bad("version", "must be \"2.0\", got %q", h.Version))
	}
	if b := h.ExtensionBundle; b != nil {
		switch {
		case b.ID == "" || b.Version == "":
			errs = append(errs, bad("extensionBundle", "needs both id and version"))
		case b.ID != "Microsoft.Azure.Functions.ExtensionBundle" && b.ID != "Microsoft.Azure.Functions.ExtensionBundle.Preview":
			errs = append(errs, bad("extensionBundle.id", "the local host implements the bindings of Microsoft.Azure.Functions.ExtensionBundle only, got %q", b.ID))
		default:
			cfg.ExtensionBundle = b
		}
	}
	if len(h.Retry) > 0 {
		p, err := parseRetry(h.Retry)
		if err != nil {
			errs = append(errs, bad("retry", "%v", err))
		}
		cfg.Retry = p
	}
	if h.FunctionTimeout != nil {
		d, err := ParseTimeSpan(*h.FunctionTimeout)
		maxTimeout := time.Duration(1<<63 - 1)
		if cfg.Consumption {
			maxTimeout = consumptionMaxTimeout
		}
		switch {
		case err != nil:
			errs = append(errs, bad("functionTimeout", "not a positive TimeSpan or -1: %q", *h.FunctionTimeout))
		case d == -24*time.Hour && !cfg.Consumption:
			// "-1" parses as minus one day: no timeout, outside Consumption.
			cfg.FunctionTimeout = 0
		case d < minFunctionTimeout || d > maxTimeout:
			// ScriptJobHostOptionsSetup.ValidateTimeoutValue's message.
			errs = append(errs, bad("functionTimeout", "FunctionTimeout must be greater than %s and less than %s.",
				formatTimeSpan(minFunctionTimeout), formatTimeSpan(maxTimeout)))
		default:
			cfg.FunctionTimeout = d
		}
	}
	if x := h.Extensions.HTTP; x != nil && x.RoutePrefix != nil {
		cfg.RoutePrefix = strings.Trim(*x.RoutePrefix, "/")
	}
	if x := h.Extensions.ServiceBus; x != nil {
		if old := x.MessageHandlerOptions; old != nil {
			if x.MaxConcurrentCalls == nil {
				x.MaxConcurrentCalls = old.MaxConcurrentCalls
			}
			if x.MaxAutoLockRenewalDuration == nil {
				x.MaxAutoLockRenewalDuration = old.MaxAutoRenewDuration
			}
			if x.AutoCompleteMessages == nil {
				x.AutoCompleteMessages = old.AutoComplete
			}
		}
		if x.MaxConcurrentCalls != nil {
			if *x.MaxConcurrentCalls < 1 {
				errs = append(errs, bad("extensions.serviceBus.maxConcurrentCalls", "must be at least 1"))
			} else {
				cfg.ServiceBus.MaxConcurrentCalls = *x.MaxConcurrentCalls
			}
		}
		if x.PrefetchCount != nil {
			if *x.PrefetchCount < 0 {
				errs = append(errs, bad("extensions.serviceBus.prefetchCount", "must not be negative"))
			} else {
				cfg.ServiceBus.PrefetchCount = *x.PrefetchCount
			}
		}
		if x.MaxAutoLockRenewalDuration != nil {
			d, err := ParseTimeSpan(*x.MaxAutoLockRenewalDuration)
			if err != nil || d < 0 {
				errs = append(errs, bad("extensions.serviceBus.maxAutoLockRenewalDuration", "not a TimeSpan: %q", *x.MaxAutoLockRenewalDuration))
			} else {
				cfg.ServiceBus.MaxAutoLockRenewalDuration = d
			}
		}
		if x.AutoCompleteMessages != nil && !*x.AutoCompleteMessages {
			errs = append(errs, bad("extensions.serviceBus.autoCompleteMessages", "%s", errAutoCompleteOff))
		}
	}
	ch := h.CustomHandler
	if ch == nil || ch.Description == nil || ch.Description.DefaultExecutablePath == "" {
		errs = append(errs, bad("customHandler.description.defaultExecutablePath", "required"))
		return cfg, errs
	}
	cfg.EnableForwardingHTTPRequest = ch.EnableForwardingHTTPRequest
	cfg.WorkingDir = dir
	if wd := ch.Description.WorkingDirectory; wd != "" {
		if filepath.IsAbs(wd) {
			cfg.WorkingDir = wd
		} else {
			cfg.WorkingDir = filepath.Join(dir, wd)
		}
	}
	exe, err := resolveExecutable(dir, ch.Description.DefaultExecutablePath)
	if err != nil {
		errs = append(errs, bad("customHandler.description.defaultExecutablePath", "%v", err))
	}
	cfg.Executable = exe
	for i, a := range ch.Description.Arguments {
		v, err := s.Resolve(a)
		if err != nil {
			errs = append(errs, bad(fmt.Sprintf("customHandler.description.arguments[%d]", i), "%v", err))
		}
		cfg.Arguments = append(cfg.Arguments, v)
	}
	return cfg, errs
}

// errAutoCompleteOff explains why autoCompleteMessages false is refused.
const errAutoCompleteOff = "false cannot work with a custom handler: only in-process and isolated .NET functions get " +
	"ServiceBusMessageActions to complete, abandon or dead-letter a message themselves, so with auto-completion off " +
	"every message stays locked until its lock expires and comes back; remove the setting (true is the default)"

// resolveExecutable finds defaultExecutablePath the way HttpWorkerDescription.
// ApplyDefaultsAndValidate does: a relative path is taken against the worker
// directory, which is the app root (not workingDirectory, which only becomes
// the process's current directory); if no such file exists the name is left
// for the system to find, which for Process.Start on Linux means PATH.
func resolveExecutable(appDir, exe string) (string, error) {
	path := exe
	if !filepath.IsAbs(exe) {
		path = filepath.Join(appDir, exe)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !strings.ContainsRune(exe, '/') {
			if found, lerr := exec.LookPath(exe); lerr == nil {
				return found, nil
			}
		}
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return path, fmt.Errorf("%v (a relative path is taken from the app root %s, not from workingDirectory)", err, appDir)
	case st.IsDir() || st.Mode()&0o111 == 0:
		return path, fmt.Errorf("%s is not an executable file", path)
	}
	return path, nil
}

// scheduleTimeZone is the zone timers run in. The timer extension evaluates
// schedules in the process's local time zone, which the platform sets from
// WEBSITE_TIME_ZONE (on Linux a tz database name such as Europe/Berlin) or TZ;
// without either it is UTC.
func scheduleTimeZone(s Settings) (*time.Location, error) {
	for _, name := range []string{"WEBSITE_TIME_ZONE", "TZ"} {
		v, ok := s.Lookup(name)
		v = strings.TrimPrefix(strings.TrimSpace(v), ":")
		if !ok || v == "" {
			continue
		}
		var loc *time.Location
		var err error
		if strings.HasPrefix(v, "/") {
			var data []byte
			if data, err = os.ReadFile(v); err == nil {
				loc, err = time.LoadLocationFromTZData(v, data)
			}
		} else {
			loc, err = time.LoadLocation(v)
		}
		if err != nil {
			return nil, &DefinitionError{File: "local.settings.json", Field: "Values." + name,
				Msg: fmt.Sprintf("unknown time zone %q (on Linux, a tz database name such as Europe/Berlin): %v", v, err)}
		}
		return loc, nil
	}
	return time.UTC, nil
}

func parseFunction(name, file string, raw []byte, cfg HostConfig, s Settings) (*Function, []error) {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, &DefinitionError{File: file, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	var def struct {
		Disabled bool              `json:"disabled"`
		Bindings []json.RawMessage `json:"bindings"`
		Retry    json.RawMessage   `json:"retry"`
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		bad("", "%v", err)
		return nil, errs
	}
	var retry *RetryPolicy
	if len(def.Retry) > 0 {
		var err error
		if retry, err = parseRetry(def.Retry); err != nil {
			bad("retry", "%v", err)
		}
	}
	if def.Disabled {
		return nil, nil
	}
	fn := &Function{Name: name, File: file, Retry: retry}
	// Binding types that only an extension bundle brings, in the order the
	// host lists them: inputs (the trigger among them), then outputs.
	var unregisteredIn, unregisteredOut []string
	if len(def.Bindings) == 0 {
		bad("bindings", "at least one binding (the trigger) is required")
		return nil, errs
	}
	names := map[string]bool{}
	for i, rb := range def.Bindings {
		field := fmt.Sprintf("bindings[%d]", i)
		var b Binding
		if err := json.Unmarshal(rb, &b); err != nil {
			bad(field, "%v", err)
			continue
		}
		if b.Name == "" {
			bad(field+".name", "required")
		} else if names[strings.ToLower(b.Name)] {
			bad(field+".name", "duplicate binding name %q", b.Name)
		}
		names[strings.ToLower(b.Name)] = true
		dir := strings.ToLower(b.Direction)
		typ := strings.ToLower(b.Type)
		isTrigger := strings.HasSuffix(typ, "trigger")
		switch {
		case b.Type == "":
			bad(field+".type", "required")
			continue
		case isTrigger && dir != "in":
			bad(field+".direction", "a trigger must be \"in\", got %q", b.Direction)
		case isTrigger && fn.Trigger != nil:
			bad(field+".type", "a function has exactly one trigger; %s already has one", name)
		}
		if dt := strings.ToLower(b.DataType); dt != "" && dt != "binary" && dt != "string" && dt != "stream" {
			bad(field+".dataType", "must be binary, string or stream, got %q", b.DataType)
		}
		unresolved := false
		for _, p := range []struct {
			name string
			v    *string
		}{{"topicName", &b.TopicName}, {"subscriptionName", &b.SubscriptionName}, {"queueName", &b.QueueName}, {"schedule", &b.Schedule}} {
			v, err := s.Resolve(*p.v)
			if err != nil {
				bad(field+"."+p.name, "%v (local.settings.json Values or environment)", err)
				unresolved = true
			}
			*p.v = v
		}
		if unresolved {
			continue // the checks below would only repeat the missing setting
		}
		if (typ == "servicebustrigger" || typ == "servicebus") && cfg.ExtensionBundle == nil {
			// Without extensionBundle the host registers only its built-in
			// bindings (ScriptHostBuilderExtensions.AddScriptHostCore: HTTP,
			// timers, manual, warmup), so Service Bus bindings do not resolve.
			if dir == "out" {
				unregisteredOut = append(unregisteredOut, b.Type)
			} else {
				unregisteredIn = append(unregisteredIn, b.Type)
			}
			fn.Bindings = append(fn.Bindings, b)
			if isTrigger && fn.Trigger == nil {
				fn.Trigger = &fn.Bindings[len(fn.Bindings)-1]
			}
			continue
		}
		switch typ {
		case "servicebustrigger":
			validateServiceBusTrigger(fn, &b, field, s, bad)
		case "timertrigger":
			validateTimerTrigger(fn, &b, field, cfg.TimeZone, bad)
		case "httptrigger":
			validateHTTPTrigger(fn, &b, field, cfg, bad)
		case "http":
			if dir != "out" {
				bad(field+".direction", "the http binding is an output and must be \"out\"")
			}
			fn.HTTPOutput = b.Name
		case "servicebus":
			validateServiceBusOutput(fn, &b, field, s, bad)
		default:
			bad(field+".type", "binding type %q is not supported by the local host (supported: serviceBusTrigger, timerTrigger, httpTrigger, http, serviceBus)", b.Type)
		}
		fn.Bindings = append(fn.Bindings, b)
		if isTrigger && fn.Trigger == nil {
			fn.Trigger = &fn.Bindings[len(fn.Bindings)-1]
		}
	}
	if unregistered := distinct(append(unregisteredIn, unregisteredOut...)); len(unregistered) > 0 {
		// FunctionDescriptorProvider.CreateBindingError, word for word.
		bad("bindings", "The binding type(s) '%s' are not registered. Please ensure the type is correct and the binding extension is installed. "+
			"(host.json has no extensionBundle; add \"extensionBundle\": {\"id\": \"Microsoft.Azure.Functions.ExtensionBundle\", \"version\": \"[4.*, 5.0.0)\"})",
			strings.Join(unregistered, ", "))
	}
	if fn.Trigger == nil && len(errs) == 0 {
		bad("bindings", "no trigger binding")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// Bindings may have moved when the slice grew; point at the final copy.
	for i := range fn.Bindings {
		if strings.HasSuffix(strings.ToLower(fn.Bindings[i].Type), "trigger") {
			fn.Trigger = &fn.Bindings[i]
		}
	}
	if strings.EqualFold(fn.Trigger.Type, "httpTrigger") {
		fn.Forwarded = cfg.EnableForwardingHTTPRequest && len(fn.Bindings) == 2 && fn.HTTPOutput != ""
	} else if fn.HTTPOutput != "" {
		errs = append(errs, &DefinitionError{File: file, Field: "bindings", Msg: "an http output needs an httpTrigger"})
		return nil, errs
	}
	return fn, nil
}

type badFunc func(field, format string, a ...any)

func validateServiceBusTrigger(fn *Function, b *Binding, field string, s Settings, bad badFunc) {
	switch {
	case b.QueueName != "" && (b.TopicName != "" || b.SubscriptionName != ""):
		bad(field+".queueName", "give either queueName or topicName with subscriptionName, not both")
	case b.QueueName == "" && b.TopicName == "":
		bad(field+".topicName", "required for serviceBusTrigger (or queueName)")
	case b.TopicName != "" && b.SubscriptionName == "":
		bad(field+".subscriptionName", "required with topicName")
	}
	if b.IsSessionsEnabled {
		bad(field+".isSessionsEnabled", "session-enabled triggers are not supported by the local host")
	}
	if c := strings.ToLower(b.Cardinality); c != "" && c != "one" {
		bad(field+".cardinality", "only \"one\" is supported by the local host, got %q", b.Cardinality)
	}
	if b.AutoCompleteMessages != nil && !*b.AutoCompleteMessages {
		bad(field+".autoCompleteMessages", "%s", errAutoCompleteOff)
	}
	fn.ServiceBusConnection = serviceBusConnection(b, field, s, bad)
}

// serviceBusConnection resolves a serviceBus binding's connection setting.
func serviceBusConnection(b *Binding, field string, s Settings, bad badFunc) string {
	v, err := resolveServiceBusConnection(b.Connection, s)
	if err != nil {
		bad(field+".connection", "%v", err)
	}
	return v
}

func distinct(v []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range v {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// ServiceBusOutput is a serviceBus output binding: what the handler returns
// under Name is sent to Entity when the invocation succeeds.
type ServiceBusOutput struct {
	Name       string
	Entity     string // queue or topic
	Connection string // resolved connection string
	Binary     bool   // dataType binary: a string is not tried as base64
}

func validateServiceBusOutput(fn *Function, b *Binding, field string, s Settings, bad badFunc) {
	if !strings.EqualFold(b.Direction, "out") {
		bad(field+".direction", "the serviceBus binding is an output and must be \"out\"")
	}
	entity := b.QueueName
	switch {
	case b.QueueName != "" && b.TopicName != "":
		bad(field+".queueName", "give either queueName or topicName, not both")
	case b.QueueName == "" && b.TopicName == "":
		bad(field+".queueName", "required for a serviceBus output (or topicName)")
	case b.TopicName != "":
		entity = b.TopicName
	}
	v := serviceBusConnection(b, field, s, bad)
	fn.ServiceBusOutputs = append(fn.ServiceBusOutputs, ServiceBusOutput{Name: b.Name, Entity: entity, Connection: v, Binary: strings.EqualFold(b.DataType, "binary")})
}

func validateTimerTrigger(fn *Function, b *Binding, field string, loc *time.Location, bad badFunc) {
	if b.Schedule == "" {
		bad(field+".schedule", "required for timerTrigger")
		return
	}
	sch, err := ParseScheduleIn(b.Schedule, loc)
	if err != nil {
		bad(field+".schedule", "%v", err)
		return
	}
	fn.Schedule = sch
	if b.UseMonitor != nil {
		fn.UseMonitor = *b.UseMonitor
	} else {
		// The timer extension monitors schedules whose interval is at least a minute.
		fn.UseMonitor = sch.minInterval() >= time.Minute
	}
}

func validateHTTPTrigger(fn *Function, b *Binding, field string, cfg HostConfig, bad badFunc) {
	if b.AuthLevel == "" {
		// HttpTriggerBindingMetadata defaults AuthLevel to Function.
		b.AuthLevel = "function"
	}
	switch strings.ToLower(b.AuthLevel) {
	case "anonymous", "function", "admin":
	default:
		bad(field+".authLevel", "must be anonymous, function or admin, got %q", b.AuthLevel)
	}
	for i, m := range b.Methods {
		switch strings.ToUpper(m) {
		case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE":
		default:
			bad(fmt.Sprintf("%s.methods[%d]", field, i), "unknown HTTP method %q", m)
		}
	}
	tmpl := b.Route
	if tmpl == "" {
		tmpl = fn.Name
	}
	r, err := parseRoute(cfg.RoutePrefix, tmpl)
	if err != nil {
		bad(field+".route", "%v", err)
		return
	}
	fn.Route = r
}

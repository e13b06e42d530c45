package funchost_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meterline/infra/funchost"
)

const sbTrigger = `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg",
  "topicName":"%TopicSetting%","subscriptionName":"usage-processor","connection":"ServiceBusConnection"}]}`

func TestLoadReadsHostAndFunctions(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "true"), map[string]string{
		"ProcessUsage":   sbTrigger,
		"Tick":           `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"%TickSchedule%","runOnStartup":true}]}`,
		"GetCustomer":    `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["get"],"route":"customers/{id:int}","authLevel":"function"},{"type":"http","direction":"out","name":"res"}]}`,
		"not-a-function": "", // folder without function.json is ignored
	}, map[string]string{
		"TopicSetting": "from-file", "TickSchedule": "0 */5 * * * *",
		"ServiceBusConnection": "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;",
		"AzureWebJobsStorage":  "UseDevelopmentStorage=true",
	})
	must(t, os.Remove(filepath.Join(a.Dir, "not-a-function", "function.json")))

	// The environment wins over local.settings.json, as with func start; an
	// empty environment variable does not.
	app, err := funchost.Load(a.Dir, funchost.Options{SettingsFile: a.Settings, Env: []string{"TopicSetting=from-env", "TickSchedule="}})
	must(t, err)
	if app.Config.RoutePrefix != "api" || !app.Config.EnableForwardingHTTPRequest ||
		app.Config.FunctionTimeout != 30*time.Second || app.Config.ServiceBus.MaxConcurrentCalls != 4 ||
		app.Config.ServiceBus.MaxAutoLockRenewalDuration != 5*time.Minute {
		t.Fatalf("host config: %+v", app.Config)
	}
	if app.Config.Executable != filepath.Join(a.Dir, "handler") {
		t.Fatalf("executable %q", app.Config.Executable)
	}
	fns := map[string]*funchost.Function{}
	for _, f := range app.Functions {
		fns[f.Name] = f
	}
	if len(fns) != 3 {
		t.Fatalf("functions: %v", fns)
	}
	if got := fns["ProcessUsage"].Trigger.TopicName; got != "from-env" {
		t.Errorf("topicName resolved to %q, want from-env", got)
	}
	if !strings.Contains(fns["ProcessUsage"].ServiceBusConnection, "UseDevelopmentEmulator=true") {
		t.Errorf("connection not resolved: %q", fns["ProcessUsage"].ServiceBusConnection)
	}
	if got := fns["Tick"].Schedule.String(); got != "0 */5 * * * *" || !fns["Tick"].UseMonitor {
		t.Errorf("timer schedule %q useMonitor %v", got, fns["Tick"].UseMonitor)
	}
	if fns["GetCustomer"].Route.Template != "api/customers/{id:int}" || !fns["GetCustomer"].Forwarded {
		t.Errorf("route %q forwarded %v", fns["GetCustomer"].Route.Template, fns["GetCustomer"].Forwarded)
	}
}

func TestLoadReportsBadDefinitionsByFileAndField(t *testing.T) {
	values := map[string]string{"ServiceBusConnection": "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;"}
	cases := []struct {
		name, def, want string
	}{
		{"missing topic", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","subscriptionName":"s","connection":"ServiceBusConnection"}]}`,
			"ProcessUsage/function.json: bindings[0].topicName: required for serviceBusTrigger"},
		{"missing subscription", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","topicName":"t","connection":"ServiceBusConnection"}]}`,
			"ProcessUsage/function.json: bindings[0].subscriptionName: required with topicName"},
		{"unknown connection", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"q","connection":"Nope"}]}`,
			`ProcessUsage/function.json: bindings[0].connection: Service Bus account connection string with name 'Nope' does not exist in the settings.`},
		{"unresolved setting", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"%Missing%","connection":"ServiceBusConnection"}]}`,
			`ProcessUsage/function.json: bindings[0].queueName: app setting "Missing" not found`},
		{"unsupported binding", `{"bindings":[{"type":"blobTrigger","direction":"in","name":"b","path":"x/{name}"}]}`,
			`ProcessUsage/function.json: bindings[0].type: binding type "blobTrigger" is not supported`},
		{"bad cron", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 61 * * * *"}]}`,
			`ProcessUsage/function.json: bindings[0].schedule: NCRONTAB "0 61 * * * *": minute field "61": 61 is out of range 0-59`},
		{"five-field cron", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"*/5 * * * *"}]}`,
			`bindings[0].schedule: NCRONTAB "*/5 * * * *" must have 6 fields`},
		{"bad route", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"a/{id:nope}"},{"type":"http","direction":"out","name":"res"}]}`,
			`ProcessUsage/function.json: bindings[0].route: segment "{id:nope}": unknown constraint "nope"`},
		{"bad method", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["fetch"]}]}`,
			`ProcessUsage/function.json: bindings[0].methods[0]: unknown HTTP method "fetch"`},
		{"two triggers", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"timerTrigger","direction":"in","name":"t","schedule":"00:01:00"}]}`,
			`ProcessUsage/function.json: bindings[1].type: a function has exactly one trigger`},
		{"no name", `{"bindings":[{"type":"httpTrigger","direction":"in"}]}`,
			`ProcessUsage/function.json: bindings[0].name: required`},
		{"serviceBus output without entity", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"serviceBus","direction":"out","name":"out","connection":"ServiceBusConnection"}]}`,
			`ProcessUsage/function.json: bindings[1].queueName: required for a serviceBus output (or topicName)`},
		{"retry policy", `{"retry":{"strategy":"fixedDelay","maxRetryCount":3},"bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}`,
			`ProcessUsage/function.json: retry: delayInterval is required with strategy fixedDelay`},
		{"not json", `{"bindings":[`, `ProcessUsage/function.json: unexpected end of JSON input`},
		{"timer without storage", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"00:01:00"}]}`,
			`local.settings.json: Values.AzureWebJobsStorage: required by timerTrigger ProcessUsage/function.json`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{"ProcessUsage": c.def}, values)
			_, err := funchost.Load(a.Dir, funchost.Options{SettingsFile: a.Settings, Env: []string{}})
			if err == nil {
				t.Fatal("Load accepted a bad definition")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, c.want)
			}
			var de *funchost.DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DefinitionError", err)
			}
		})
	}
}

func TestLoadReportsBadHostJSON(t *testing.T) {
	host := `{"version":"2.0","functionTimeout":"soon","extensions":{"serviceBus":{"maxConcurrentCalls":0}},
	  "customHandler":{"description":{"defaultExecutablePath":"missing-handler"}}}`
	a := newTestApp(t, host, map[string]string{"Ping": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}`}, nil)
	_, err := funchost.Load(a.Dir, funchost.Options{SettingsFile: a.Settings, Env: []string{}})
	if err == nil {
		t.Fatal("Load accepted a bad host.json")
	}
	for _, want := range []string{
		`host.json: functionTimeout: not a positive TimeSpan or -1: "soon"`,
		`host.json: extensions.serviceBus.maxConcurrentCalls: must be at least 1`,
		`host.json: customHandler.description.defaultExecutablePath:`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
}

func TestDisabledFunctionsAreSkipped(t *testing.T) {
	a := newTestApp(t, fmt.Sprintf(defaultHostJSON, "false"), map[string]string{
		"A": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}`,
		"B": `{"disabled":true,"bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}`,
		"C": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}`,
	}, map[string]string{"AzureWebJobs.C.Disabled": "true"})
	app, err := funchost.Load(a.Dir, funchost.Options{SettingsFile: a.Settings, Env: []string{}})
	must(t, err)
	if len(app.Functions) != 1 || app.Functions[0].Name != "A" {
		t.Fatalf("functions %v", app.Functions)
	}
}

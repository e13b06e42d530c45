// Package funchost is a local Azure Functions host for custom-handler apps.
//
// Azure Functions Core Tools cannot run without Internet access, so this
// package runs an assembled Function App folder (host.json, one folder per
// function with its function.json, and the handler executable) the way the
// real Functions host does: it starts the handler as a child process, probes
// it on GET /, and invokes it with POST /{FunctionName} using exactly the
// payload shapes of the real host (see shared/notes/functions-host-protocol.md).
//
// Triggers:
//   - serviceBusTrigger: peek-lock receive with azservicebus; 2xx completes,
//     anything else abandons; locks are renewed while an invocation runs.
//   - timerTrigger: NCRONTAB (6 fields) or TimeSpan schedules, runOnStartup,
//     useMonitor with the schedule status blob in AzureWebJobsStorage, and a
//     blob-lease singleton so only one host runs a timer.
//   - httpTrigger: routes /{routePrefix}/{route} on one listener for every
//     app, in forwarding mode or JSON mode.
//
// Settings come from local.settings.json Values; an environment variable with
// a non-empty value wins, as with `func start`. "UseDevelopmentStorage=true"
// means Azurite on 127.0.0.1:10000-10002 (shared/azurite holds the key).
//
// Storage names follow the real host: timer status in
// azure-webjobs-hosts/timers/<hostId>/Host.Functions.<Name>/status (Json.NET
// times), the singleton lock as a 15 s blob lease on
// azure-webjobs-hosts/locks/<hostId>/Host.Functions.<Name>.Listener. The host
// id is AzureFunctionsWebHost__hostid, else the app folder's name.
//
// Output bindings: http, and serviceBus (sent after a successful invocation:
// a JSON string as a text/plain message, an object as application/json, an
// array as several messages).
//
// Not supported, and reported by Load naming the file and field: other
// output bindings, session-enabled
// and cardinality "many" Service Bus triggers, retry policies, other trigger
// types. Messages are received one at a time (prefetch 0) whatever
// prefetchCount says; maxConcurrentCalls bounds invocations in flight per
// function. Req.Identities is always empty.
//
// Local function keys: when the setting FUNCHOST_FUNCTION_KEY (or
// FUNCHOST_MASTER_KEY) is set, httpTrigger functions with authLevel
// "function" need that key (or the master key) in the `code` query parameter
// or the `x-functions-key` header; authLevel "admin" needs the master key.
// When neither is set, keys are not checked, which is what `func start` does.
package funchost

// Package funchost is a local Azure Functions host for custom-handler apps.
//
// Azure Functions Core Tools cannot run without Internet access, so this
// package runs an assembled Function App folder (host.json, one folder per
// function with its function.json, and the handler executable) the way the
// real Functions host does: it starts the handler as a child process, probes
// it on GET /, and invokes it with POST /{FunctionName} using exactly the
// payload shapes of the real host (see shared/notes/functions-host-protocol.md).
// Where Azure is stricter than `func start`, this host is as strict as Azure:
// what works here should work there. The comments name the real host's
// source (Azure/azure-functions-host, azure-webjobs-sdk, azure-webjobs-sdk-
// extensions, the Service Bus extension in azure-sdk-for-net) for each rule.
//
// Loading (Load):
//   - host.json extensionBundle is required for Service Bus bindings: without
//     it the host registers only HTTP and timer bindings, and a function with
//     a serviceBusTrigger or serviceBus output fails with the host's own
//     "The binding type(s) '...' are not registered" message.
//   - defaultExecutablePath is taken from the app root, not from
//     workingDirectory (which is only the process's current directory); a
//     bare name that is not in the app root is looked up on PATH.
//   - functionTimeout defaults to 30 minutes and -1 means none, except on
//     Consumption (setting WEBSITE_SKU=Dynamic): 5 minutes, at most 10. Our
//     Azure plans (Linux App Service, Elastic Premium) follow the first rule;
//     the repository's host.json sets 00:05:00 anyway.
//   - maxConcurrentCalls defaults to 16 per processor; autoCompleteMessages
//     false is refused, since a custom handler cannot settle messages.
//   - A missing authLevel is "function". AzureWebJobs.<Name>.Disabled and
//     AzureWebJobs_<Name>_Disabled disable a function.
//   - Service Bus connections: the name itself, then AzureWebJobs<name> (the
//     extension's order; "ServiceBus" when the binding names none); a
//     connection string, or <name>__fullyQualifiedNamespace, which locally
//     must name the emulator on loopback (there is no Entra ID here).
//     AzureWebJobsStorage: the prefixed name first, as the WebJobs SDK does.
//   - retry (host.json or function.json) applies to timer triggers, the one
//     trigger here that supports retry policies; Metadata.RetryContext says
//     which attempt it is.
//
// Triggers:
//   - serviceBusTrigger: peek-lock receive with azservicebus; 2xx completes,
//     anything else abandons; locks are renewed while an invocation runs.
//   - timerTrigger: NCRONTAB (6 fields, evaluated in WEBSITE_TIME_ZONE or TZ,
//     else UTC) or TimeSpan schedules, runOnStartup, useMonitor with the
//     schedule status blob in AzureWebJobsStorage, past-due detection that
//     recomputes a changed schedule instead of firing, and a blob-lease
//     singleton so only one host runs a timer.
//   - httpTrigger: routes /{routePrefix}/{route} on one listener for every
//     app, in forwarding mode (the request rebuilt as the host rebuilds it:
//     repeated query keys joined with ",", a body only with Content-Length,
//     the host's User-Agent token appended; redirects not followed) or JSON
//     mode.
//
// Invocations: a non-2xx answer fails the invocation with "Response status
// code does not indicate success", and its body and Logs are dropped (set
// FUNCHOST_DEBUG_FAILED_RESPONSES=true to see them at Debug level). On
// functionTimeout the invocation fails and, after a short grace period, the
// handler process is restarted, failing every invocation in flight in it.
//
// The handler process: stdout lines are logged at Information, stderr lines
// at Error (Warning when they contain "warn"). A process that exits with a
// non-zero code, or never answers GET / within 30 s, is restarted at once; the
// third such error within 30 minutes of the previous one stops the host. Exit
// code 0 is not restarted (every invocation then fails), 200 asks for a
// restart. Invocations are sent once: those in flight when the process dies
// fail (a message is abandoned and redelivered); those that start while it
// restarts wait for the new process.
// Shutdown kills the process group.
//
// Keys: function-level HTTP functions need the function's own key, a host
// key or the master key; admin-level ones the master key; in the
// x-functions-key header, else the code query parameter; 401 otherwise. Keys
// live in AzureWebJobsStorage, container azure-webjobs-secrets, blobs
// <hostId>/host.json and <hostId>/<function>.json, generated on first start.
// FUNCHOST_MASTER_KEY and FUNCHOST_FUNCTION_KEY pin the master key and the
// default host key (tests). Host.Keys returns them.
//
// Admin API: GET /admin/host/status (master key), GET|POST /admin/host/ping
// (anonymous), POST /admin/functions/{name} with {"input": "..."} (master
// key) runs a timer or Service Bus function now.
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
// a string that is valid base64 as its bytes, any other JSON string as a
// text/plain message, an object as application/json, an array as several
// messages).
//
// Not supported, and reported by Load naming the file and field: other
// binding types, session-enabled and cardinality "many" Service Bus
// triggers. Messages are received one at a time (prefetch 0) whatever
// prefetchCount says; maxConcurrentCalls bounds invocations in flight per
// function. Req.Identities is always empty.
package funchost

// Package funcapp runs a bounded context as an Azure Functions custom handler.
//
// A context registers its functions on an App: HTTP endpoints, Service Bus receptors and
// timer tasks, each with a typed Go handler. The registrations are the one source of truth
// for the Functions host: WriteFunctionJSON writes the function.json files from them (make
// build), and Handler serves exactly what was registered, so the two cannot drift.
//
// The host speaks a small HTTP protocol to the handler process (see
// shared/notes/functions-host-protocol.md):
//
//   - GET / is the readiness probe;
//   - POST /{FunctionName} carries {"Data": {...}, "Metadata": {...}} and wants
//     {"Outputs": {...}, "Logs": [...], "ReturnValue": ...} back; a non-2xx answer fails the
//     invocation (a Service Bus message is then abandoned and redelivered);
//   - with enableForwardingHttpRequest, HTTP triggers arrive as the original request under
//     /{routePrefix}/... and are answered as plain HTTP.
//
// The host's payloads are quirky (strings serialized twice, numbers and times as strings,
// zone-less UTC times, renamed Service Bus properties); this package absorbs all of that so
// that handlers see clean Go values. A handler that knows a message can never succeed returns
// Poison(reason, err): the message goes to the context's dead-letter queue
// ("<app>-deadletters") through an output binding and is not retried.
package funcapp

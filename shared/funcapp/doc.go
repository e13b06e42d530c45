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
// Handlers find in ctx the invocation id, the correlation id (InvocationID, CorrelationID,
// Logger) and the event store's metadata: the correlation id, and for a Service Bus message its
// MessageId as causation and command id (a redelivery appends no duplicate events). An HTTP
// request gets no command id here: a command endpoint binds its Idempotency-Key to the
// operation and the request (blocks.Idempotency), so that one key can never stand for two
// different commands.
//
// With forwarding off, an HTTP function gets the request as JSON and answers through the "res"
// output; the same http.Handler serves both modes, but a response body is then carried as a
// string, so binary responses need forwarding (our host.json turns it on).
//
// The host's payloads are quirky (strings serialized twice, numbers and times as strings,
// zone-less UTC times, renamed Service Bus properties); this package absorbs all of that so
// that handlers see clean Go values. A handler that knows a message can never succeed returns
// Poison(reason, err): the message goes to the context's dead-letter queue
// ("<app>-deadletters") through an output binding and is not retried.
package funcapp

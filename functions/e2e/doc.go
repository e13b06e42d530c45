// Package e2e holds the end-to-end tests of seed 000's requirements, run the way
// the system runs locally: Azurite, the Service Bus emulator with the shipped
// config.json, and the three bounded-context apps assembled by
// functions/cmd/assemble, each on its own local Functions host (infra/funchost)
// with its own handler process. The tests speak only the public HTTP API, plus
// Service Bus and the event store where a test plays a misbehaving network
// (redelivery, duplicates, poison messages).
//
//	go test ./functions/e2e -v
//	go test ./functions/e2e -run '^$' -bench ReplicationLatency -benchtime 1x
//
// The system is started once per test binary (TestMain); tests run one after
// another on it, each with its own customers, because one of them stops and
// restarts the Subscriptions app.
package e2e

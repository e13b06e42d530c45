// Package store keeps the Journal: every event of every context, stored once under its id,
// with its envelope as received, its created_at (the envelope's time) and its received_at (the
// Journal's clock when it first stored it); read back by type and received_at range, and by
// stream in version order. The algorithm is written once, here (Journal), on a Backend of
// plain rows and blobs: package tablestore (Azure Table and Blob Storage) and package memstore
// (the in-memory twin) are the two, and both pass one conformance suite (package storetest).
//
// # Layout
//
// Five tables; every key is escaped to printable ASCII (Escape), so that key order is the
// same byte order everywhere:
//
//	table     PartitionKey          RowKey                  row
//	Events    <id>                  "event"                 the record: the commit point
//	ByType    <type>~<day>          <received_at>~<id>      a copy of the record
//	ByStream  <stream>              <version>~<id>          a copy of the record
//	InFlight  <shard 0-f>           <received_at>~<id>      an ingest under way
//	Catalog   day | type | sealed   <day> | <type> | <day>  days with rows, types, sealed days
//
// received_at is written as fixed-width UTC microseconds ("2026-03-04T05:06:07.891011Z"), so
// RowKey order is received order; events received in the same microsecond sort by id.
//
// Why so:
//   - Events: one partition per event, so ingest spreads over the whole account (no hot
//     partition at ~2,000 entities/s), and the duplicate check is a plain insert that the
//     service refuses with EntityAlreadyExists.
//   - ByType: "events of a type received between two times" is a RowKey range scan of one
//     partition per day. A partition takes ~2,000 entities/s: one type may arrive at that rate
//     (about 170 million a day) before it would need a shard digit in its PartitionKey.
//     Per-day partitions also make archival and deletion of a day a matter of whole partitions.
//   - ByStream: an aggregate's events are one partition in version order (ties by id, since
//     the Journal keeps whatever two sources claim).
//   - The copies carry the whole envelope, so that a range read is one query with no lookups:
//     storage is cheap, round trips are not.
//   - InFlight: sixteen small partitions that a timer reads in one query, to find ingests that
//     died half-way (see below) and to hold the projections' horizon back.
//   - Catalog: which days still have rows and which types exist, so that the readers and the
//     archiver never scan the big tables; and the seals of the archived days.
//
// Limits (Table Storage): an entity holds 1 MiB and a string property 64 KiB (counted in
// UTF-16). A payload over 64 KiB goes to a blob (container "journal-payloads") written before
// any row that points to it, and named after the digest of the whole event: a retry writes the
// same blob, and an event that reuses an id with other content gets another name, so it can
// never overwrite the stored payload. Keys hold 1 KiB: ids, types and streams must fit in
// MaxKeyUnits once escaped. The rows of one event are in different partitions, so no
// entity-group transaction (one partition, 100 operations) can hold them: the order of the
// writes makes them safe instead.
//
// # Writing one event (Journal.Record)
//
//  1. an InFlight mark, at the event's received_at;
//  2. the Events row, inserted: the commit point (a second insert of the id fails);
//  3. the Catalog rows of its day and type (once per process);
//  4. the ByType and ByStream rows, upserted (in parallel);
//  5. the mark deleted.
//
// A crash before 2 commits nothing; the stale mark is deleted by Repair. A crash after 2
// leaves the event stored (its id already answers "already stored") but maybe missing from
// the indexes. A retry of the same event repairs it: the receptor completes a Service Bus
// message only after step 5, so the message is redelivered, and a client that got no answer
// posts again (seed 003: ensureIs(200, 409)). The retry finds the Events row and, if the first
// attempt's mark is still there, rewrites steps 3 and 4 from the row, with the first
// received_at, and deletes the mark (a duplicate of a settled event writes nothing). Without a
// retry, Repair (run by the projection timer) does the same from the mark once it is older than
// the grace period. Until then the mark holds the projections' stable horizon at or before its
// received_at (Journal.InFlight), so index rows that appear late are never behind a
// checkpoint. The one case this leaves open is an ingest stalled longer than the grace period
// between its mark and its commit: Repair takes its mark for a dead one.
//
// # Same id again
//
// Content is compared by a digest over the whole envelope (Digest): the same content is
// "already stored" and changes nothing; other content is a *ConflictError and leaves storage as
// it was. The payload is kept in canonical JSON (domain.CanonicalJSON: no insignificant space,
// one way of escaping strings), so that an event published by an encoder that escapes "<" and
// posted by one that does not is still one content.
//
// # Archival
//
// A day's events can be copied to an append blob (Journal.AppendDay: gzip members of JSON
// Lines, MarshalRecord) and, once verified and sealed (Journal.Seal), turned into stubs
// (Journal.Archived): the ByType rows and offloaded payloads are deleted; the Events and
// ByStream rows keep the envelope without its payload, so that an id stays known forever
// and a stream still reads in version order, its archived payloads read from their day.
package store

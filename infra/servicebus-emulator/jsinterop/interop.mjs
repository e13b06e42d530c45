// The JavaScript Service Bus SDK (@azure/service-bus, pinned in package.json) against the
// emulator. jsinterop_test.go starts the emulator with the entities below and runs this script:
//
//	SB_CONNECTION=... node interop.mjs [case ...]
//
// Each case prints one JSON line {"case", "ok", "error"?, "figures"?}; the exit code is 1 when
// any case failed. With no arguments every case runs; "throughput" alone is the benchmark.
//
// Entities: queue "interop" (LockDuration PT5S, MaxDeliveryCount 10), queue "interop-sessions"
// (RequiresSession), topic "bulk" with subscription "all".
import assert from "node:assert/strict";
import { ServiceBusClient } from "@azure/service-bus";

const connection = process.env.SB_CONNECTION;
if (!connection) {
  console.error("interop.mjs: set SB_CONNECTION to the emulator's connection string");
  process.exit(2);
}
const client = new ServiceBusClient(connection);
const queue = "interop";
const short = { maxWaitTimeInMs: 300 };

// receiveExactly receives until n messages arrived (or fails after 10 s).
async function receiveExactly(receiver, n) {
  const got = [];
  const deadline = Date.now() + 10_000;
  while (got.length < n && Date.now() < deadline) {
    got.push(...(await receiver.receiveMessages(n - got.length, { maxWaitTimeInMs: 1000 })));
  }
  assert.equal(got.length, n, `received ${got.length} messages, want ${n}`);
  return got;
}

// assertEmpty fails when the receiver still gets a message.
async function assertEmpty(receiver, what) {
  const left = await receiver.receiveMessages(1, short);
  assert.equal(left.length, 0, `${what}: a message is left: ${left[0]?.messageId}`);
}

const cases = {
  async "send-receive-complete"() {
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages([1, 2, 3].map((i) => ({
      messageId: `m${i}`, body: { n: i, text: "héllo" }, contentType: "application/json",
      correlationId: "corr-1", subject: "greeting", applicationProperties: { type: "interop.Sent", n: i },
    })));
    const got = await receiveExactly(receiver, 3);
    got.sort((a, b) => a.body.n - b.body.n);
    got.forEach((m, i) => {
      assert.equal(m.messageId, `m${i + 1}`);
      assert.deepEqual(m.body, { n: i + 1, text: "héllo" });
      assert.equal(m.correlationId, "corr-1");
      assert.equal(m.subject, "greeting");
      assert.equal(m.applicationProperties.type, "interop.Sent");
      assert.equal(m.applicationProperties.n, i + 1);
      assert.equal(m.deliveryCount, 0, "the JS SDK counts earlier deliveries");
      assert.ok(m.sequenceNumber !== undefined && m.enqueuedTimeUtc instanceof Date);
    });
    for (const m of got) await receiver.completeMessage(m);
    await assertEmpty(receiver, "after complete");
    await receiver.close();
    await sender.close();
  },

  async abandon() {
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages({ messageId: "abandoned", body: "again" });
    const [first] = await receiveExactly(receiver, 1);
    await receiver.abandonMessage(first, { reason: "try later" });
    const [second] = await receiveExactly(receiver, 1);
    assert.equal(second.messageId, "abandoned");
    assert.equal(second.deliveryCount, 1, "an abandoned message comes back with one more delivery");
    assert.equal(second.applicationProperties.reason, "try later", "abandon's properties to modify");
    await receiver.completeMessage(second);
    await assertEmpty(receiver, "after abandon and complete");
    await receiver.close();
    await sender.close();
  },

  async "dead-letter"() {
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    const dlq = client.createReceiver(queue, { subQueueType: "deadLetter" });
    await sender.sendMessages({ messageId: "poison", body: "bad" });
    const [m] = await receiveExactly(receiver, 1);
    await receiver.deadLetterMessage(m, { deadLetterReason: "malformed", deadLetterErrorDescription: "not an envelope" });
    await assertEmpty(receiver, "after dead-lettering");
    const [d] = await receiveExactly(dlq, 1);
    assert.equal(d.messageId, "poison");
    assert.equal(d.body, "bad");
    assert.equal(d.deadLetterReason, "malformed");
    assert.equal(d.deadLetterErrorDescription, "not an envelope");
    await dlq.completeMessage(d);
    await assertEmpty(dlq, "dead-letter queue after complete");
    await dlq.close();
    await receiver.close();
    await sender.close();
  },

  async defer() {
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages({ messageId: "later", body: "deferred" });
    const [m] = await receiveExactly(receiver, 1);
    await receiver.deferMessage(m);
    await assertEmpty(receiver, "after defer");
    const [d] = await receiver.receiveDeferredMessages(m.sequenceNumber);
    assert.equal(d.messageId, "later");
    await receiver.completeMessage(d);
    await receiver.close();
    await sender.close();
  },

  async schedule() {
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    const at = new Date(Date.now() + 1500);
    const [kept] = await sender.scheduleMessages({ messageId: "scheduled", body: "on time" }, at);
    const [cancelled] = await sender.scheduleMessages({ messageId: "cancelled", body: "never" }, at);
    await sender.cancelScheduledMessages(cancelled);
    const peeked = await receiver.peekMessages(10);
    assert.deepEqual(peeked.map((p) => p.messageId), ["scheduled"], "peek shows the scheduled message only");
    assert.equal(peeked[0].state, "scheduled");
    assert.equal(peeked[0].sequenceNumber.toString(), kept.toString());
    await assertEmpty(receiver, "before the scheduled time");
    const [m] = await receiveExactly(receiver, 1);
    assert.equal(m.messageId, "scheduled");
    assert.ok(Date.now() >= at.getTime() - 50, "received before its scheduled time");
    assert.equal(m.scheduledEnqueueTimeUtc.getTime(), at.getTime());
    await receiver.completeMessage(m);
    await assertEmpty(receiver, "after the scheduled message");
    await receiver.close();
    await sender.close();
  },

  async peek() {
    const sender = client.createSender(queue);
    const receiver = client.createReceiver(queue);
    await sender.sendMessages(["p1", "p2", "p3"].map((id) => ({ messageId: id, body: id })));
    const peeked = await receiver.peekMessages(3);
    assert.deepEqual(peeked.map((p) => p.messageId), ["p1", "p2", "p3"], "peek in sequence order");
    assert.ok(peeked[0].sequenceNumber.lessThan(peeked[1].sequenceNumber));
    assert.ok(peeked.every((p) => p.lockToken === undefined), "a peeked message has no lock");
    const again = await receiver.peekMessages(3, { fromSequenceNumber: peeked[1].sequenceNumber });
    assert.deepEqual(again.map((p) => p.messageId), ["p2", "p3"], "peek from a sequence number");
    const got = await receiveExactly(receiver, 3); // peeking locked nothing
    for (const m of got) await receiver.completeMessage(m);
    await receiver.close();
    await sender.close();
  },

  async sessions() {
    const q = "interop-sessions";
    const sender = client.createSender(q);
    await sender.sendMessages([
      { sessionId: "a", messageId: "a1", body: 1 }, { sessionId: "b", messageId: "b1", body: 1 },
      { sessionId: "a", messageId: "a2", body: 2 }, { sessionId: "b", messageId: "b2", body: 2 },
    ]);
    await assert.rejects(sender.sendMessages({ messageId: "no-session", body: 0 }), "a message without a session id is refused");
    const a = await client.acceptSession(q, "a");
    const fromA = await receiveExactly(a, 2);
    assert.deepEqual(fromA.map((m) => m.messageId), ["a1", "a2"], "a session in order, and only its own messages");
    for (const m of fromA) await a.completeMessage(m);
    await a.setSessionState("seen 2");
    assert.equal(String(await a.getSessionState()), "seen 2");
    await assertEmpty(a, "session a");
    await assert.rejects(client.acceptSession(q, "a", { maxAutoLockRenewalDurationInMs: 0 }), "a locked session cannot be accepted twice");
    await a.close();
    const next = await client.acceptNextSession(q);
    assert.equal(next.sessionId, "b");
    const fromB = await receiveExactly(next, 2);
    assert.deepEqual(fromB.map((m) => m.messageId), ["b1", "b2"]);
    for (const m of fromB) await next.completeMessage(m);
    await next.close();
    const again = await client.acceptSession(q, "a");
    assert.equal(String(await again.getSessionState()), "seen 2", "session state outlives the receiver");
    await again.close();
    await sender.close();
  },

  // throughput: 4,000 × 1 KiB messages to a topic in batches, received and completed from its
  // subscription. Figures in ms and msgs/s.
  async throughput() {
    const n = Number(process.env.THROUGHPUT_MESSAGES || 4000);
    const sender = client.createSender("bulk");
    const receiver = client.createReceiver("bulk", "all");
    const body = Buffer.alloc(1024, "x");
    const start = performance.now();
    let batch = await sender.createMessageBatch();
    for (let i = 0; i < n; i++) {
      const m = { messageId: `bulk-${i}`, body };
      if (!batch.tryAddMessage(m)) {
        await sender.sendMessages(batch);
        batch = await sender.createMessageBatch();
        assert.ok(batch.tryAddMessage(m), "a 1 KiB message fits an empty batch");
      }
    }
    await sender.sendMessages(batch);
    const sent = performance.now();
    const seen = new Set();
    const deadline = Date.now() + 60_000;
    while (seen.size < n && Date.now() < deadline) {
      const ms = await receiver.receiveMessages(500, { maxWaitTimeInMs: 1000 });
      await Promise.all(ms.map((m) => receiver.completeMessage(m)));
      ms.forEach((m) => seen.add(m.messageId));
    }
    const done = performance.now();
    assert.equal(seen.size, n, `received ${seen.size} distinct messages of ${n}`);
    await assertEmpty(receiver, "after the bulk run");
    await receiver.close();
    await sender.close();
    return {
      messages: n, sendMs: +(sent - start).toFixed(1), receiveMs: +(done - sent).toFixed(1),
      totalMs: +(done - start).toFixed(1), msgsPerSec: Math.round(n / ((done - start) / 1000)),
    };
  },
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in cases)) {
    console.error(`interop.mjs: no case ${name}; cases: ${Object.keys(cases).join(", ")}`);
    process.exit(2);
  }
}
let failed = false;
for (const [name, run] of Object.entries(cases)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  try {
    const figures = await run();
    console.log(JSON.stringify({ case: name, ok: true, figures }));
  } catch (err) {
    failed = true;
    console.log(JSON.stringify({ case: name, ok: false, error: String(err?.stack ?? err) }));
  }
}
await client.close();
process.exit(failed ? 1 : 0);

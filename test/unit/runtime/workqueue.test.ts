import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ItemExponentialBackoff, WorkQueue } from "../../../operator/src/runtime/workqueue.ts";
import { Controller } from "../../../operator/src/runtime/controller.ts";
import { Metrics } from "../../../operator/src/runtime/metrics.ts";
import { eventually, within } from "../../support/eventually.ts";

describe("WorkQueue", () => {
  test("coalesces duplicate keys while queued", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("b");
    q.add("a");
    q.add("a");
    assert.equal(q.length, 2);
    assert.equal(await q.get(), "a");
    assert.equal(await q.get(), "b");
    assert.equal(q.length, 0);
  });

  test("a key added while processing is re-queued on done, not handed out twice", async () => {
    const q = new WorkQueue();
    q.add("a");
    const k = await q.get();
    assert.equal(k, "a");
    q.add("a");
    q.add("a");
    assert.equal(q.length, 0, "not queued while in flight");
    let second: string | undefined;
    void q.get().then((v) => (second = v));
    await sleep(5);
    assert.equal(second, undefined, "no second worker gets the in-flight key");
    q.done("a");
    await sleep(1);
    assert.equal(second, "a", "re-queued once after done");
    q.done("a");
    assert.equal(q.length, 0);
  });

  test("never processes the same key concurrently under many workers", async () => {
    const q = new WorkQueue();
    const active = new Set<string>();
    let maxConcurrent = 0;
    let inFlight = 0;
    let processed = 0;
    const overlaps: string[] = [];
    const worker = async () => {
      for (;;) {
        const k = await q.get();
        if (k === undefined) return;
        // Record, do not throw: a throw here would skip done(k), keep k in flight and hang the wait below.
        if (active.has(k)) overlaps.push(k);
        active.add(k);
        inFlight++;
        maxConcurrent = Math.max(maxConcurrent, inFlight);
        try {
          await sleep(Math.random() * 3);
        } finally {
          active.delete(k);
          inFlight--;
          processed++;
          q.done(k);
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let i = 0; i < 400; i++) {
      q.add(`k${i % 5}`);
      if (i % 20 === 0) await sleep(1);
    }
    try {
      await eventually("queue drained", () => q.length === 0 && q.inFlight === 0, 10_000, 5);
    } finally {
      q.shutdown();
    }
    await within("workers return after shutdown", Promise.all(workers), 5000);
    assert.deepEqual(overlaps, [], "no key processed concurrently");
    assert.ok(maxConcurrent <= 5, `at most one worker per key (saw ${maxConcurrent} for 5 keys)`);
    assert.ok(processed >= 5 && processed < 400, `adds coalesced (${processed} runs for 400 adds)`);
  });

  test("per-item exponential backoff grows, caps and is reset by forget", () => {
    const b = new ItemExponentialBackoff(5, 1_000_000);
    const delays = Array.from({ length: 5 }, () => b.when("x"));
    assert.deepEqual(delays, [5, 10, 20, 40, 80]);
    assert.equal(b.numRequeues("x"), 5);
    assert.equal(b.when("y"), 5, "per item");
    for (let i = 0; i < 40; i++) b.when("x");
    assert.equal(b.when("x"), 1_000_000, "capped at 1000 s");
    b.forget("x");
    assert.equal(b.numRequeues("x"), 0);
    assert.equal(b.when("x"), 5);
  });

  test("addRateLimited delays by the backoff; forget resets it", async () => {
    const q = new WorkQueue({ rateLimiter: new ItemExponentialBackoff(20, 1000) });
    const t0 = performance.now();
    q.addRateLimited("a");
    assert.equal(q.length, 0);
    assert.equal(q.delayed, 1);
    assert.equal(await q.get(), "a");
    const first = performance.now() - t0;
    q.done("a");
    q.addRateLimited("a");
    const t1 = performance.now();
    assert.equal(await q.get(), "a");
    const second = performance.now() - t1;
    q.done("a");
    assert.ok(first >= 15, `first retry after ~20 ms (${first.toFixed(1)})`);
    assert.ok(second >= 35, `second retry after ~40 ms (${second.toFixed(1)})`);
    assert.equal(q.numRequeues("a"), 2);
    q.forget("a");
    assert.equal(q.numRequeues("a"), 0);
    q.shutdown();
  });

  test("addAfter: delayed add, earliest pending time wins, immediate when <= 0", async () => {
    const q = new WorkQueue();
    q.addAfter("a", 200);
    q.addAfter("a", 20); // earlier: replaces
    q.addAfter("a", 500); // later: ignored
    assert.equal(q.delayed, 1);
    const t0 = performance.now();
    assert.equal(await q.get(), "a");
    const waited = performance.now() - t0;
    assert.ok(waited >= 15 && waited < 150, `got it after ~20 ms (${waited.toFixed(1)})`);
    q.done("a");
    q.addAfter("b", 0);
    assert.equal(q.length, 1);
    q.shutdown();
  });

  test("shutdown: waiting getters get undefined, adds are ignored, drain waits for in-flight", async () => {
    const q = new WorkQueue();
    q.add("a");
    const k = await q.get();
    const waiting = q.get();
    q.addAfter("later", 10_000);
    q.shutdown();
    assert.equal(await waiting, undefined);
    q.add("b");
    assert.equal(q.length, 0);
    assert.equal(q.delayed, 0, "delayed adds cancelled");
    assert.equal(await q.get(), undefined);
    let drained = false;
    const d = q.drain().then(() => (drained = true));
    await sleep(5);
    assert.equal(drained, false, "still processing a");
    q.done(k!);
    await d;
    assert.equal(drained, true);
  });

  test("metrics: adds, depth, retries", async () => {
    const m = new Metrics();
    const q = new WorkQueue({ name: "t", metrics: m });
    q.add("a");
    q.add("a");
    q.add("b");
    q.addRateLimited("c");
    const text = await m.registry.metrics();
    assert.match(text, /workqueue_adds_total\{name="t"\} 3/);
    assert.match(text, /workqueue_depth\{name="t"\} 2/);
    assert.match(text, /workqueue_retries_total\{name="t"\} 1/);
    q.shutdown();
  });
});

describe("Controller workers", () => {
  test("success forgets, errors retry with backoff, requeueAfter revisits, metrics by result", async () => {
    const m = new Metrics();
    const calls: string[] = [];
    let fails = 2;
    const c = new Controller({
      name: "t", workers: 3, metrics: m, backoff: { baseMs: 5, maxMs: 100 },
      reconcile: async (req) => {
        calls.push(req.key);
        if (req.key === "ns/bad" && fails-- > 0) throw new Error("boom");
        if (req.key === "ns/later" && calls.filter((k) => k === "ns/later").length === 1) return { requeueAfterMs: 30 };
        return undefined;
      },
    });
    c.start();
    c.enqueue("ns/ok");
    c.enqueue("ns/bad");
    c.enqueue("ns/later");
    try {
      await eventually("ns/bad run 3 times and ns/later twice", () => calls.filter((k) => k === "ns/bad").length >= 3 && calls.filter((k) => k === "ns/later").length >= 2, 2000, 5);
    } finally {
      await c.stop();
    }
    assert.equal(calls.filter((k) => k === "ns/ok").length, 1);
    assert.equal(calls.filter((k) => k === "ns/bad").length, 3, "two failures, then success");
    assert.equal(calls.filter((k) => k === "ns/later").length, 2);
    assert.equal(c.queue.numRequeues("ns/bad"), 0, "forgotten after success");
    const text = await m.registry.metrics();
    assert.match(text, /controller_runtime_reconcile_total\{controller="t",result="error"\} 2/);
    assert.match(text, /controller_runtime_reconcile_total\{controller="t",result="success"\} 3/);
    assert.match(text, /controller_runtime_reconcile_total\{controller="t",result="requeue_after"\} 1/);
    assert.match(text, /controller_runtime_reconcile_errors_total\{controller="t"\} 2/);
    assert.match(text, /controller_runtime_reconcile_time_seconds_count\{controller="t"\} 6/);
  });

  test("stop waits for in-flight reconciles and aborts their signal; bounded concurrency", async () => {
    let running = 0;
    let max = 0;
    let finished = 0;
    let sawAbort = false;
    const c = new Controller({
      name: "t2", workers: 2,
      reconcile: async (_req, ctx) => {
        running++;
        max = Math.max(max, running);
        await sleep(50);
        if (ctx.signal.aborted) sawAbort = true;
        running--;
        finished++;
      },
    });
    c.start();
    for (let i = 0; i < 6; i++) c.enqueue(`ns/k${i}`);
    await sleep(10);
    await c.stop();
    assert.equal(running, 0, "no reconcile still running after stop");
    assert.equal(finished, 2, "only the two in-flight ones ran; queued work was not taken");
    assert.equal(max, 2, "bounded by workers");
    assert.ok(sawAbort, "signal aborted during stop");
    // can start again (e.g. leadership regained)
    c.start();
    c.enqueue("ns/again");
    await sleep(80);
    await c.stop();
    assert.ok(finished >= 3);
  });
});

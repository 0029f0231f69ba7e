import { test } from "node:test";
import assert from "node:assert/strict";
import { PortPool } from "../../src/passive/pool.ts";

test("pool hands out every port of the range once, then null; never outside", () => {
  const pool = new PortPool(30000, 30009, 0);
  const got = new Set<number>();
  for (let i = 0; i < 10; i++) {
    const p = pool.allocate();
    assert.ok(p !== null && p >= 30000 && p <= 30009);
    got.add(p);
  }
  assert.equal(got.size, 10);
  assert.equal(pool.allocate(), null);
  assert.equal(pool.stats().exhaustedTotal, 1);
  pool.release(30003);
  assert.equal(pool.allocate(), 30003);
  pool.release(12345); // unknown: ignored
  pool.release(30003);
  pool.release(30003); // double release: ignored
  assert.equal(pool.stats().inUse, 9);
});

test("quarantine: a released port returns only after quarantineMs, in FIFO order", () => {
  let now = 0;
  const pool = new PortPool(1000, 1002, 50, () => now);
  const a = pool.allocate()!;
  const b = pool.allocate()!;
  const c = pool.allocate()!;
  pool.release(b);
  now = 10;
  pool.release(a);
  assert.equal(pool.allocate(), null);
  assert.deepEqual(pool.stats().quarantined, 2);
  now = 50;
  assert.equal(pool.allocate(), b);
  assert.equal(pool.allocate(), null);
  now = 60;
  assert.equal(pool.allocate(), a);
  pool.release(c);
  assert.equal(pool.stats().quarantined, 1);
});

test("reconfigure: new range, ports in use outside it are forgotten on release", () => {
  const pool = new PortPool(2000, 2004, 0);
  const held = [pool.allocate()!, pool.allocate()!];
  pool.reconfigure(2003, 2010, 0);
  const seen = new Set<number>();
  for (;;) {
    const p = pool.allocate();
    if (p === null) break;
    assert.ok(p >= 2003 && p <= 2010);
    assert.ok(!held.includes(p), "a port still in use was handed out again");
    seen.add(p);
  }
  for (const h of held) pool.release(h);
  for (const h of held) if (h >= 2003) assert.equal(pool.allocate(), h);
  assert.equal(pool.allocate(), null);
  const empty = new PortPool(1, 0, 0);
  assert.equal(empty.allocate(), null);
  assert.equal(empty.stats().size, 0);
});

test("allocate/release stay O(1): 99% full costs the same as 10% full", () => {
  const size = 50_000;
  const pool = new PortPool(10000, 10000 + size - 1, 0);
  const timeAt = (fill: number) => {
    const held: number[] = [];
    for (let i = 0; i < fill; i++) held.push(pool.allocate()!);
    const t0 = performance.now();
    for (let i = 0; i < 200_000; i++) pool.release(pool.allocate()!);
    const t = performance.now() - t0;
    for (const p of held) pool.release(p);
    return t;
  };
  timeAt(size * 0.1); // warm up
  const low = timeAt(size * 0.1);
  const high = timeAt(size * 0.99);
  assert.ok(high < low * 3 + 5, `99%: ${high.toFixed(1)} ms vs 10%: ${low.toFixed(1)} ms`);
});

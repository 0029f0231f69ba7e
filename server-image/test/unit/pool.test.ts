import { test } from "node:test";
import assert from "node:assert/strict";
import { PortPool } from "../../src/passive/pool.ts";

/** Every port the pool hands out until it refuses. */
function drain(pool: PortPool, client = ""): number[] {
  const out: number[] = [];
  for (let p = pool.allocate(client); p !== null; p = pool.allocate(client)) out.push(p);
  return out;
}

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

test("quarantine is a preference: free ports first, then the port released longest ago, never a refusal while one is free", () => {
  let now = 0;
  const pool = new PortPool(1000, 1003, 50, () => now);
  const [a, b, c, d] = drain(pool) as [number, number, number, number];
  pool.release(b); // carried a connection: cooling since t=0
  now = 10;
  pool.release(a); // cooling since t=10
  pool.release(c, "", false); // never accepted a connection: straight back to the free list
  assert.deepEqual(pool.stats().quarantined, 2);
  assert.equal(pool.allocate(), c, "a free port comes before any cooling one");
  assert.equal(pool.allocate(), b, "then the port released longest ago");
  assert.equal(pool.allocate(), a);
  assert.equal(pool.allocate(), null, "425 only when every port has a live listener or connection");
  // A cooling port whose quarantine is over is free again (and then comes before newer releases).
  pool.release(a);
  now = 20;
  pool.release(b);
  now = 60;
  assert.equal(pool.stats().quarantined, 1, "a's quarantine (t=10+50) is over, b's is not");
  pool.release(d, "", false);
  assert.equal(pool.allocate(), a, "a cooled down before d was released: FIFO in the free list");
  assert.equal(pool.allocate(), d);
  assert.equal(pool.allocate(), b);
});

test("a session replacing its PASV listener 1,000 times leaves every other port free", () => {
  let now = 0;
  const pool = new PortPool(5000, 5009, 60_000, () => now);
  let mine = pool.allocate("192.0.2.1")!;
  for (let i = 0; i < 1000; i++) {
    pool.release(mine, "192.0.2.1", false);
    mine = pool.allocate("192.0.2.1")!;
    now += 1;
    assert.ok(mine !== null);
  }
  assert.equal(pool.stats().inUse, 1);
  assert.equal(pool.stats().quarantined, 0);
  assert.equal(drain(pool, "192.0.2.2").length, 9, "the other nine ports are all free for another client");
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

test("sharePorts: a port is leased to several client IPs, never twice to the same IP", () => {
  const pool = new PortPool(7000, 7002, { quarantineMs: 0, sharePorts: true });
  const clients = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
  const held = new Map<string, number[]>();
  for (const c of clients) held.set(c, drain(pool, c));
  for (const [c, ports] of held) {
    assert.equal(new Set(ports).size, 3, `${c} got 3 distinct ports: ${ports.join(",")}`);
    assert.ok(ports.every((p) => p >= 7000 && p <= 7002));
  }
  assert.equal(pool.stats().inUse, 3);
  assert.equal(pool.stats().leases, 12);
  // A release by one client frees its lease only; the port stays held for the others.
  pool.release(7001, "10.0.0.1");
  pool.release(7001, "10.0.0.1"); // double release: ignored
  pool.release(7002, "10.0.0.9"); // not that client's lease: ignored
  assert.equal(pool.stats().leases, 11);
  assert.equal(pool.allocate("10.0.0.2"), null, "10.0.0.2 holds every port already");
  assert.equal(pool.allocate("10.0.0.1"), 7001);
  // The port becomes free only when its last lease ends.
  for (const c of clients) for (const p of [7000, 7001, 7002]) pool.release(p, c);
  assert.deepEqual({ ...pool.stats(), exhaustedTotal: 0 }, { size: 3, free: 3, inUse: 0, leases: 0, quarantined: 0, exhaustedTotal: 0 });
});

test("sharePorts: free and cooling ports are used before sharing one", () => {
  const now = 0;
  const pool = new PortPool(8000, 8001, { quarantineMs: 1000, sharePorts: true, now: () => now });
  const a = pool.allocate("10.0.0.1")!;
  const b = pool.allocate("10.0.0.2")!;
  pool.release(a, "10.0.0.1"); // cooling
  assert.equal(pool.allocate("10.0.0.2"), a, "the cooling port before sharing b");
  assert.equal(pool.allocate("10.0.0.3") !== null, true);
  assert.equal(pool.stats().leases, 3);
  assert.equal(b, 8000 + 8001 - a);
});

/** Time of 200,000 allocate/release pairs with `fill` ports held. */
function cycleTime(pool: PortPool, fill: number, clientOf: (i: number) => string): number {
  const held: Array<[number, string]> = [];
  for (let i = 0; i < fill; i++) held.push([pool.allocate(clientOf(i))!, clientOf(i)]);
  const t0 = performance.now();
  for (let i = 0; i < 200_000; i++) {
    const c = clientOf(i);
    pool.release(pool.allocate(c)!, c);
  }
  const t = performance.now() - t0;
  for (const [p, c] of held) pool.release(p, c);
  return t;
}

test("allocate/release stay O(1): 99% full costs the same as 10% full", () => {
  const size = 50_000;
  const pool = new PortPool(10000, 10000 + size - 1, 0);
  cycleTime(pool, size * 0.1, () => ""); // warm up
  const low = cycleTime(pool, size * 0.1, () => "");
  const high = cycleTime(pool, size * 0.99, () => "");
  assert.ok(high < low * 2 + 5, `99%: ${high.toFixed(1)} ms vs 10%: ${low.toFixed(1)} ms`);
});

test("O(1) with a quarantine: cooling ports at 99% use cost the same as at 10%", () => {
  const size = 50_000;
  let now = 0;
  const pool = new PortPool(10000, 10000 + size - 1, { quarantineMs: 1e9, now: () => now++ });
  const clients = (i: number) => `10.0.${(i >> 8) & 255}.${i & 255}`;
  cycleTime(pool, size * 0.1, clients);
  const low = cycleTime(pool, size * 0.1, clients);
  const high = cycleTime(pool, size * 0.99, clients);
  assert.ok(high < low * 2 + 5, `99%: ${high.toFixed(1)} ms vs 10%: ${low.toFixed(1)} ms`);
});

test("O(1) with sharePorts: a full pool shared by many clients costs the same as a 10% full one", () => {
  const size = 10_000;
  const pool = new PortPool(20000, 20000 + size - 1, { quarantineMs: 0, sharePorts: true });
  const clients = (i: number) => `10.1.${(i >> 8) & 255}.${i & 255}`;
  cycleTime(pool, size * 0.1, clients);
  const low = cycleTime(pool, size * 0.1, clients);
  // Every port held twice over, each client holding 4 leases: the walk skips at most those 4.
  const high = cycleTime(pool, size * 2, (i) => `10.1.${((i % 5000) >> 8) & 255}.${i % 5000 & 255}`);
  assert.equal(pool.stats().leases, 0);
  assert.ok(high < low * 2 + 5, `full + shared: ${high.toFixed(1)} ms vs 10%: ${low.toFixed(1)} ms`);
});

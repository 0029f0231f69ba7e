// openPassiveChannel (src/data/passive.ts): synchronous when nothing has to be waited for — the
// allocated port's listener already listens (pre-opened) and the session's previous channel never
// carried a connection — so a burst of PASVs on pre-opened ports costs no promise per PASV; a
// Promise otherwise (the port must be listened on, the previous connection is still closing), and
// the channels it hands out either way accept the session's data connection. Real listeners and
// sockets on 127.0.0.1, a real PortPool; no server.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { closeIdleListeners, openPassiveChannel, preopenListeners, type ListenerPolicy, type OpenPassive, type PassiveChannel } from "../../src/data/passive.ts";
import { PortPool } from "../../src/passive/pool.ts";
import { freeRange } from "../helpers.ts";
import { within } from "../../../test/support/eventually.ts";

const HOST = "127.0.0.1";

/** Keeps the listeners of [start, end] open while `keep` is true (as server.ts does for pre-opened pool ports). */
function policyFor(r: { start: number; end: number }): ListenerPolicy & { keep: boolean } {
  const p = {
    keep: true,
    keepIdle: (_host: string, port: number) => p.keep && port >= r.start && port <= r.end,
    onIdleConnection: () => {},
  };
  return p;
}

function options(owner: object, pool: PortPool, policy: ListenerPolicy | null, listenErrors: number[] = []): OpenPassive {
  return {
    owner,
    pool,
    host: HOST,
    check: { mode: "strict", clientIp: HOST, proxyTrusted: null, proxyTimeoutMs: 1000 },
    acceptTimeoutMs: 10_000,
    onReject: () => {},
    onListenError: (port) => listenErrors.push(port),
    policy,
  };
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: HOST, port }, () => resolve(s));
    s.once("error", reject);
  });
}

/** The channel hands over a real connection to its port. */
async function carries(ch: PassiveChannel): Promise<Socket> {
  const client = await dial(ch.port);
  const got = await within(`channel on ${ch.port} takes the connection`, ch.take(), 5000);
  assert.equal(got.socket.remotePort, client.localPort);
  return client;
}

test("pre-opened ports: PASV after PASV opens its channel synchronously (no Promise) and the channel carries the data connection", async () => {
  const r = await freeRange(4);
  const pool = new PortPool(r.start, r.end, 0);
  const policy = policyFor(r);
  assert.equal(await preopenListeners(HOST, [r.start, r.start + 1, r.start + 2, r.start + 3], policy), 4);
  const owner = {};
  const seen: number[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const ch = openPassiveChannel(options(owner, pool, policy));
      assert.ok(ch !== null && !(ch instanceof Promise), `PASV ${i + 1}: a channel right away, not ${String(ch)}`);
      seen.push(ch.port);
    }
    // Each replaced channel went straight back to the pool: one lease held.
    assert.equal(pool.stats().inUse, 1);
    const last = openPassiveChannel(options(owner, pool, policy)) as PassiveChannel;
    const client = await carries(last);
    client.destroy();
    last.close();
  } finally {
    policy.keep = false;
    closeIdleListeners(policy);
  }
  assert.ok(seen.every((p) => p >= r.start && p <= r.end));
});

test("a port without an open listener: a Promise that listens and resolves with a channel carrying the connection", async () => {
  const r = await freeRange(2);
  const pool = new PortPool(r.start, r.end, 0);
  const opened = openPassiveChannel(options({}, pool, null));
  assert.ok(opened instanceof Promise, "no listener on the port yet: the caller must wait for listen()");
  const ch = await opened;
  assert.ok(ch);
  const client = await carries(ch);
  client.destroy();
  ch.close();
  await within("the lease back once the connection closed", ch.released, 5000);
  assert.equal(pool.stats().inUse, 0);
});

test("previous channel's connection still open: the next PASV waits (a Promise) until that lease is back, then gets a channel", async () => {
  const r = await freeRange(2);
  const pool = new PortPool(r.start, r.end, 0);
  const policy = policyFor(r);
  await preopenListeners(HOST, [r.start, r.end], policy);
  const owner = {};
  try {
    const first = openPassiveChannel(options(owner, pool, policy)) as PassiveChannel;
    const client = await carries(first);
    const next = openPassiveChannel(options(owner, pool, policy));
    assert.ok(next instanceof Promise, "the previous channel's connection is closing: wait for its release");
    const ch = await within("the next channel", next, 5000);
    assert.ok(ch && first.isReleased, "the first lease is back before the next channel is handed out");
    assert.equal(pool.stats().inUse, 1);
    client.destroy();
    ch.close();
  } finally {
    policy.keep = false;
    closeIdleListeners(policy);
  }
});

test("a pre-opened port already awaited for this client is skipped synchronously: the next port is used and the refusal reported", async () => {
  const r = await freeRange(2);
  const pool = new PortPool(r.start, r.end, 0);
  const policy = policyFor(r);
  await preopenListeners(HOST, [r.start, r.end], policy);
  const errors: number[] = [];
  try {
    const a = openPassiveChannel(options({}, pool, policy, errors)) as PassiveChannel;
    // Make the pool hand a's port out first while a still waits on it: hold the other port, give
    // a's lease back behind a's back, then the other port (free list: a's port, the other).
    const other = pool.allocate(HOST)!;
    pool.release(a.port, HOST, false);
    pool.release(other, HOST, false);
    const b = openPassiveChannel(options({}, pool, policy, errors));
    assert.ok(b !== null && !(b instanceof Promise), "a channel on the other pre-opened port, at once");
    assert.equal(b.port, other);
    assert.deepEqual(errors, [a.port], "the refused port is reported once");
    a.close();
    b.close();
  } finally {
    policy.keep = false;
    closeIdleListeners(policy);
  }
});

// Pre-opened passive listeners (src/data/passive.ts, src/server.ts): with the strict check the
// pool's ports listen from the first control connection on, so a PASV neither listens nor closes.
// An open idle port must not be a way in: a connection nobody waits for is closed unread and never
// handed to a later PASV; only the session's own connection (its client IP) gets through; relaxed
// mode and PASV_PREOPEN_MAX_PORTS=0 keep the old listen-per-PASV behaviour; a reload to another
// range closes the old ports. Real server process, raw sockets; 127.0.0.2 plays "another host".

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { RawFtp, startServer, parseEpsv, readData, metricsText, metricValue, freeRange, type RunningServer } from "./helpers.ts";
import { eventually, within } from "../../test/support/eventually.ts";

const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function session(port: number): Promise<RawFtp> {
  const c = await RawFtp.connect(port);
  assert.equal((await c.read()).code, 220);
  await c.login("alice", "alice-pw");
  return c;
}

/** Connects from `localAddress`; resolves with the socket, or with the connect error (e.g. ECONNREFUSED). */
function connectFrom(port: number, localAddress = "127.0.0.1"): Promise<Socket | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1", localAddress }, () => {
      s.removeAllListeners("error");
      s.on("error", () => {});
      resolve(s);
    });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e));
  });
}

/** The server closes `s` without sending it a byte (bounded). */
async function closedUnread(s: Socket, what: string): Promise<void> {
  let bytes = 0;
  s.on("data", (b: Buffer) => (bytes += b.length));
  await within(`${what}: the server closes it`, new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r()))), 5000);
  assert.equal(bytes, 0, `${what}: no byte sent`);
}

async function metric(srv: RunningServer, name: string): Promise<number> {
  return metricValue(await metricsText(srv.metricsPort!), name);
}

function ports(r: { start: number; end: number }): number[] {
  return Array.from({ length: r.end - r.start + 1 }, (_, i) => r.start + i);
}

test("pre-opened (strict): a port is open before PASV, but that connection is closed unread; after PASV only the session's own IP gets through; the port stays open", async () => {
  const srv = await startServer({ passivePorts: 3 });
  servers.push(srv);
  await mkdir(path.join(srv.root, "alice"), { recursive: true });
  await writeFile(path.join(srv.root, "alice", "listed.txt"), "x");
  const c = await session(srv.controlPort);
  await eventually("all 3 passive ports pre-opened", async () => (await metric(srv, "ftp_passive_listeners")) === 3, 10_000, 50);
  // Before any PASV: the kernel completes the handshake, the server closes it without a byte.
  for (const p of ports(srv.passive)) {
    const early = await connectFrom(p);
    assert.ok(!(early instanceof Error), `port ${p} listens before PASV (${early instanceof Error ? early.message : ""})`);
    await closedUnread(early, `connection to ${p} before PASV`);
  }
  assert.equal(await metric(srv, 'ftp_data_connections_rejected_total{reason="extra_connection"}'), 3);
  const port = parseEpsv((await c.cmd("EPSV")).text);
  assert.ok(port >= srv.passive.start && port <= srv.passive.end);
  // After PASV: another host is refused, the session's own connection carries the listing.
  const intruder = await connectFrom(port, "127.0.0.2");
  assert.ok(!(intruder instanceof Error), "the intruder's handshake completes (the port listens)");
  await closedUnread(intruder, "connection from 127.0.0.2");
  const d = readData(port);
  assert.equal((await c.cmd("NLST")).code, 150);
  assert.equal((await within("the listing", d.done, 5000)).toString(), "listed.txt\r\n");
  assert.equal((await c.read()).code, 226);
  assert.equal(await metric(srv, 'ftp_data_connections_rejected_total{reason="peer_mismatch"}'), 1);
  // The listener outlives its channel (no close/listen per PASV) and is idle again: closed unread.
  assert.equal(await metric(srv, "ftp_passive_listeners"), 3);
  const late = await connectFrom(port);
  assert.ok(!(late instanceof Error), "the port still listens after the transfer");
  await closedUnread(late, "connection after the transfer");
  // A second PASV on the same session works as before.
  const again = parseEpsv((await c.cmd("EPSV")).text);
  const d2 = readData(again);
  assert.equal((await c.cmd("NLST")).code, 150);
  assert.equal((await within("the second listing", d2.done, 5000)).toString(), "listed.txt\r\n");
  assert.equal((await c.read()).code, 226);
  c.close();
});

test("no pre-opening with the relaxed check or PASV_PREOPEN_MAX_PORTS=0: a port refuses before PASV and after its transfer", async () => {
  const relaxed = await startServer({ passivePorts: 2, config: (b) => ({ ...b, dataConnectionCheck: "relaxed" }) });
  servers.push(relaxed);
  const off = await startServer({ passivePorts: 2, env: { PASV_PREOPEN_MAX_PORTS: "0" } });
  servers.push(off);
  for (const srv of [relaxed, off]) {
    await mkdir(path.join(srv.root, "alice"), { recursive: true });
    const c = await session(srv.controlPort);
    // Give a (wrong) background pre-open time to run, then check nothing listens.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await metric(srv, "ftp_passive_listeners"), 0);
    for (const p of ports(srv.passive)) {
      const e = await connectFrom(p);
      assert.ok(e instanceof Error && e.code === "ECONNREFUSED", `port ${p} refuses before PASV`);
    }
    const port = parseEpsv((await c.cmd("EPSV")).text);
    const d = readData(port);
    assert.equal((await c.cmd("NLST")).code, 150);
    await within("the listing", d.done, 5000);
    assert.equal((await c.read()).code, 226);
    await eventually("the listener closed after the transfer", async () => (await metric(srv, "ftp_passive_listeners")) === 0, 5000, 50);
    const e = await connectFrom(port);
    assert.ok(e instanceof Error && e.code === "ECONNREFUSED", `port ${port} refuses after the transfer`);
    c.close();
  }
});

test("hot reload to another range closes the kept listeners of the old range and pre-opens the new one", async () => {
  const srv = await startServer({ passivePorts: 3 });
  servers.push(srv);
  await mkdir(path.join(srv.root, "alice"), { recursive: true });
  const c = await session(srv.controlPort);
  await eventually("3 ports pre-opened", async () => (await metric(srv, "ftp_passive_listeners")) === 3, 10_000, 50);
  const old = srv.passive;
  const next = await freeRange(2);
  const mark = srv.logMark();
  await srv.writeConfig({ ...srv.config, passive: { ...srv.config.passive, portStart: next.start, portEnd: next.end } });
  await srv.waitForLog((l) => l.msg === "config reloaded", 10_000, mark);
  await eventually("only the new range's 2 ports listen", async () => (await metric(srv, "ftp_passive_listeners")) === 2, 10_000, 50);
  for (const p of ports(old)) {
    const e = await connectFrom(p);
    assert.ok(e instanceof Error && e.code === "ECONNREFUSED", `old port ${p} closed after the reload`);
  }
  for (const p of ports(next)) {
    const s = await connectFrom(p);
    assert.ok(!(s instanceof Error), `new port ${p} pre-opened`);
    await closedUnread(s, `connection to new port ${p} before PASV`);
  }
  const port = parseEpsv((await c.cmd("EPSV")).text);
  assert.ok(port >= next.start && port <= next.end, `EPSV port ${port} in the new range`);
  const d = readData(port);
  assert.equal((await c.cmd("NLST")).code, 150);
  await within("the listing", d.done, 5000);
  assert.equal((await c.read()).code, 226);
  c.close();
});

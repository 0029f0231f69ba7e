// A 5-port pool: five PASVs take every port, the sixth gets 425 (counted in the metrics and
// logged), and the pool recovers once a port is released. With a quarantine, a released port
// comes back only after the quarantine.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { RawFtp, startServer, parsePasv, parseEpsv, readData, metricsText, metricValue, type RunningServer } from "./helpers.ts";

const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function session(srv: RunningServer): Promise<RawFtp> {
  const c = await RawFtp.connect(srv.controlPort);
  await c.read();
  await c.login("alice", "alice-pw");
  return c;
}

test("5-port pool: the 6th PASV gets 425, recovery after release, never a port outside the range", async () => {
  const srv = await startServer({ passivePorts: 5 });
  servers.push(srv);
  const clients: RawFtp[] = [];
  const ports = new Set<number>();
  for (let i = 0; i < 5; i++) {
    const c = await session(srv);
    clients.push(c);
    const r = await c.cmd(i % 2 ? "PASV" : "EPSV");
    assert.ok(r.code === 227 || r.code === 229, r.text);
    const port = r.code === 227 ? parsePasv(r.text).port : parseEpsv(r.text);
    assert.ok(port >= srv.passive.start && port <= srv.passive.end);
    ports.add(port);
  }
  assert.equal(ports.size, 5);
  const sixth = await session(srv);
  assert.equal((await sixth.cmd("PASV")).code, 425);
  assert.equal((await sixth.cmd("EPSV")).code, 425);
  await srv.waitForLog((l) => l.msg === "passive pool exhausted");
  let m = await metricsText(srv.metricsPort!);
  assert.equal(metricValue(m, "ftp_passive_pool_exhausted_total"), 2);
  assert.equal(metricValue(m, "ftp_passive_ports_in_use"), 5);

  // Release one: a transfer on the first session (LIST) frees its port when the data connection closes.
  const c0 = clients[0]!;
  const first = [...ports][0]!;
  const dl = readData(first);
  assert.equal((await c0.cmd("LIST")).code, 150);
  await dl.done;
  assert.equal((await c0.read()).code, 226);
  await new Promise((r) => setTimeout(r, 100));
  const r = await sixth.cmd("EPSV");
  assert.equal(r.code, 229, r.text);
  assert.equal(parseEpsv(r.text), first);

  // QUIT releases too.
  clients[1]!.socket.write("QUIT\r\n");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await c0.cmd("EPSV")).code, 229);
  m = await metricsText(srv.metricsPort!);
  assert.equal(metricValue(m, "ftp_passive_ports_in_use"), 5);
  for (const c of [...clients, sixth]) c.close();
  await new Promise((r) => setTimeout(r, 200));
  m = await metricsText(srv.metricsPort!);
  assert.equal(metricValue(m, "ftp_passive_ports_in_use"), 0);
});

test("quarantine: a released port is not handed out again until its quarantine is over", async () => {
  const srv = await startServer({ passivePorts: 1, config: (b) => ({ ...b, passive: { ...b.passive, quarantineSeconds: 1 } }) });
  servers.push(srv);
  const c = await session(srv);
  assert.equal((await c.cmd("EPSV")).code, 229);
  assert.equal((await c.cmd("EPSV")).code, 425, "the first port is quarantined after release");
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await c.cmd("EPSV")).code, 229);
  const m = await metricsText(srv.metricsPort!);
  assert.equal(metricValue(m, "ftp_passive_pool_exhausted_total"), 1);
  c.close();
});

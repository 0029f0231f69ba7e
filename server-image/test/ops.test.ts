// Operations: hot reload of the config (plain rewrite and a Kubernetes ConfigMap `..data`
// symlink swap) and of the users file with sessions open; a bad config is rejected and the old
// one kept; SIGTERM drains (idle sessions get 421, a running transfer finishes, then exit 0);
// the idle and data timeouts.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rename, symlink, writeFile, unlink } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { RawFtp, startServer, parsePasv, parseEpsv, writeUsers, DEFAULT_USERS, type RunningServer } from "./helpers.ts";
import type { ServerConfigInput } from "../src/config/schema.ts";
import { stringify } from "yaml";

const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function session(srv: RunningServer, user = "alice", pass = "alice-pw"): Promise<RawFtp> {
  const c = await RawFtp.connect(srv.controlPort);
  assert.equal((await c.read()).code, 220);
  await c.login(user, pass);
  return c;
}

const withRule = (address: string) => (b: ServerConfigInput): ServerConfigInput => ({
  ...b,
  passive: { ...b.passive, addressRules: [{ userClass: "*", address }] },
});

test("hot reload: a changed rule applies to the next PASV of an open session; bad config rejected", async () => {
  const srv = await startServer({ config: withRule("198.51.100.1") });
  servers.push(srv);
  const c = await session(srv);
  assert.equal(parsePasv((await c.cmd("PASV")).text).host, "198.51.100.1");
  const beforeWrite = srv.logMark();
  await srv.writeConfig(withRule("198.51.100.2")(srv.config));
  await srv.waitForLog((l) => l.msg === "config reloaded", 10_000, beforeWrite);
  assert.equal(parsePasv((await c.cmd("PASV")).text).host, "198.51.100.2");
  assert.equal((await c.cmd("NOOP")).code, 200);

  // A broken file is rejected; the session and the last good config stay.
  const beforeBad = srv.logMark();
  await writeFile(srv.configPath, "version: 1\npassive: {portStart: 5, portEnd: 1}\n");
  await srv.waitForLog((l) => l.msg === "config reload rejected; keeping the current config", 10_000, beforeBad);
  assert.equal(parsePasv((await c.cmd("PASV")).text).host, "198.51.100.2");
  c.close();
});

test("hot reload: Kubernetes ConfigMap symlink swap (..data) and users file", async () => {
  const srv = await startServer({ config: withRule("198.51.100.10") });
  servers.push(srv);
  // Rebuild the config dir the way the kubelet does: config.yaml -> ..data/config.yaml, ..data -> ..v1
  const dir = path.dirname(srv.configPath);
  const v1 = path.join(dir, "..v1");
  await mkdir(v1);
  await writeFile(path.join(v1, "config.yaml"), stringify(srv.config));
  await symlink("..v1", path.join(dir, "..data"));
  await unlink(srv.configPath);
  await symlink("..data/config.yaml", srv.configPath);

  const c = await session(srv);
  assert.equal(parsePasv((await c.cmd("PASV")).text).host, "198.51.100.10");
  const v2 = path.join(dir, "..v2");
  await mkdir(v2);
  await writeFile(path.join(v2, "config.yaml"), stringify(withRule("198.51.100.11")(srv.config)));
  await symlink("..v2", path.join(dir, "..data_tmp"));
  const beforeSwap = srv.logMark();
  await rename(path.join(dir, "..data_tmp"), path.join(dir, "..data")); // atomic swap
  await srv.waitForLog((l) => l.msg === "config reloaded", 10_000, beforeSwap);
  assert.equal(parsePasv((await c.cmd("PASV")).text).host, "198.51.100.11");

  // Users file: add erin; alice's session goes on.
  const beforeUsers = srv.logMark();
  await writeUsers(srv.usersPath, [...DEFAULT_USERS, { name: "erin", password: "erin-pw" }]);
  await srv.waitForLog((l) => l.msg === "users file reloaded", 10_000, beforeUsers);
  const e = await session(srv, "erin", "erin-pw");
  assert.equal((await e.cmd("PWD")).code, 257);
  assert.equal((await c.cmd("PWD")).code, 257);
  e.close();
  c.close();
});

test("SIGTERM drains: sessions finish their next commands, quiet ones get 421, new connections refused, a running download completes", async () => {
  const srv = await startServer({ config: (b) => ({ ...b, drainGraceSeconds: 20, drainQuietSeconds: 1 }) });
  servers.push(srv);
  const size = 64 * 1024 * 1024;
  await mkdir(path.join(srv.root, "alice"), { recursive: true });
  await writeFile(path.join(srv.root, "alice", "big.bin"), Buffer.alloc(size, 3));
  const idle = await session(srv);
  const busy = await session(srv);
  const port = parseEpsv((await busy.cmd("EPSV")).text);
  const data = connect({ port, host: "127.0.0.1" });
  await new Promise((r) => data.once("connect", r));
  data.pause(); // a slow client: the server blocks on back-pressure
  assert.equal((await busy.cmd("RETR big.bin")).code, 150);
  await new Promise((r) => setTimeout(r, 200));

  srv.proc.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 200));
  // A client that sends its next command right as the drain starts is served, not cut off ...
  assert.equal((await idle.cmd("PWD")).code, 257);
  // ... and once it has been quiet for drainQuietSeconds it gets 421.
  const quietFrom = Date.now();
  assert.equal((await idle.read(5000)).code, 421);
  assert.ok(Date.now() - quietFrom >= 800, "closed only after the quiet period");
  await new Promise((r) => setTimeout(r, 200));
  await assert.rejects(RawFtp.connect(srv.controlPort), /ECONNREFUSED/);
  const ready = await fetch(`http://127.0.0.1:${srv.metricsPort}/readyz`);
  assert.equal(ready.status, 503);

  let got = 0;
  data.on("data", (c: Buffer) => (got += c.length));
  const ended = new Promise((r) => data.once("end", r));
  data.resume();
  await ended;
  assert.equal(got, size);
  assert.equal((await busy.read(10000)).code, 226);
  assert.equal((await busy.read(10000)).code, 421);
  assert.equal(await srv.exited, 0);
});

test("idle timeout closes an idle control connection; data timeout cuts a stalled upload", async () => {
  const srv = await startServer({
    config: (b) => ({ ...b, limits: { ...b.limits!, idleTimeoutSeconds: 1, dataTimeoutSeconds: 1 } }),
  });
  servers.push(srv);
  const c = await session(srv);
  const t0 = Date.now();
  const r = await c.read(5000);
  assert.equal(r.code, 421);
  assert.ok(Date.now() - t0 >= 900);

  // A flowing transfer longer than both timeouts is not cut; a stalled one is.
  const d = await session(srv);
  let port = parseEpsv((await d.cmd("EPSV")).text);
  let up = connect({ port, host: "127.0.0.1" });
  await new Promise((r) => up.once("connect", r));
  assert.equal((await d.cmd("STOR slow.bin")).code, 150);
  for (let i = 0; i < 10; i++) {
    up.write(Buffer.alloc(1000, 1));
    await new Promise((r) => setTimeout(r, 250));
  }
  up.end();
  assert.equal((await d.read()).code, 226, "a slow but flowing upload of 2.5 s survived 1 s timeouts");
  port = parseEpsv((await d.cmd("EPSV")).text);
  up = connect({ port, host: "127.0.0.1" });
  up.on("error", () => {});
  await new Promise((r) => up.once("connect", r));
  assert.equal((await d.cmd("STOR stalled.bin")).code, 150);
  up.write(Buffer.alloc(1000, 1));
  assert.equal((await d.read(5000)).code, 426);
  d.close();
});

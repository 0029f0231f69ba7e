// Explicit FTPS (AUTH TLS) against the real server: nothing sent in plaintext after AUTH TLS is
// ever executed once TLS is up (STARTTLS command injection), a refused AUTH leaves the pipeline
// alone, and FEAT / OPTS UTF8 say what the server really does.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, type RunningServer } from "./helpers.ts";
import { makeCert } from "./tls-helpers.ts";
import { LineClient, sleep } from "./hostile.ts";

const servers: RunningServer[] = [];
const tmp: string[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

async function tlsServer(extra: { activeMode?: boolean } = {}): Promise<RunningServer> {
  const certDir = await mkdtemp(path.join(tmpdir(), "pasv-cert-"));
  tmp.push(certDir);
  const { certFile, keyFile } = makeCert(certDir);
  const srv = await startServer({
    config: (b) => ({ ...b, tls: { mode: "explicit", certFile, keyFile }, activeMode: { enabled: extra.activeMode ?? false } }),
  });
  servers.push(srv);
  return srv;
}

test("STARTTLS: USER/PASS pipelined in plaintext after AUTH TLS (same packet) are not executed after the handshake", async () => {
  const srv = await tlsServer();
  const c = await LineClient.connect(srv.controlPort);
  assert.match(await c.next(), /^220/);
  c.write("AUTH TLS\r\nUSER alice\r\nPASS alice-pw\r\n"); // one write: one packet on loopback
  assert.match(await c.next(), /^234/);
  await c.startTls();
  // Had the injected USER/PASS run, the session would be logged in (PWD 257, USER 503).
  assert.match(await c.send("PWD"), /^530/);
  assert.match(await c.send("USER alice"), /^331/);
  assert.match(await c.send("PASS alice-pw"), /^230/);
  await srv.waitForLog((l) => l.msg === "login"); // logs arrive through a pipe, after the reply
  await sleep(200);
  assert.equal(srv.logs.filter((l) => l.msg === "login").length, 1, "exactly one login: the one sent over TLS");
  c.close();
});

test("STARTTLS: a half line sent in plaintext before the handshake never joins the first line after it", async () => {
  const srv = await tlsServer();
  const c = await LineClient.connect(srv.controlPort);
  assert.match(await c.next(), /^220/);
  c.write("AUTH TLS\r\nNO");
  assert.match(await c.next(), /^234/);
  await c.startTls();
  // "NO" + "OP" would be a NOOP (200); alone, "OP" is not a command.
  assert.match(await c.send("OP"), /^500/);
  assert.match(await c.send("NOOP"), /^200/);
  c.close();
});

test("STARTTLS: a refused AUTH TLS (TLS off) leaves the commands pipelined after it to run as sent", async () => {
  const srv = await startServer();
  servers.push(srv);
  const c = await LineClient.connect(srv.controlPort);
  assert.match(await c.next(), /^220/);
  c.write("AUTH TLS\r\nNOOP\r\nSYST\r\n");
  assert.match(await c.next(), /^502/);
  assert.match(await c.next(), /^200/);
  assert.match(await c.next(), /^215/);
  c.close();
});

test("FEAT: AUTH TLS/PBSZ/PROT only with TLS configured, EPRT only with active mode on", async () => {
  const on = await tlsServer({ activeMode: true });
  const off = await startServer();
  servers.push(off);
  const feat = async (port: number): Promise<string> => {
    const c = await LineClient.connect(port);
    await c.next();
    c.write("FEAT\r\n");
    // LineClient keeps final lines only; read the raw reply instead.
    const text = await new Promise<string>((resolve) => {
      let buf = "";
      c.socket.on("data", (d: Buffer) => {
        buf += d.toString();
        if (/\r\n211 [^\r\n]*\r\n$/.test(buf)) resolve(buf);
      });
    });
    c.close();
    return text;
  };
  const withTls = await feat(on.controlPort);
  for (const f of ["AUTH TLS", "PBSZ", "PROT", "EPRT", "EPSV"]) assert.match(withTls, new RegExp(`\\r\\n ${f}\\r\\n`), f);
  const plain = await feat(off.controlPort);
  for (const f of ["AUTH TLS", "PBSZ", "PROT", "EPRT"]) assert.doesNotMatch(plain, new RegExp(`\\r\\n ${f}\\r\\n`), f);
  assert.match(plain, /\r\n EPSV\r\n/);
});

test("OPTS UTF8: ON is acknowledged, OFF is refused (names are always UTF-8), junk is a syntax error", async () => {
  const srv = await startServer();
  servers.push(srv);
  const c = await LineClient.connect(srv.controlPort);
  await c.next();
  assert.match(await c.send("OPTS UTF8 ON"), /^200/);
  assert.match(await c.send("OPTS UTF8 OFF"), /^504/);
  assert.match(await c.send("OPTS UTF8 MAYBE"), /^501/);
  assert.match(await c.send("OPTS UTF8"), /^200/);
  c.close();
});

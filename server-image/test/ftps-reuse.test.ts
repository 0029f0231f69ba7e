// FTPS data connections against the real server: in strict mode too a PROT P data connection must
// resume the control connection's TLS session (vsftpd's require_ssl_reuse); a certificate rotation
// keeps resumption working for open sessions; a PROT P upload cut by a bare FIN (no close_notify)
// is not stored; ABOR is answered while the data connection's TLS handshake is pending.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { createHash, randomBytes } from "node:crypto";
import { parseEpsv, startServer, type RunningServer } from "./helpers.ts";
import { makeCert } from "./tls-helpers.ts";
import { ftpsLogin, sleep, tlsOverControlledTcp } from "./hostile.ts";

const servers: RunningServer[] = [];
const tmp: string[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

async function tlsServer(mode: "strict" | "relaxed" = "strict", requireSessionReuse?: boolean): Promise<{ srv: RunningServer; certFile: string; keyFile: string }> {
  const certDir = await mkdtemp(path.join(tmpdir(), "pasv-cert-"));
  tmp.push(certDir);
  const { certFile, keyFile } = makeCert(certDir);
  const srv = await startServer({
    config: (b) => ({
      ...b,
      dataConnectionCheck: mode,
      tls: { mode: "explicit", certFile, keyFile, ...(requireSessionReuse === undefined ? {} : { requireSessionReuse }) },
    }),
  });
  servers.push(srv);
  return { srv, certFile, keyFile };
}

/** A TLS data connection; `reused` is set once its handshake is done. */
function dataTls(port: number, session?: Buffer): TLSSocket & { reused?: boolean } {
  const t: TLSSocket & { reused?: boolean } = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false, servername: "localhost", ...(session ? { session } : {}) });
  t.on("error", () => {});
  t.on("data", () => {});
  t.once("secureConnect", () => (t.reused = t.isSessionReused()));
  return t;
}

test("strict + PROT P: a data connection that does not resume the control TLS session is refused; a resumed one works", async () => {
  const { srv } = await tlsServer("strict");
  const { c, tls } = await ftpsLogin(srv.controlPort);
  let port = parseEpsv(await c.send("EPSV"));
  const fresh = dataTls(port);
  assert.match(await c.send("NLST"), /^150/);
  assert.match(await c.next(), /^425 .*resume/);
  fresh.destroy();

  port = parseEpsv(await c.send("EPSV"));
  const resumed = dataTls(port, tls.getSession());
  assert.match(await c.send("NLST"), /^150/);
  assert.match(await c.next(), /^226/);
  assert.equal(resumed.reused, true);
  resumed.destroy();
  c.close();
});

test("strict + PROT P with tls.requireSessionReuse: false: a fresh data TLS session is accepted (for clients that cannot resume)", async () => {
  const { srv } = await tlsServer("strict", false);
  const { c } = await ftpsLogin(srv.controlPort);
  const port = parseEpsv(await c.send("EPSV"));
  const fresh = dataTls(port);
  assert.match(await c.send("NLST"), /^150/);
  assert.match(await c.next(), /^226/);
  fresh.destroy();
  c.close();
});

test("certificate rotation: an open session's data connections still resume its TLS session; new sessions get the new certificate", async () => {
  const { srv, certFile, keyFile } = await tlsServer("relaxed");
  const { c, tls } = await ftpsLogin(srv.controlPort);
  const oldFp = tls.getPeerCertificate().fingerprint256;
  // Rotate: a new key pair in place of the old files.
  const nextDir = await mkdtemp(path.join(tmpdir(), "pasv-cert-"));
  tmp.push(nextDir);
  const next = makeCert(nextDir);
  const reloadsBefore = srv.logs.filter((l) => l.msg === "config reloaded").length;
  await copyFile(next.keyFile, keyFile);
  await copyFile(next.certFile, certFile);
  await srv.waitForLog(() => srv.logs.filter((l) => l.msg === "config reloaded").length > reloadsBefore, 10_000);

  const port = parseEpsv(await c.send("EPSV"));
  const resumed = dataTls(port, tls.getSession());
  assert.match(await c.send("NLST"), /^150/);
  assert.match(await c.next(), /^226/, "the data connection resumed the pre-rotation session");
  assert.equal(resumed.reused, true);
  resumed.destroy();
  c.close();

  const { c: c2, tls: tls2 } = await ftpsLogin(srv.controlPort);
  assert.notEqual(tls2.getPeerCertificate().fingerprint256, oldFp, "new sessions see the rotated certificate");
  c2.close();
});

test("PROT P upload cut by a bare FIN (no close_notify): 426 and nothing stored; with close_notify: 226 and stored", async () => {
  const { srv } = await tlsServer("strict");
  const { c, tls } = await ftpsLogin(srv.controlPort);
  const home = path.join(srv.root, "alice");
  const payload = randomBytes(3 * 1024 * 1024 + 17);

  // Cut: all bytes sent, then a TCP FIN without the TLS close_notify.
  let port = parseEpsv(await c.send("EPSV"));
  const cut = tlsOverControlledTcp(port, { session: tls.getSession() });
  assert.match(await c.send("STOR cut.bin"), /^150/);
  await cut.secure;
  await new Promise<void>((r) => cut.tls.write(payload, () => r()));
  await sleep(200);
  cut.cutTcp();
  assert.match(await c.next(10_000), /^426/);
  const names = await readdir(home);
  assert.ok(!names.includes("cut.bin"), `cut upload stored: ${names.join(",")}`);
  assert.ok(!names.some((n) => n.includes(".pasv-upload-")), `temp file left: ${names.join(",")}`);
  cut.tls.destroy();

  // Clean: same bytes, then close_notify + FIN.
  port = parseEpsv(await c.send("EPSV"));
  const clean = tlsOverControlledTcp(port, { session: tls.getSession() });
  assert.match(await c.send("STOR clean.bin"), /^150/);
  await clean.secure;
  clean.tls.end(payload);
  assert.match(await c.next(10_000), /^226/);
  const stored = await readFile(path.join(home, "clean.bin"));
  assert.equal(createHash("sha256").update(stored).digest("hex"), createHash("sha256").update(payload).digest("hex"));
  c.close();
});

test("ABOR while the data connection's TLS handshake is pending is answered at once (426, 226)", async () => {
  const { srv } = await tlsServer("strict");
  const { c } = await ftpsLogin(srv.controlPort);
  const port = parseEpsv(await c.send("EPSV"));
  const silent = netConnect({ port, host: "127.0.0.1" }); // TCP only: never sends a ClientHello
  silent.on("error", () => {});
  await new Promise((r) => silent.once("connect", r));
  assert.match(await c.send("NLST"), /^150/);
  const t0 = Date.now();
  c.write("ABOR\r\n");
  assert.match(await c.next(2000), /^426/);
  assert.match(await c.next(2000), /^226/);
  assert.ok(Date.now() - t0 < 1500, `ABOR answered after ${Date.now() - t0} ms`);
  assert.match(await c.send("NOOP"), /^200/);
  silent.destroy();
  c.close();
});

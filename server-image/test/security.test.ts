// Security: the per-user root (.., symlinks, renames), the data-connection check (strict,
// relaxed, PROXY protocol on control and data, TLS session reuse under relaxed + PROT P),
// active mode without bounce, and session limits. 127.0.0.2 plays "another host" (loopback).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { mkdir, symlink, writeFile, readdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { RawFtp, startServer, parseEpsv, readData, metricsText, type RunningServer } from "./helpers.ts";
import { buildV1, buildV2Ipv4 } from "../src/proxy-protocol/parse.ts";
import { makeCert } from "./tls-helpers.ts";
import { eventually, within } from "../../test/support/eventually.ts";

const servers: RunningServer[] = [];
const tmp: string[] = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

async function session(port: number, user = "alice", pass = "alice-pw", prefix?: Buffer): Promise<RawFtp> {
  const c = await RawFtp.connect(port);
  if (prefix) c.socket.write(prefix);
  assert.equal((await c.read()).code, 220);
  await c.login(user, pass);
  return c;
}

function connectFrom(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1", localAddress }, () => resolve(s));
    s.once("error", reject);
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((r) => (s.destroyed ? r() : s.once("close", () => r())));
}

test("jail: no path, .. or symlink escapes the user's root", async () => {
  const srv = await startServer();
  servers.push(srv);
  await writeFile(path.join(srv.root, "secret.txt"), "bob's eyes only");
  const home = path.join(srv.root, "alice");
  await mkdir(home, { recursive: true });
  await symlink(path.join(srv.root, "secret.txt"), path.join(home, "link-out"));
  await symlink(srv.root, path.join(home, "dir-out"));
  const c = await session(srv.controlPort);
  for (const cmd of ["CWD ../..", "CWD /../../.."]) {
    assert.equal((await c.cmd(cmd)).code, 250); // lexically clamped to "/"
    assert.equal((await c.cmd("PWD")).text, '257 "/" is the current directory\r\n');
  }
  for (const cmd of [
    "SIZE ../secret.txt",
    "SIZE ../../secret.txt",
    "SIZE link-out",
    "SIZE dir-out/secret.txt",
    "CWD dir-out",
    "MKD dir-out/x",
    "DELE dir-out/secret.txt",
    "RNFR dir-out/secret.txt",
    "MDTM /link-out",
  ]) {
    const r = await c.cmd(cmd);
    assert.equal(r.code, 550, `${cmd}: ${r.text}`);
  }
  let port = parseEpsv((await c.cmd("EPSV")).text);
  let d = readData(port);
  assert.equal((await c.cmd("RETR link-out")).code, 550);
  d.socket.destroy();
  port = parseEpsv((await c.cmd("EPSV")).text);
  d = readData(port);
  assert.equal((await c.cmd("RETR ../../secret.txt")).code, 550);
  d.socket.destroy();
  // Rename into a symlinked directory outside: refused.
  await writeFile(path.join(home, "mine.txt"), "x");
  assert.equal((await c.cmd("RNFR mine.txt")).code, 350);
  assert.equal((await c.cmd("RNTO dir-out/stolen.txt")).code, 550);
  // Upload through the symlinked directory: refused before any data moves.
  port = parseEpsv((await c.cmd("EPSV")).text);
  d = readData(port);
  assert.equal((await c.cmd("STOR dir-out/planted.txt")).code, 550);
  assert.equal((await c.cmd("APPE link-out")).code, 550);
  d.socket.destroy();
  assert.deepEqual((await readdir(srv.root)).sort(), ["alice", "secret.txt"]);
  // DELE of a symlink removes the link, never its target.
  assert.equal((await c.cmd("DELE link-out")).code, 250);
  assert.deepEqual((await readdir(srv.root)).sort(), ["alice", "secret.txt"]);
  c.close();
});

test("strict check: a data connection from another IP is refused, the right one still gets through", async () => {
  const srv = await startServer();
  servers.push(srv);
  const c = await session(srv.controlPort);
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const intruder = await connectFrom(port, "127.0.0.2");
  await closed(intruder);
  const d = readData(port);
  assert.equal((await c.cmd("NLST")).code, 150);
  await d.done;
  assert.equal((await c.read()).code, 226);
  assert.match(await metricsText(srv.metricsPort!), /ftp_data_connections_rejected_total\{reason="peer_mismatch"\} 1/);
  c.close();
});

test("relaxed check: the first connection wins whoever it comes from; a second one is refused", async () => {
  const srv = await startServer({ config: (b) => ({ ...b, dataConnectionCheck: "relaxed" }) });
  servers.push(srv);
  await mkdir(path.join(srv.root, "alice"), { recursive: true });
  await writeFile(path.join(srv.root, "alice", "listed.txt"), "x");
  const c = await session(srv.controlPort);
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const snat = await connectFrom(port, "127.0.0.2"); // e.g. a node IP after SNAT: not the control connection's IP
  const chunks: Buffer[] = [];
  snat.on("data", (x: Buffer) => chunks.push(x));
  // The second connection is either refused by the kernel (the listener closed after the first),
  // or its handshake completed in the kernel's backlog and it is closed without a byte — by the
  // server (counted as extra_connection) or by the listener closing (not counted); all "refused".
  const late = await connectFrom(port, "127.0.0.1").then((s) => s, (e: NodeJS.ErrnoException) => e);
  let lateBytes = 0;
  if (!(late instanceof Error)) late.on("data", (x: Buffer) => (lateBytes += x.length));
  assert.equal((await c.cmd("NLST")).code, 150);
  await within("the first data connection closes after the listing", closed(snat), 5000);
  assert.equal((await c.read()).code, 226);
  assert.match(Buffer.concat(chunks).toString(), /^listed\.txt\r\n$/, "the first connection (from 127.0.0.2) carried the listing");
  if (late instanceof Error) {
    assert.equal(late.code, "ECONNREFUSED", `second connection: ${late.message}`);
  } else {
    await within("the server closes the second data connection", closed(late), 5000);
    assert.equal(lateBytes, 0, "the second connection got no data");
  }
  c.close();
});

test("relaxed + PROT P: the data TLS session must resume the control session", async () => {
  const certDir = await mkdtemp(path.join(tmpdir(), "pasv-cert-"));
  tmp.push(certDir);
  const { certFile, keyFile } = makeCert(certDir);
  const srv = await startServer({ config: (b) => ({ ...b, dataConnectionCheck: "relaxed", tls: { mode: "explicit", certFile, keyFile } }) });
  servers.push(srv);
  const raw = connect({ port: srv.controlPort, host: "127.0.0.1" });
  await new Promise((r) => raw.once("connect", r));
  const lines: string[] = [];
  let buf = "";
  const next = async (): Promise<string> => {
    await eventually("a reply line on the control connection", () => lines.length > 0, 5000, 10);
    return lines.shift()!;
  };
  const onData = (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf("\r\n")) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 2);
    }
  };
  raw.on("data", onData);
  assert.match(await next(), /^220/);
  raw.write("AUTH TLS\r\n");
  assert.match(await next(), /^234/);
  raw.off("data", onData);
  const ctl: TLSSocket = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: "localhost" });
  await new Promise((r) => ctl.once("secureConnect", r));
  ctl.on("data", onData);
  const send = async (l: string) => {
    ctl.write(l + "\r\n");
    return next();
  };
  assert.match(await send("USER alice"), /^331/);
  assert.match(await send("PASS alice-pw"), /^230/);
  assert.match(await send("PBSZ 0"), /^200/);
  assert.match(await send("PROT P"), /^200/);
  await new Promise((r) => setTimeout(r, 100)); // TLS 1.3 tickets arrive after the handshake
  const session = ctl.getSession();
  assert.ok(session, "control TLS session available for reuse");

  // Without resumption: refused.
  let port = parseEpsv(await send("EPSV"));
  const fresh = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false, servername: "localhost" });
  fresh.on("error", () => {});
  assert.match(await send("NLST"), /^150/);
  assert.match(await next(), /^425 .*resume/);
  fresh.destroy();

  // With the control session: accepted.
  port = parseEpsv(await send("EPSV"));
  const resumed = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false, servername: "localhost", session });
  resumed.on("error", () => {});
  resumed.on("data", () => {});
  let reused: boolean | null = null;
  resumed.once("secureConnect", () => (reused = resumed.isSessionReused()));
  assert.match(await send("NLST"), /^150/);
  assert.match(await next(), /^226/);
  assert.equal(reused, true);
  resumed.destroy();
  ctl.destroy();
});

test("PROXY protocol: v1/v2 from a trusted source set the client IP; strict data check uses it; untrusted refused", async () => {
  const srv = await startServer({
    config: (b) => ({
      ...b,
      proxyProtocol: { enabled: true, trustedSources: ["127.0.0.1/32"], onData: true },
      userClasses: [{ name: "internet", match: { fromAddresses: ["203.0.113.0/24"] } }],
      passive: { ...b.passive, addressRules: [{ userClass: "internet", address: "198.51.100.50" }] },
    }),
  });
  servers.push(srv);
  // v1 on control: the class follows the proxied address.
  const c = await session(srv.controlPort, "alice", "alice-pw", buildV1("203.0.113.5", "10.0.0.1", 40000, 21));
  const pasv = await c.cmd("PASV");
  assert.match(pasv.text, /\(198,51,100,50,/);
  const port = parseEpsv((await c.cmd("EPSV")).text);
  // A data connection whose PROXY header names another client: refused.
  const wrong = await connectFrom(port, "127.0.0.1");
  wrong.write(buildV2Ipv4("203.0.113.99", "10.0.0.1", 1234, port));
  await closed(wrong);
  // The right client (v2 header): accepted.
  const right = await connectFrom(port, "127.0.0.1");
  right.write(buildV2Ipv4("203.0.113.5", "10.0.0.1", 1235, port));
  right.on("data", () => {});
  assert.equal((await c.cmd("NLST")).code, 150);
  await closed(right);
  assert.equal((await c.read()).code, 226);
  c.close();
  // Untrusted source (127.0.0.2 is not in trustedSources): connection dropped without a greeting.
  const untrusted = await connectFrom(srv.controlPort, "127.0.0.2");
  untrusted.on("data", () => assert.fail("untrusted source got a greeting"));
  await closed(untrusted);
  // Trusted but no header: dropped.
  const noHeader = await connectFrom(srv.controlPort, "127.0.0.1");
  noHeader.on("error", () => {});
  noHeader.write("USER alice\r\n");
  await closed(noHeader);
});

test("active mode: off by default; when on, only to the client's own address (no bounce)", async () => {
  const off = await startServer();
  servers.push(off);
  const c0 = await session(off.controlPort);
  assert.equal((await c0.cmd("PORT 127,0,0,1,100,100")).code, 502);
  c0.close();

  const srv = await startServer({ config: (b) => ({ ...b, activeMode: { enabled: true } }) });
  servers.push(srv);
  const c = await session(srv.controlPort);
  assert.equal((await c.cmd("PORT 127,0,0,2,100,100")).code, 504, "bounce to another host");
  assert.equal((await c.cmd("EPRT |1|127.0.0.1|25|")).code, 504, "privileged port");
  const listener = createServer();
  const got = new Promise<string>((resolve) =>
    listener.on("connection", (s) => {
      let t = "";
      s.on("data", (d: Buffer) => (t += d.toString()));
      s.on("end", () => resolve(t));
    }),
  );
  await new Promise<void>((r) => listener.listen({ host: "127.0.0.1", port: 0 }, () => r()));
  const lp = (listener.address() as { port: number }).port;
  assert.equal((await c.cmd(`PORT 127,0,0,1,${lp >> 8},${lp & 255}`)).code, 200);
  await writeFile(path.join(srv.root, "alice", "f.txt"), "active!");
  assert.equal((await c.cmd("RETR f.txt")).code, 150);
  assert.equal(await got, "active!");
  assert.equal((await c.read()).code, 226);
  listener.close();
  c.close();
});

test("limits: sessions per IP", async () => {
  const srv = await startServer({ config: (b) => ({ ...b, limits: { ...b.limits!, maxSessionsPerIp: 2 } }) });
  servers.push(srv);
  const a = await RawFtp.connect(srv.controlPort);
  const b = await RawFtp.connect(srv.controlPort);
  assert.equal((await a.read()).code, 220);
  assert.equal((await b.read()).code, 220);
  const c = await RawFtp.connect(srv.controlPort);
  assert.equal((await c.read()).code, 421);
  const d = await RawFtp.connect(srv.controlPort, "127.0.0.1");
  assert.equal((await d.read()).code, 421);
  a.close();
  await new Promise((r) => setTimeout(r, 100));
  const e = await RawFtp.connect(srv.controlPort);
  assert.equal((await e.read()).code, 220);
  for (const x of [b, c, d, e]) x.close();
});

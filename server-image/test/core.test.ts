// Core protocol over a raw control connection: login, PASV/EPSV, LIST, STOR, RETR, REST,
// rename/delete/mkdir, FEAT, SIZE/MDTM/MLST, the command-line cap, failed logins.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile, readdir } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { RawFtp, startServer, parsePasv, parseEpsv, readData, type RunningServer } from "./helpers.ts";

let srv: RunningServer;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv.stop();
});

async function login(user = "alice", pass = "alice-pw"): Promise<RawFtp> {
  const c = await RawFtp.connect(srv.controlPort);
  assert.equal((await c.read()).code, 220);
  await c.login(user, pass);
  return c;
}

test("greeting, FEAT, SYST, unknown command, login required", async () => {
  const c = await RawFtp.connect(srv.controlPort);
  const g = await c.read();
  assert.equal(g.code, 220);
  const feat = await c.cmd("FEAT");
  assert.equal(feat.code, 211);
  for (const f of ["EPSV", "MLST", "SIZE", "MDTM", "REST STREAM", "UTF8"]) assert.match(feat.text, new RegExp(f));
  // This server has no TLS and no active mode: FEAT does not offer them (test/starttls.test.ts checks the other side).
  assert.doesNotMatch(feat.text, /AUTH TLS|EPRT/);
  assert.equal((await c.cmd("SYST")).code, 215);
  assert.equal((await c.cmd("XYZZ")).code, 502);
  assert.equal((await c.cmd("PASV")).code, 530);
  assert.equal((await c.cmd("LIST")).code, 530);
  assert.equal((await c.cmd("QUIT")).code, 221);
  c.close();
});

test("wrong password is refused, three failures close the session", async () => {
  const c = await RawFtp.connect(srv.controlPort);
  await c.read();
  assert.equal((await c.cmd("USER alice")).code, 331);
  assert.equal((await c.cmd("PASS nope")).code, 530);
  assert.equal((await c.cmd("USER ghost")).code, 331);
  assert.equal((await c.cmd("PASS nope")).code, 530);
  assert.equal((await c.cmd("USER alice")).code, 331);
  assert.equal((await c.cmd("PASS nope2")).code, 421);
  c.close();
  const logText = JSON.stringify(srv.logs);
  assert.ok(!logText.includes("nope"), "a password showed up in the logs");
});

test("STOR then RETR over PASV and EPSV, LIST, SIZE, MDTM, MLST, REST", async () => {
  const c = await login();
  const payload = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;

  const p = parsePasv((await c.cmd("PASV")).text);
  assert.equal(p.host, "127.0.0.1");
  assert.ok(p.port >= srv.passive.start && p.port <= srv.passive.end);
  const up = connect({ port: p.port, host: "127.0.0.1" });
  await new Promise((r) => up.once("connect", r));
  const r150 = await c.cmd("STOR big.bin");
  assert.equal(r150.code, 150);
  up.end(payload);
  assert.equal((await c.read(10000)).code, 226);
  assert.ok((await readFile(path.join(srv.root, "alice", "big.bin"))).equals(payload));

  const port = parseEpsv((await c.cmd("EPSV")).text);
  const dl = readData(port);
  assert.equal((await c.cmd("RETR big.bin")).code, 150);
  assert.ok((await dl.done).equals(payload));
  assert.equal((await c.read()).code, 226);

  assert.equal((await c.cmd("REST 1000")).code, 350);
  const port2 = parseEpsv((await c.cmd("EPSV")).text);
  const dl2 = readData(port2);
  assert.equal((await c.cmd("RETR big.bin")).code, 150);
  assert.ok((await dl2.done).equals(payload.subarray(1000)));
  assert.equal((await c.read()).code, 226);

  const port3 = parseEpsv((await c.cmd("EPSV")).text);
  const ls = readData(port3);
  assert.equal((await c.cmd("LIST -la")).code, 150);
  const listing = (await ls.done).toString();
  assert.match(listing, /^-rw-r--r-- 1 ftp ftp +3145745 .* big\.bin\r\n$/);
  assert.equal((await c.read()).code, 226);

  assert.equal((await c.cmd("SIZE big.bin")).text, "213 3145745\r\n");
  assert.match((await c.cmd("MDTM big.bin")).text, /^213 \d{14}\r\n$/);
  assert.match((await c.cmd("MLST big.bin")).text, /type=file;size=3145745;modify=\d{14};perm=radfw; \/big\.bin/);
  const port4 = parseEpsv((await c.cmd("EPSV")).text);
  const ml = readData(port4);
  assert.equal((await c.cmd("MLSD")).code, 150);
  assert.match((await ml.done).toString(), /type=cdir.*\r\ntype=file;size=3145745;.* big\.bin\r\n/s);
  assert.equal((await c.read()).code, 226);
  c.close();
});

test("MKD, CWD, PWD, CDUP, RNFR/RNTO, DELE, RMD, APPE", async () => {
  const c = await login("bob", "bob-pw");
  assert.equal((await c.cmd("MKD sub")).text, '257 "/sub" created\r\n');
  assert.equal((await c.cmd("CWD sub")).code, 250);
  assert.equal((await c.cmd("PWD")).text, '257 "/sub" is the current directory\r\n');
  await writeFile(path.join(srv.root, "bob", "sub", "a.txt"), "hello ");
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const up = connect({ port, host: "127.0.0.1" });
  await new Promise((r) => up.once("connect", r));
  assert.equal((await c.cmd("APPE a.txt")).code, 150);
  up.end("world");
  assert.equal((await c.read()).code, 226);
  assert.equal(await readFile(path.join(srv.root, "bob", "sub", "a.txt"), "utf8"), "hello world");
  assert.equal((await c.cmd("RNFR a.txt")).code, 350);
  assert.equal((await c.cmd("RNTO /b.txt")).code, 250);
  assert.equal((await c.cmd("CDUP")).code, 250);
  assert.equal((await c.cmd("PWD")).text, '257 "/" is the current directory\r\n');
  assert.equal((await c.cmd("RMD sub")).code, 250);
  assert.equal((await c.cmd("DELE b.txt")).code, 250);
  assert.equal((await c.cmd("DELE b.txt")).code, 550);
  assert.equal((await c.cmd("RNTO x")).code, 503);
  c.close();
});

test("an overlong command line gets 500 and the session goes on", async () => {
  const c = await login();
  c.socket.write("NOOP " + "x".repeat(10000) + "\r\n");
  assert.equal((await c.read()).code, 500);
  assert.equal((await c.cmd("NOOP")).code, 200);
  c.close();
});

test("a cut upload leaves no file under the final name", async () => {
  const c = await login();
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const up = connect({ port, host: "127.0.0.1" });
  await new Promise((r) => up.once("connect", r));
  assert.equal((await c.cmd("STOR cut.bin")).code, 150);
  up.write(Buffer.alloc(256 * 1024, 1));
  await new Promise((r) => setTimeout(r, 100));
  up.resetAndDestroy();
  const r = await c.read();
  assert.equal(r.code, 426);
  const names = await readdir(path.join(srv.root, "alice"));
  assert.ok(!names.includes("cut.bin"), `cut.bin exists: ${names.join(",")}`);
  assert.ok(!names.some((n) => n.includes("pasv-upload")), `temp file left: ${names.join(",")}`);
  c.close();
});

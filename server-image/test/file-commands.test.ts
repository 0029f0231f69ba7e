// File commands against hostile or unusual input: REST beyond the end + STOR, RETR of FIFOs,
// long multibyte names, upload temp files (names, hiding, stale clean-up) and OPTS MLST. The real
// server runs stand-alone on 127.0.0.1 (helpers.ts).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, writeFile, readFile, readdir, stat, utimes, open } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { hostname } from "node:os";
import path from "node:path";
import { RawFtp, epsvUpload, startServer, parseEpsv, readData, requireTool, type RunningServer } from "./helpers.ts";

const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function session(srv: RunningServer): Promise<RawFtp> {
  const c = await RawFtp.connect(srv.controlPort);
  assert.equal((await c.read()).code, 220);
  await c.login("alice", "alice-pw");
  return c;
}

const upload = epsvUpload;

async function download(c: RawFtp, line: string, timeoutMs = 5000): Promise<{ code: number; text: string; data: Buffer }> {
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const d = readData(port);
  d.done.catch(() => {});
  const first = await c.cmd(line, timeoutMs);
  if (first.code !== 150) {
    d.socket.destroy();
    return { ...first, data: Buffer.alloc(0) };
  }
  const data = await d.done;
  return { ...(await c.read(timeoutMs)), data };
}

test("REST beyond the end + STOR is refused (554) and makes no sparse file", async () => {
  const srv = await startServer();
  servers.push(srv);
  const c = await session(srv);
  const home = path.join(srv.root, "alice");
  assert.equal((await upload(c, "STOR small.bin", Buffer.alloc(10, 1))).code, 226);
  assert.equal((await c.cmd("REST 1000000000000")).code, 350);
  const r = await upload(c, "STOR small.bin", Buffer.from("tail"));
  assert.equal(r.code, 554, r.text);
  const st = await stat(path.join(home, "small.bin"));
  assert.equal(st.size, 10);
  assert.equal((await c.cmd("REST 5")).code, 350);
  assert.equal((await upload(c, "STOR missing.bin", Buffer.from("tail"))).code, 554, "a missing file has no byte 5");
  assert.deepEqual(await readdir(home), ["small.bin"]);
  assert.equal((await c.cmd("REST 10")).code, 350);
  assert.equal((await upload(c, "STOR small.bin", Buffer.from("more"))).code, 226, "resuming at the end still works");
  assert.equal((await stat(path.join(home, "small.bin"))).size, 14);
  c.close();
});

test("RETR of FIFOs is refused at once and does not block the server's worker threads", async () => {
  requireTool("mkfifo");
  const srv = await startServer();
  servers.push(srv);
  const home = path.join(srv.root, "alice");
  await mkdir(home, { recursive: true });
  await writeFile(path.join(home, "ok.txt"), "still served");
  // More FIFOs than libuv has worker threads (4 by default).
  const fifos = Array.from({ length: 8 }, (_, i) => `fifo-${i}`);
  for (const f of fifos) execFileSync("mkfifo", [path.join(home, f)]);
  const c = await session(srv);
  try {
    for (const f of fifos) {
      const r = await download(c, `RETR ${f}`, 2000);
      assert.equal(r.code, 550, `RETR ${f}: ${r.text}`);
      assert.equal((await c.cmd(`SIZE ${f}`, 2000)).code, 550);
      assert.equal((await upload(c, `APPE ${f}`, Buffer.from("x"))).code, 550);
    }
    const t0 = Date.now();
    const ok = await download(c, "RETR ok.txt", 2000);
    assert.equal(ok.data.toString(), "still served");
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    c.close();
    // Unblock anything a broken server may still have open on the FIFOs.
    for (const f of fifos) {
      const h = await open(path.join(home, f), "r+").catch(() => null);
      await h?.close();
    }
  }
});

test("STOR of a 255-byte multibyte name works; the name is listed and read back", async () => {
  const srv = await startServer();
  servers.push(srv);
  const c = await session(srv);
  const name = "日".repeat(85); // 85 x 3 bytes = 255, the file system's limit
  assert.equal(Buffer.byteLength(name), 255);
  const r = await upload(c, `STOR ${name}`, Buffer.from("cjk"));
  assert.equal(r.code, 226, r.text);
  assert.deepEqual(await readdir(path.join(srv.root, "alice")), [name]);
  assert.equal((await download(c, `RETR ${name}`)).data.toString(), "cjk");
  assert.ok((await download(c, "NLST")).data.toString().includes(name));
  const tooLong = await upload(c, `STOR ${name}x`, Buffer.from("x"));
  assert.equal(tooLong.code, 550, tooLong.text);
  c.close();
});

test("upload temp files: pod + random in the name, never listed or downloadable, stale ones removed (LIST, start)", async () => {
  const srv = await startServer();
  servers.push(srv);
  const home = path.join(srv.root, "alice");
  await mkdir(path.join(home, "sub"), { recursive: true });
  const c = await session(srv);
  // An upload in flight: the client sends a little and waits.
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const sock: Socket = connect({ port, host: "127.0.0.1" });
  sock.on("error", () => {});
  await new Promise((r) => sock.once("connect", r));
  assert.equal((await c.cmd("STOR slow.bin")).code, 150);
  sock.write("partial");
  let temp = "";
  for (let i = 0; i < 100 && !temp; i++) {
    temp = (await readdir(home)).find((n) => n.startsWith(".pasv-upload-")) ?? "";
    if (!temp) await new Promise((r) => setTimeout(r, 20));
  }
  const pod = hostname().replace(/[^A-Za-z0-9-]/g, "").slice(0, 40);
  assert.match(temp, new RegExp(`^\\.pasv-upload-${pod}-[0-9a-f]{16}$`), "temp name = mark + pod + 64 random bits");
  const c2 = await session(srv);
  for (const line of ["LIST -a", "NLST", "MLSD"]) {
    const l = await download(c2, line);
    assert.ok(!l.data.toString().includes(".pasv-upload-"), `${line} hides the temp file: ${l.data.toString()}`);
  }
  assert.equal((await download(c2, `RETR ${temp}`)).code, 550);
  assert.equal((await c2.cmd(`SIZE ${temp}`)).code, 550);
  assert.equal((await c2.cmd(`DELE ${temp}`)).code, 550, "another session cannot delete an upload in flight");
  assert.equal((await upload(c2, `STOR x${temp}`, Buffer.from("x"))).code, 550, "the mark is a reserved name");
  sock.end("-rest");
  assert.equal((await c.read()).code, 226);
  assert.equal(await readFile(path.join(home, "slow.bin"), "utf8"), "partial-rest");

  // Temp files of a dead pod: a fresh one stays (its upload may be running elsewhere), stale ones go.
  const old = new Date(Date.now() - 60 * 60 * 1000);
  const staleTop = path.join(home, ".pasv-upload-deadpod-00000000000000aa");
  const staleSub = path.join(home, "sub", ".pasv-upload-deadpod-00000000000000bb");
  const fresh = path.join(home, "sub", ".pasv-upload-otherpod-00000000000000cc");
  for (const p of [staleTop, staleSub, fresh]) await writeFile(p, "left over");
  await utimes(staleTop, old, old);
  await utimes(staleSub, old, old);
  assert.equal((await download(c2, "LIST sub")).code, 226);
  assert.deepEqual((await readdir(path.join(home, "sub"))).sort(), [path.basename(fresh)], "LIST removed the stale temp file in sub");
  c.close();
  c2.close();
  // A server starting on the same volume sweeps the rest.
  const next = await startServer({ config: (b) => ({ ...b, storage: { root: srv.root } }) });
  servers.push(next);
  let left: string[] = [];
  for (let i = 0; i < 100; i++) {
    left = (await readdir(home)).filter((n) => n.startsWith(".pasv-upload-"));
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(left, [], "the start sweep removed the stale temp file at the top");
  assert.deepEqual(await readdir(path.join(home, "sub")), [path.basename(fresh)], "the fresh one is kept");
});

test("OPTS MLST selects the facts MLST and MLSD show", async () => {
  const srv = await startServer();
  servers.push(srv);
  const c = await session(srv);
  assert.equal((await upload(c, "STOR f.txt", Buffer.from("12345"))).code, 226);
  assert.match((await c.cmd("MLST f.txt")).text, /type=file;size=5;modify=\d{14};perm=radfw; \/f\.txt/);
  const r = await c.cmd("OPTS MLST size;Type;bogus;");
  assert.equal(r.code, 200);
  assert.match(r.text, /MLST OPTS type;size;/);
  assert.match((await c.cmd("MLST f.txt")).text, /\r\n type=file;size=5; \/f\.txt\r\n/);
  assert.match((await download(c, "MLSD")).data.toString(), /^type=cdir;size=\d+; \.\r\ntype=file;size=5; f\.txt\r\n$/);
  assert.equal((await c.cmd("OPTS MLST")).code, 200);
  assert.match((await c.cmd("MLST f.txt")).text, /\r\n  \/f\.txt\r\n/, "no facts at all");
  c.close();
});

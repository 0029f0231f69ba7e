// Per-user permissions and quotas from the users file (docs/users-file.md): read-only, no-delete,
// no-rename, quota in bytes and files (552), and the MLSx perm fact that reflects them. The real
// server runs stand-alone on 127.0.0.1; uploads also go through curl, a real client.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdir, writeFile, readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { RawFtp, epsvUpload, startServer, parseEpsv, readData, requireTool, type RunningServer } from "./helpers.ts";
import { hashPassword } from "../src/auth/password.ts";

const run = promisify(execFile);
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

interface UserSpec {
  name: string;
  permissions?: { write?: boolean; delete?: boolean; rename?: boolean };
  quota?: { bytes?: number; files?: number };
}

/** A server whose users file carries permissions/quota (password = name + "-pw"). */
async function serverWith(users: UserSpec[]): Promise<RunningServer> {
  const srv = await startServer();
  servers.push(srv);
  const list = await Promise.all(users.map(async (u) => ({ ...u, password: await hashPassword(`${u.name}-pw`, { N: 1024, r: 8, p: 1 }) })));
  await writeFile(srv.usersPath, JSON.stringify({ users: list }, null, 2));
  await srv.waitForLog((l) => l.msg === "users file reloaded" && l.users === users.length);
  for (const u of users) await mkdir(path.join(srv.root, u.name), { recursive: true });
  return srv;
}

async function login(srv: RunningServer, name: string): Promise<RawFtp> {
  const c = await RawFtp.connect(srv.controlPort);
  assert.equal((await c.read()).code, 220);
  await c.login(name, `${name}-pw`);
  return c;
}

const upload = epsvUpload;

async function download(c: RawFtp, line: string): Promise<{ code: number; data: Buffer }> {
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const d = readData(port);
  d.done.catch(() => {});
  const first = await c.cmd(line);
  if (first.code !== 150) {
    d.socket.destroy();
    return { code: first.code, data: Buffer.alloc(0) };
  }
  const data = await d.done;
  return { code: (await c.read()).code, data };
}

test("permissions: a read-only user lists and downloads, and every change is refused with 550", async () => {
  const srv = await serverWith([{ name: "reader", permissions: { write: false } }]);
  const home = path.join(srv.root, "reader");
  await mkdir(path.join(home, "dir"));
  await writeFile(path.join(home, "f.txt"), "content");
  const c = await login(srv, "reader");
  assert.equal((await download(c, "RETR f.txt")).data.toString(), "content");
  assert.equal((await download(c, "NLST")).code, 226);
  for (const line of ["DELE f.txt", "MKD new", "RMD dir", "RNFR f.txt"]) {
    const r = await c.cmd(line);
    assert.equal(r.code, 550, `${line}: ${r.text}`);
  }
  assert.equal((await upload(c, "STOR g.txt", Buffer.from("x"))).code, 550);
  assert.equal((await upload(c, "APPE f.txt", Buffer.from("x"))).code, 550);
  const mlst = (await c.cmd("MLST f.txt")).text;
  assert.match(mlst, /perm=r;/, mlst); // read, nothing else
  const mlsd = (await download(c, "MLSD")).data.toString();
  assert.match(mlsd, /perm=el; dir/, mlsd);
  assert.deepEqual((await readdir(home)).sort(), ["dir", "f.txt"]);
  assert.equal(await readFile(path.join(home, "f.txt"), "utf8"), "content");
  c.close();
});

test("permissions: no-delete refuses DELE, RMD, overwrite and rewind, allows new files, APPE and resume at the end", async () => {
  const srv = await serverWith([{ name: "dropbox", permissions: { delete: false } }]);
  const home = path.join(srv.root, "dropbox");
  await mkdir(path.join(home, "dir"));
  await writeFile(path.join(home, "f.txt"), "original");
  const c = await login(srv, "dropbox");
  assert.equal((await c.cmd("DELE f.txt")).code, 550);
  assert.equal((await c.cmd("RMD dir")).code, 550);
  assert.equal((await upload(c, "STOR f.txt", Buffer.from("overwritten"))).code, 550);
  assert.equal((await c.cmd("REST 2")).code, 350);
  assert.equal((await upload(c, "STOR f.txt", Buffer.from("XX"))).code, 550);
  assert.equal(await readFile(path.join(home, "f.txt"), "utf8"), "original");
  assert.equal((await upload(c, "STOR new.txt", Buffer.from("new"))).code, 226);
  assert.equal((await upload(c, "APPE new.txt", Buffer.from("+more"))).code, 226);
  assert.equal((await c.cmd("REST 8")).code, 350);
  assert.equal((await upload(c, "STOR new.txt", Buffer.from("!"))).code, 226); // resume at the end
  assert.equal(await readFile(path.join(home, "new.txt"), "utf8"), "new+more!");
  // A rename onto an existing name would destroy it.
  assert.equal((await c.cmd("RNFR new.txt")).code, 350);
  assert.equal((await c.cmd("RNTO f.txt")).code, 550);
  assert.equal((await c.cmd("RNFR new.txt")).code, 350);
  assert.equal((await c.cmd("RNTO renamed.txt")).code, 250);
  assert.match((await c.cmd("MLST f.txt")).text, /perm=raf;/);
  c.close();
});

test("permissions: no-rename refuses RNFR/RNTO and says so in perm", async () => {
  const srv = await serverWith([{ name: "norename", permissions: { rename: false } }]);
  await writeFile(path.join(srv.root, "norename", "f.txt"), "x");
  const c = await login(srv, "norename");
  assert.equal((await c.cmd("RNFR f.txt")).code, 550);
  assert.equal((await c.cmd("RNTO g.txt")).code, 550);
  assert.match((await c.cmd("MLST f.txt")).text, /perm=radw;/);
  assert.equal((await c.cmd("DELE f.txt")).code, 250);
  c.close();
});

test("quota: bytes and files; an upload that would pass the limit gets 552 and leaves nothing", async () => {
  requireTool("curl");
  const srv = await serverWith([
    { name: "small", quota: { bytes: 3 * 1024 * 1024 } },
    { name: "few", quota: { files: 2 } },
  ]);
  const home = path.join(srv.root, "small");
  await writeFile(path.join(home, "existing.bin"), Buffer.alloc(1024 * 1024, 1));
  const c = await login(srv, "small");
  assert.equal((await upload(c, "STOR a.bin", Buffer.alloc(1024 * 1024, 2))).code, 226); // 2 MiB used
  const big = await upload(c, "STOR b.bin", Buffer.alloc(4 * 1024 * 1024, 3));
  assert.equal(big.code, 552, big.text);
  assert.deepEqual((await readdir(home)).sort(), ["a.bin", "existing.bin"], "no partial or temp file left");
  const app = await upload(c, "APPE a.bin", Buffer.alloc(2 * 1024 * 1024, 4));
  assert.equal(app.code, 552, app.text);
  assert.equal((await readFile(path.join(home, "a.bin"))).length, 1024 * 1024, "APPE over quota is taken back");
  // Replacing a file frees its bytes; deleting frees them too.
  assert.equal((await upload(c, "STOR a.bin", Buffer.alloc(2 * 1024 * 1024, 5))).code, 226);
  assert.equal((await c.cmd("DELE a.bin")).code, 250);
  // curl, a real client, sees the 552 as a failed upload.
  const src = path.join(srv.dir, "three-mib.bin");
  await writeFile(src, Buffer.alloc(3 * 1024 * 1024, 6));
  const r = await run("curl", ["-sS", "-T", src, `ftp://127.0.0.1:${srv.controlPort}/c.bin`, "--user", "small:small-pw"]).then(
    () => "ok",
    (e: { stderr?: string }) => e.stderr ?? "failed",
  );
  assert.match(r, /\(70\)/, `curl reports "remote disk full" (its mapping of 552): ${r}`);
  assert.deepEqual((await readdir(home)).sort(), ["existing.bin"]);
  c.close();

  const f = await login(srv, "few");
  assert.equal((await upload(f, "STOR 1.txt", Buffer.from("1"))).code, 226);
  assert.equal((await upload(f, "STOR 2.txt", Buffer.from("2"))).code, 226);
  const third = await upload(f, "STOR 3.txt", Buffer.from("3"));
  assert.equal(third.code, 552, third.text);
  assert.equal((await upload(f, "STOR 2.txt", Buffer.from("22"))).code, 226, "replacing a file adds none");
  assert.deepEqual((await readdir(path.join(srv.root, "few"))).sort(), ["1.txt", "2.txt"]);
  f.close();
});

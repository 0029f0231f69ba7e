// lftp: mirror a directory tree up (mirror -R) and down again, plain and over explicit FTPS.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, mkdir, writeFile, readFile, readdir, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { requireTool, startServer, type RunningServer } from "./helpers.ts";
import { makeCert } from "./tls-helpers.ts";

const run = promisify(execFile);
let srv: RunningServer;
let work: string;

before(async () => {
  requireTool("lftp");
  work = await mkdtemp(path.join(tmpdir(), "pasv-lftp-"));
  const { certFile, keyFile } = makeCert(work);
  srv = await startServer({ config: (b) => ({ ...b, tls: { mode: "explicit", certFile, keyFile } }) });
});
after(async () => {
  await srv.stop();
  await rm(work, { recursive: true, force: true });
});

async function lftp(script: string, tls: boolean): Promise<string> {
  const settings = [
    "set net:max-retries 1",
    "set net:timeout 15",
    "set net:reconnect-interval-base 1",
    "set ftp:passive-mode on",
    "set cmd:fail-exit yes",
    tls ? "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no" : "set ftp:ssl-allow no",
  ].join("; ");
  const { stdout } = await run(
    "lftp",
    ["-u", "alice,alice-pw", "-p", String(srv.controlPort), "-e", `${settings}; ${script}; quit`, "127.0.0.1"],
    { timeout: 60_000 },
  );
  return stdout;
}

async function makeTree(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const rel of ["a.txt", "b/c.bin", "b/d/e.bin", "b/d/empty.txt", "f g/h i.txt"]) {
    const data = rel.endsWith("empty.txt") ? Buffer.alloc(0) : randomBytes(1000 + Math.floor(Math.random() * 300_000));
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), data);
    files.set(rel, data);
  }
  return files;
}

async function assertTree(root: string, files: Map<string, Buffer>): Promise<void> {
  for (const [rel, data] of files) assert.ok((await readFile(path.join(root, rel))).equals(data), `${rel} differs`);
  const all = (await readdir(root, { recursive: true, withFileTypes: true })).filter((d) => d.isFile());
  assert.equal(all.length, files.size);
}

for (const tls of [false, true]) {
  test(`lftp mirror up and down${tls ? " over FTPS" : ""}`, async () => {
    const name = tls ? "tls" : "plain";
    const local = path.join(work, `${name}-src`);
    const files = await makeTree(local);
    await lftp(`mirror -R ${local} /${name}`, tls);
    await assertTree(path.join(srv.root, "alice", name), files);
    const back = path.join(work, `${name}-back`);
    await lftp(`mirror /${name} ${back}`, tls);
    await assertTree(back, files);
  });
}

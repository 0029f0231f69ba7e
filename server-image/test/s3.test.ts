// The S3 storage backend (fs/s3.ts) against a real S3 server (SeaweedFS, ./seaweedfs.ts), with
// real clients (curl, the raw client of ./helpers.ts): two server processes on one bucket stand
// for two pods. Needs `make seaweedfs` (a prerequisite of `make integration` and `make server-s3-test`).
//
//   one namespace: STOR through one server, LIST/MLSD/SIZE/RETR through the other, byte-identical;
//   RETR after REST (a ranged GET); directories (MKD marker, CWD, RMD), RNFR/RNTO, DELE;
//   a cut upload leaves no object and no unfinished multipart upload; APPE answers 504;
//   1 GiB STOR with the server's RSS sampled (growth < 64 MB, no temp file) and RETR through the
//   other server, byte-identical.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { RawFtp, parseEpsv, requireTool, startServer, type RunningServer } from "./helpers.ts";
import { startWeed, type Weed } from "./seaweedfs.ts";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const BUCKET = "ftp";
const PREFIX = "pods/";
const LOCAL_ROOT = path.join(tmpdir(), `pasv-s3-unused-root-${process.pid}`);

let weed: Weed;
let podA: RunningServer;
let podB: RunningServer;
let work: string;

function s3Server(): Promise<RunningServer> {
  return startServer({
    config: (b) => ({
      ...b,
      storage: { type: "s3", root: LOCAL_ROOT, s3: { endpoint: weed.endpoint, region: weed.region, bucket: BUCKET, prefix: PREFIX, forcePathStyle: true } },
    }),
    env: weed.env,
  });
}

before(async () => {
  requireTool("curl");
  weed = await startWeed();
  await weed.createBucket(BUCKET);
  [podA, podB] = await Promise.all([s3Server(), s3Server()]);
  work = await mkdtemp(path.join(tmpdir(), "pasv-s3-"));
});
after(async () => {
  await podA?.stop();
  await podB?.stop();
  await weed?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function curl(args: string[]): Promise<string> {
  const { stdout } = await run("curl", ["-sS", "--max-time", "60", ...args], { maxBuffer: 64 * MiB });
  return stdout;
}
const url = (srv: RunningServer, p: string) => `ftp://alice:alice-pw@127.0.0.1:${srv.controlPort}/${p}`;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function login(srv: RunningServer): Promise<RawFtp> {
  const c = await RawFtp.connect(srv.controlPort);
  await c.read();
  await c.login("alice", "alice-pw");
  return c;
}

async function keys(prefix: string): Promise<string[]> {
  const r = await weed.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key ?? "");
}

async function unfinishedUploads(): Promise<string[]> {
  const r = await weed.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: PREFIX }));
  return (r.Uploads ?? []).map((u) => u.Key ?? "");
}

test("s3: STOR through one server, LIST/MLSD/SIZE/RETR through the other — one namespace, byte-identical, stored as <prefix><home>/<path>", async () => {
  const small = randomBytes(1000);
  const multi = randomBytes(20 * MiB + 123); // three 8 MiB parts: a real multipart upload
  await writeFile(path.join(work, "small.bin"), small);
  await writeFile(path.join(work, "multi.bin"), multi);
  await curl(["-T", path.join(work, "small.bin"), url(podA, "small.bin")]);
  await curl(["-T", path.join(work, "multi.bin"), url(podA, "multi.bin")]);

  const listing = await curl([url(podB, "")]);
  assert.match(listing, /^-rw-r--r-- 1 ftp ftp +1000 .* small\.bin\r?$/m);
  assert.match(listing, new RegExp(`^-rw-r--r-- 1 ftp ftp +${multi.length} .* multi\\.bin\\r?$`, "m"));
  const b = await login(podB);
  assert.match((await b.cmd("SIZE multi.bin")).text, new RegExp(`^213 ${multi.length}\\r?\\n?$`));
  b.close();
  assert.equal(sha(Buffer.from(await runBinary(["-o", "-", url(podB, "multi.bin")]))), sha(multi));
  assert.ok((await runBinary(["-o", "-", url(podB, "small.bin")])).equals(small));
  const head = await weed.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}alice/multi.bin` }));
  assert.equal(head.ContentLength, multi.length);
  assert.deepEqual(await unfinishedUploads(), []);
  // Nothing went to local disk: the (unused) local storage root was never even created.
  assert.equal(existsSync(LOCAL_ROOT), false);
});

async function runBinary(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn("curl", ["-sS", "--max-time", "120", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.once("exit", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`curl exited ${code}: ${err}`))));
  });
}

test("s3: RETR after REST returns the file from the offset (a ranged GET), through the other server", async () => {
  const data = randomBytes(10 * MiB + 7);
  await writeFile(path.join(work, "rest.bin"), data);
  await curl(["-T", path.join(work, "rest.bin"), url(podA, "rest.bin")]);
  const offset = 3 * MiB + 5;
  // curl's -r "N-" on ftp:// sends REST N before RETR.
  const tail = await runBinary(["-r", `${offset}-`, "-o", "-", url(podB, "rest.bin")]);
  assert.equal(tail.length, data.length - offset);
  assert.ok(tail.equals(data.subarray(offset)));
  const c = await login(podB);
  assert.equal((await c.cmd(`REST ${data.length + 1}`)).code, 350);
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const sock = connect({ port, host: "127.0.0.1" });
  sock.on("error", () => {});
  assert.equal((await c.cmd("RETR rest.bin")).code, 554);
  sock.destroy();
  c.close();
});

test("s3: directories are prefixes (MKD marker, CWD, MLSD), RNFR/RNTO copies, DELE and RMD remove; seen by both servers", async () => {
  const a = await login(podA);
  assert.equal((await a.cmd("MKD docs")).code, 257);
  assert.equal((await a.cmd("MKD docs")).code, 550, "MKD of an existing directory");
  assert.equal((await a.cmd("MKD nowhere/sub")).code, 550, "MKD below a missing directory");
  assert.ok((await keys(`${PREFIX}alice/docs/`)).includes(`${PREFIX}alice/docs/`), "marker object");
  await writeFile(path.join(work, "r.txt"), "report");
  await curl(["-T", path.join(work, "r.txt"), url(podA, "docs/r.txt")]);

  const b = await login(podB);
  assert.equal((await b.cmd("CWD docs")).code, 250);
  assert.match((await b.cmd("PWD")).text, /^257 "\/docs" is the current directory/);
  assert.equal((await b.cmd("CWD /missing")).code, 550);
  const mlsd = await curl(["-X", "MLSD", url(podB, "")]);
  assert.match(mlsd, /type=dir;[^\r\n]* docs\r?$/m);
  assert.equal((await b.cmd("RNFR /docs/r.txt")).code, 350);
  assert.equal((await b.cmd("RNTO /docs/renamed.txt")).code, 250);
  assert.equal((await b.cmd("RMD /docs")).code, 550, "RMD of a directory that is not empty");
  b.close();

  assert.equal(await curl([url(podA, "docs/renamed.txt")]), "report");
  assert.ok(!(await keys(`${PREFIX}alice/docs/`)).includes(`${PREFIX}alice/docs/r.txt`), "the old name is gone");
  assert.equal((await a.cmd("RNFR docs")).code, 350);
  const rn = await a.cmd("RNTO papers");
  assert.equal(rn.code, 250, `a directory rename: ${rn.text}`);
  assert.equal(await curl([url(podB, "papers/renamed.txt")]), "report");
  assert.equal((await a.cmd("DELE papers/renamed.txt")).code, 250);
  assert.equal((await a.cmd("DELE papers/renamed.txt")).code, 550);
  assert.equal((await a.cmd("RMD papers")).code, 250);
  assert.deepEqual(await keys(`${PREFIX}alice/papers/`), []);
  assert.deepEqual(await keys(`${PREFIX}alice/docs/`), []);
  assert.equal((await a.cmd("CWD papers")).code, 550);
  // APPE and REST+STOR would need an object to grow in place: refused, clearly.
  const port = parseEpsv((await a.cmd("EPSV")).text);
  const sock = connect({ port, host: "127.0.0.1" });
  sock.on("error", () => {});
  assert.equal((await a.cmd("APPE small.bin")).code, 504);
  sock.destroy();
  a.close();
});

test("s3: an upload cut after several parts leaves no object and no unfinished multipart upload", async () => {
  const c = await login(podA);
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const up = connect({ port, host: "127.0.0.1" });
  up.on("error", () => {});
  await new Promise((r) => up.once("connect", r));
  assert.equal((await c.cmd("STOR cut.bin")).code, 150);
  await new Promise((r) => up.write(randomBytes(19 * MiB), r)); // two parts sent, a third filling
  await new Promise((r) => setTimeout(r, 1000));
  up.resetAndDestroy();
  assert.equal((await c.read(30_000)).code, 426);
  c.close();
  assert.ok(!(await keys(`${PREFIX}alice/`)).includes(`${PREFIX}alice/cut.bin`), "no object under the final name");
  assert.deepEqual(await unfinishedUploads(), [], "the multipart upload was aborted");
  const listing = await curl([url(podB, "")]);
  assert.doesNotMatch(listing, /cut\.bin/);
});

/** The process's resident set (VmRSS), 0 once it is gone. */
function rssBytes(pid: number): number {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return 0;
  }
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

test("s3: 1 GiB STOR with the server's RSS sampled (growth < 64 MB), RETR through the other server byte-identical", { timeout: 280_000 }, async () => {
  const total = 1024 * MiB;
  const block = randomBytes(MiB);
  const pid = podA.proc.pid!;
  // Warm up (the SDK and the transfer buffers are loaded), then take the baseline.
  await writeFile(path.join(work, "warm.bin"), randomBytes(9 * MiB));
  await curl(["-T", path.join(work, "warm.bin"), url(podA, "warm.bin")]);
  await new Promise((r) => setTimeout(r, 500));
  const baseline = rssBytes(pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 200);

  const up = createHash("sha256");
  const started = Date.now();
  try {
    await new Promise<void>((resolve, reject) => {
      const p = spawn("curl", ["-sS", "--max-time", "200", "-T", "-", url(podA, "big.bin")], { stdio: ["pipe", "ignore", "pipe"] });
      let err = "";
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`curl exited ${code}: ${err}`))));
      p.stdin.on("error", reject);
      let i = 0;
      const pump = () => {
        while (i < total / MiB) {
          const chunk = Buffer.from(block);
          chunk.writeUInt32BE(i, 0); // every MiB differs
          up.update(chunk);
          i++;
          if (!p.stdin.write(chunk)) return void p.stdin.once("drain", pump);
        }
        p.stdin.end();
      };
      pump();
    });
  } finally {
    clearInterval(sampler);
  }
  const storSeconds = (Date.now() - started) / 1000;
  const growth = peak - baseline;
  console.log(`1 GiB STOR to S3 in ${storSeconds.toFixed(1)} s (${(1024 / storSeconds).toFixed(0)} MiB/s); server RSS ${(baseline / MiB).toFixed(0)} MiB -> peak ${(peak / MiB).toFixed(0)} MiB (growth ${(growth / MiB).toFixed(1)} MiB)`);
  assert.ok(growth < 64 * 1000 * 1000, `RSS grew by ${(growth / MiB).toFixed(1)} MiB during a 1 GiB upload`);
  const head = await weed.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}alice/big.bin` }));
  assert.equal(head.ContentLength, total);

  const down = createHash("sha256");
  let got = 0;
  const t1 = Date.now();
  await new Promise<void>((resolve, reject) => {
    const p = spawn("curl", ["-sS", "--max-time", "200", "-o", "-", url(podB, "big.bin")], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    p.stdout.on("data", (d: Buffer) => {
      down.update(d);
      got += d.length;
    });
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`curl exited ${code}: ${err}`))));
  });
  console.log(`1 GiB RETR from S3 in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  assert.equal(got, total);
  assert.equal(down.digest("hex"), up.digest("hex"));
  const c = await login(podA);
  assert.equal((await c.cmd("DELE big.bin")).code, 250);
  c.close();
});

test("s3: a missing bucket answers a clear error, the server stays up", async () => {
  const srv = await startServer({
    config: (b) => ({
      ...b,
      storage: { type: "s3", s3: { endpoint: weed.endpoint, region: weed.region, bucket: "no-such-bucket", forcePathStyle: true } },
    }),
    env: weed.env,
  });
  try {
    const c = await login(srv);
    const r = await c.cmd("SIZE x.bin");
    assert.ok(r.code === 451 || r.code === 550, `${r.code} ${r.text}`);
    assert.equal((await c.cmd("NOOP")).code, 200);
    c.close();
  } finally {
    await srv.stop();
  }
});

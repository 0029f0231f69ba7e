// Hostile clients against the real server (beside fuzz.test.ts, which throws random input at it):
// clients that pipeline and never read, slowloris partial lines, sessions that never log in,
// transfers left waiting, upload and download buffer hoarders, BSD-style urgent ABOR, password
// timing probes, and a crowd of all of them at once. Each test asserts the replies and that
// resources stay bounded (server RSS, open fds, transfer buffers in use from /metrics), and is
// bounded in count and time (each well under 60 s).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { connect, type Socket } from "node:net";
import { readdir, writeFile } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { RawFtp, parseEpsv, readData, requireTool, startServer, type RunningServer } from "./helpers.ts";
import { LineClient, fdCount, latencyProbe, median, metric, rssBytes, sleep, until } from "./hostile.ts";

const run = promisify(execFile);
const servers: RunningServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function server(opts: Parameters<typeof startServer>[0] = {}): Promise<RunningServer> {
  const srv = await startServer(opts);
  servers.push(srv);
  return srv;
}

async function loggedIn(port: number, user = "alice", pass = `${user}-pw`): Promise<RawFtp> {
  const c = await RawFtp.connect(port);
  await c.read();
  await c.login(user, pass);
  return c;
}

async function aliceFile(srv: RunningServer, name: string, size: number): Promise<void> {
  const home = path.join(srv.root, "alice");
  await mkdir(home, { recursive: true });
  await writeFile(path.join(home, name), randomBytes(size));
}

function count(haystack: string, needle: string): number {
  let n = 0;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + needle.length)) n++;
  return n;
}

test("backpressure: 100,000 commands pipelined by a client that never reads: RSS grows < 20 MB, other sessions answered within 1 s", async (t) => {
  const srv = await server();
  const pid = srv.proc.pid!;
  // Warm up (first login, first HELP) so the baseline is not the cold process.
  const warm = await loggedIn(srv.controlPort);
  await warm.cmd("HELP");
  warm.close();
  await sleep(300);
  const base = rssBytes(pid);

  const probe = await latencyProbe(srv.controlPort, 100);
  const hostile: Socket = connect({ port: srv.controlPort, host: "127.0.0.1" });
  await new Promise((r) => hostile.once("connect", r));
  hostile.pause(); // never reads: its receive window fills, then the server's send buffer
  const N = 100_000;
  hostile.write("HELP\r\n".repeat(N)); // HELP: ~400 reply bytes per 6 command bytes
  let peak = base;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    peak = Math.max(peak, rssBytes(pid));
    await sleep(100);
  }
  const lat = await probe.stop();
  const growthMb = (peak - base) / 1024 / 1024;
  t.diagnostic(`RSS base ${(base / 1048576).toFixed(0)} MB, growth ${growthMb.toFixed(1)} MB; probe max ${lat.max.toFixed(0)} ms over ${lat.count} NOOPs`);
  assert.ok(growthMb < 20, `server RSS grew ${growthMb.toFixed(1)} MB (base ${(base / 1048576).toFixed(0)} MB)`);
  assert.ok(lat.count >= 10, `probe ran ${lat.count} times`);
  assert.equal(lat.late, 0, `every probe NOOP answered within 1 s: ${lat.failures.join("; ")}`);
  assert.ok(lat.max < 1000, `slowest probe ${lat.max.toFixed(0)} ms`);

  // Nothing was dropped: once the client reads, all 100,000 answers arrive.
  let got = "";
  let replies = 0;
  hostile.setEncoding("latin1");
  hostile.on("data", (d: string) => {
    got += d;
    const cut = got.lastIndexOf("\r\n");
    if (cut > 0) {
      replies += count(got.slice(0, cut + 2), "\r\n214 Help OK\r\n");
      got = got.slice(cut); // keep "\r\n" so a reply split across chunks is still found
    }
  });
  hostile.resume();
  assert.ok(await until(() => replies >= N, 45_000), `${replies} of ${N} HELP replies`);
  hostile.destroy();
});

test("slowloris: bytes of a partial line do not reset the idle timer", async () => {
  const srv = await server({ config: (b) => ({ ...b, limits: { ...b.limits, idleTimeoutSeconds: 2 } }) });
  const c = await LineClient.connect(srv.controlPort);
  assert.match(await c.next(), /^220/);
  const t0 = Date.now();
  const drip = setInterval(() => c.write("N"), 250); // never a line end
  const closed = await c.waitClosed(6000);
  clearInterval(drip);
  assert.ok(closed, "server closed the dripping connection");
  assert.ok(Date.now() - t0 < 4000, `closed after ${Date.now() - t0} ms (idle timeout 2 s)`);
  assert.match(await c.next().catch(() => ""), /^421/);
  c.close();
});

test("login timeout: a session that never logs in is closed even while it keeps sending NOOPs; a logged-in one is not", async () => {
  const srv = await server({ config: (b) => ({ ...b, limits: { ...b.limits, loginTimeoutSeconds: 2 } }) });
  const anon = await LineClient.connect(srv.controlPort);
  assert.match(await anon.next(), /^220/);
  const user = await loggedIn(srv.controlPort);
  const t0 = Date.now();
  let last = "";
  while (!anon.closed && Date.now() - t0 < 6000) {
    last = await anon.send("NOOP").catch(() => last);
    assert.equal((await user.cmd("NOOP")).code, 200);
    await sleep(250);
  }
  assert.ok(anon.closed, "never-logged-in session closed");
  assert.ok(Date.now() - t0 < 4500, `closed after ${Date.now() - t0} ms (login timeout 2 s)`);
  if (!last.startsWith("421")) last = await anon.next(100).catch(() => last); // the 421 came just before the close
  assert.match(last, /^421 Login timeout/);
  assert.equal((await user.cmd("NOOP")).code, 200, "the logged-in session is still open");
  user.close();
  anon.close();
});

test("waiting for the data connection: ABOR and QUIT are answered at once; a data connection after the control connection closed gets nothing", async () => {
  const srv = await server();
  await aliceFile(srv, "f.bin", 200_000);
  const c = await loggedIn(srv.controlPort);

  parseEpsv((await c.cmd("EPSV")).text);
  c.socket.write("RETR f.bin\r\n"); // no data connection: the server waits for it (accept timeout 5 s)
  await sleep(200);
  let t0 = Date.now();
  assert.equal((await c.cmd("STAT", 1000)).code, 213, "STAT answered during the wait");
  assert.equal((await c.cmd("NOOP", 1000)).code, 200, "NOOP answered during the wait");
  assert.equal((await c.cmd("ABOR", 1000)).code, 426);
  assert.equal((await c.read(1000)).code, 226);
  assert.ok(Date.now() - t0 < 1500, `ABOR took ${Date.now() - t0} ms`);

  parseEpsv((await c.cmd("EPSV")).text);
  c.socket.write("RETR f.bin\r\n");
  await sleep(200);
  t0 = Date.now();
  assert.equal((await c.cmd("QUIT", 1000)).code, 221);
  assert.ok(Date.now() - t0 < 1000, `QUIT took ${Date.now() - t0} ms`);
  c.close();

  // The control connection is gone: the pending passive port must not serve the file any more.
  const c2 = await loggedIn(srv.controlPort);
  const port = parseEpsv((await c2.cmd("EPSV")).text);
  c2.socket.write("RETR f.bin\r\n");
  await sleep(200);
  c2.close();
  await sleep(300);
  const late = readData(port);
  const got = await late.done.catch(() => Buffer.alloc(0));
  assert.equal(got.length, 0, `late data connection received ${got.length} bytes`);
});

// Both upload paths: pool buffers (PASV_NATIVE_IO=0: direct reads, the copying RETR) and spliced
// uploads (no buffers; the data timeout must still cut them, with no byte moving through Node).
for (const native of [false, true]) test(`buffer hoarders${native ? " (spliced uploads, sendfile)" : ""}: idle uploads do not starve RETR; NOOP answered during a transfer; a stalled upload is cut after the data timeout and gives its buffers back`, async () => {
  const srv = await server({
    env: { PASV_BUFFER_POOL_MB: "4", ...(native ? {} : { PASV_NATIVE_IO: "0" }) }, // 4 transfer buffers in all
    config: (b) => ({ ...b, limits: { ...b.limits, dataTimeoutSeconds: 6 } }),
  });
  const m = srv.metricsPort!;
  await aliceFile(srv, "big.bin", 3 * 1024 * 1024);
  const hoarders: Array<{ c: RawFtp; data: Socket }> = [];
  for (let i = 0; i < 6; i++) {
    const c = await loggedIn(srv.controlPort);
    const port = parseEpsv((await c.cmd("EPSV")).text);
    const data = connect({ port, host: "127.0.0.1" });
    data.on("error", () => {});
    await new Promise((r) => data.once("connect", r));
    assert.equal((await c.cmd(`STOR hoard${i}.bin`)).code, 150);
    data.write("x"); // one byte, then nothing
    hoarders.push({ c, data });
  }
  await sleep(300);
  if (native) assert.equal(await metric(m, 'ftp_upload_direct_reads_total{result="spliced"}'), 6, "the six uploads are spliced");
  const inUse = await metric(m, "ftp_transfer_buffers_in_use");
  assert.ok(inUse <= 3, `idle uploads hold ${inUse} of 4 buffers (must leave the reserve)`);
  const t0 = Date.now();
  assert.equal((await hoarders[0]!.c.cmd("NOOP", 1000)).code, 200, "NOOP answered during an upload");

  // A download in another session goes through at once.
  const dl = await loggedIn(srv.controlPort);
  const port = parseEpsv((await dl.cmd("EPSV")).text);
  const d = readData(port);
  assert.equal((await dl.cmd("RETR big.bin", 2000)).code, 150);
  const body = await d.done;
  assert.equal(body.length, 3 * 1024 * 1024);
  assert.equal((await dl.read(2000)).code, 226);
  assert.ok(Date.now() - t0 < 3000, `RETR took ${Date.now() - t0} ms next to the hoarders`);
  assert.equal(await metric(m, "ftp_transfer_buffers_waiting"), 0);

  // The data timeout (6 s) cuts every stalled upload; buffers go back; no temp file stays.
  for (const h of hoarders) assert.equal((await h.c.read(10_000)).code, 426);
  assert.ok(await until(async () => (await metric(m, "ftp_transfer_buffers_in_use")) === 0, 3000), "buffers returned");
  const names = await readdir(path.join(srv.root, "alice"));
  assert.deepEqual(names.filter((n) => n.startsWith(".hoard") || n.startsWith("hoard")), []);
  for (const h of hoarders) {
    h.data.destroy();
    h.c.close();
  }
  dl.close();
});

/** A RETR whose client connects the data connection and never reads from it. */
async function stalledDownload(controlPort: number, name: string): Promise<{ c: RawFtp; data: Socket }> {
  const c = await loggedIn(controlPort);
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const data = connect({ port, host: "127.0.0.1" });
  data.on("error", () => {});
  data.pause();
  await new Promise((r) => data.once("connect", r));
  assert.equal((await c.cmd(`RETR ${name}`)).code, 150);
  return { c, data };
}

test("download hoarders: a RETR waiting for a transfer buffer is answered on ABOR and leaves the wait queue", async () => {
  // The copying loop (the path of PROT P and S3 downloads); with sendfile a RETR takes no buffer.
  const srv = await server({ env: { PASV_BUFFER_POOL_MB: "4", PASV_NATIVE_IO: "0" } });
  const m = srv.metricsPort!;
  await aliceFile(srv, "huge.bin", 48 * 1024 * 1024); // far more than loopback socket buffers hold
  const hoarders: Array<{ c: RawFtp; data: Socket }> = [];
  // Non-reading downloads until the pool is empty and the next one waits.
  for (let i = 0; i < 5 && (await metric(m, "ftp_transfer_buffers_waiting")) === 0; i++) {
    hoarders.push(await stalledDownload(srv.controlPort, "huge.bin"));
    await sleep(500);
  }
  assert.equal(await metric(m, "ftp_transfer_buffers_waiting"), 1, "one download waits for a buffer");
  const victim = hoarders[hoarders.length - 1]!;
  const t0 = Date.now();
  assert.equal((await victim.c.cmd("ABOR", 1000)).code, 426);
  assert.equal((await victim.c.read(1000)).code, 226);
  assert.ok(Date.now() - t0 < 1500, `ABOR answered after ${Date.now() - t0} ms`);
  assert.equal(await metric(m, "ftp_transfer_buffers_waiting"), 0, "the aborted wait left the queue");
  assert.equal((await victim.c.cmd("NOOP")).code, 200);
  for (const h of hoarders) {
    h.data.destroy();
    h.c.close();
  }
  assert.ok(await until(async () => (await metric(m, "ftp_transfer_buffers_in_use")) === 0, 5000), "buffers returned");
});

test("download hoarders with sendfile: stalled downloads hold no transfer buffer; another RETR runs at once; ABOR cuts a stalled one", async () => {
  const srv = await server({ env: { PASV_BUFFER_POOL_MB: "4" } });
  const m = srv.metricsPort!;
  await aliceFile(srv, "huge.bin", 48 * 1024 * 1024); // far more than loopback socket buffers hold
  const hoarders: Array<{ c: RawFtp; data: Socket }> = [];
  for (let i = 0; i < 8; i++) {
    hoarders.push(await stalledDownload(srv.controlPort, "huge.bin"));
  }
  await sleep(500);
  assert.equal(await metric(m, 'ftp_download_sendfile_total{result="used"}'), 8, "every stalled download is on the sendfile path");
  assert.equal(await metric(m, "ftp_transfer_buffers_in_use"), 0, "and holds no transfer buffer");
  // A ninth download, read to the end, is not held up by the eight.
  const dl = await loggedIn(srv.controlPort);
  const port = parseEpsv((await dl.cmd("EPSV")).text);
  const t0 = Date.now();
  const d = readData(port);
  assert.equal((await dl.cmd("RETR huge.bin", 2000)).code, 150);
  assert.equal((await d.done).length, 48 * 1024 * 1024);
  assert.equal((await dl.read(2000)).code, 226);
  assert.ok(Date.now() - t0 < 5000, `RETR took ${Date.now() - t0} ms next to the hoarders`);
  const victim = hoarders[0]!;
  const t1 = Date.now();
  assert.equal((await victim.c.cmd("ABOR", 1000)).code, 426);
  assert.equal((await victim.c.read(1000)).code, 226);
  assert.ok(Date.now() - t1 < 1500, `ABOR answered after ${Date.now() - t1} ms`);
  assert.equal((await victim.c.cmd("NOOP")).code, 200);
  for (const h of hoarders) {
    h.data.destroy();
    h.c.close();
  }
  dl.close();
});

// BSD ftp / lftp: IAC IP in band, IAC as TCP urgent data (the Synch), then DM "ABOR" in band.
const URGENT_ABOR = String.raw`
import json, socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def reply():
    line = f.readline()
    code = line[:3]
    if line[3:4] == b"-":
        while True:
            l = f.readline()
            if l[:3] == code and l[3:4] == b" ":
                break
    return line.decode("latin1").strip()
def cmd(c):
    s.sendall(c.encode() + b"\r\n")
    return reply()
def abor():
    s.send(b"\xff\xf4\xff", socket.MSG_OOB)
    s.sendall(b"\xf2ABOR\r\n")
out = [reply(), cmd("USER alice"), cmd("PASS alice-pw")]
if mode == "idle":
    abor()
    out.append(reply())
else:
    r = cmd("EPSV")
    d = socket.create_connection(("127.0.0.1", int(r.split("|||")[1].split("|")[0])))
    out.append(cmd("RETR big.bin"))
    time.sleep(0.3)
    abor()
    out.append(reply())
    out.append(reply())
    d.close()
out.append(cmd("NOOP"))
print(json.dumps(out))
`;

test("ABOR sent with Telnet IP + Synch (urgent IAC, then DM) as BSD ftp and lftp do is parsed as ABOR, idle and during a RETR", async () => {
  requireTool("python3");
  const srv = await server();
  await aliceFile(srv, "big.bin", 32 * 1024 * 1024);
  const idle = JSON.parse((await run("python3", ["-c", URGENT_ABOR, String(srv.controlPort), "idle"], { timeout: 20_000 })).stdout) as string[];
  assert.match(idle[3]!, /^225/, `idle urgent ABOR: ${idle[3]}`);
  assert.match(idle[4]!, /^200/);
  const busy = JSON.parse((await run("python3", ["-c", URGENT_ABOR, String(srv.controlPort), "busy"], { timeout: 20_000 })).stdout) as string[];
  assert.match(busy[3]!, /^150/);
  assert.match(busy[4]!, /^426/, `urgent ABOR during RETR: ${busy[4]}`);
  assert.match(busy[5]!, /^226/);
  assert.match(busy[6]!, /^200/);
});

test("timing: a wrong password costs a full scrypt run whether or not the user logged in before, and an unknown user costs the same", async (t) => {
  const srv = await server();
  const m = srv.metricsPort!;
  (await loggedIn(srv.controlPort, "alice")).close(); // alice's correct password is now cached
  const attempt = async (user: string, pass: string): Promise<number> => {
    const c = await RawFtp.connect(srv.controlPort);
    await c.read();
    assert.equal((await c.cmd(`USER ${user}`)).code, 331);
    const t0 = performance.now();
    const r = await c.cmd(`PASS ${pass}`);
    const ms = performance.now() - t0;
    assert.equal(r.code, 530);
    c.close();
    return ms;
  };
  const runsBefore = await metric(m, "ftp_password_hash_runs_total");
  const known: number[] = [];
  const unknown: number[] = [];
  const never: number[] = [];
  const ROUNDS = 15;
  for (let i = 0; i < ROUNDS; i++) {
    known.push(await attempt("alice", `wrong-${i}`)); // logged in before
    unknown.push(await attempt("nobody", `wrong-${i}`));
    never.push(await attempt("bob", `wrong-${i}`)); // never logged in: always a real verification
  }
  const runs = (await metric(m, "ftp_password_hash_runs_total")) - runsBefore;
  assert.equal(runs, 2 * ROUNDS, "one scrypt run per wrong password of a known user (cache never answers a wrong one)");
  const ref = median(never);
  const rKnown = median(known) / ref;
  const rUnknown = median(unknown) / ref;
  const msg = `medians ms: known ${median(known).toFixed(2)}, unknown ${median(unknown).toFixed(2)}, real ${ref.toFixed(2)}`;
  t.diagnostic(msg);
  assert.ok(rKnown > 1 / 3 && rKnown < 3, msg);
  assert.ok(rUnknown > 1 / 3 && rUnknown < 3, msg);
});

test("a crowd of hostile clients at once: the server keeps serving, then RSS, fds, sessions, ports and buffers come back", async () => {
  const srv = await server({
    config: (b) => ({ ...b, limits: { ...b.limits, idleTimeoutSeconds: 3, dataTimeoutSeconds: 3, loginTimeoutSeconds: 5 } }),
  });
  const pid = srv.proc.pid!;
  const m = srv.metricsPort!;
  await mkdir(path.join(srv.root, "bob"), { recursive: true });
  await writeFile(path.join(srv.root, "bob", "g.bin"), randomBytes(1024 * 1024));
  const download = async (): Promise<void> => {
    const c = await loggedIn(srv.controlPort, "bob");
    const port = parseEpsv((await c.cmd("EPSV")).text);
    const d = readData(port);
    assert.equal((await c.cmd("RETR g.bin", 2000)).code, 150);
    assert.equal((await d.done).length, 1024 * 1024);
    assert.equal((await c.read(2000)).code, 226);
    c.close();
  };
  // Warm up: a download and an upload allocate the transfer buffers they use (the pool keeps
  // them), so the baseline includes them.
  await download();
  const up = await loggedIn(srv.controlPort);
  const upPort = parseEpsv((await up.cmd("EPSV")).text);
  const upData = connect({ port: upPort, host: "127.0.0.1" });
  await new Promise((r) => upData.once("connect", r));
  assert.equal((await up.cmd("STOR warm.bin")).code, 150);
  upData.end(randomBytes(3 * 1024 * 1024));
  assert.equal((await up.read(5000)).code, 226);
  up.close();
  await sleep(300);
  const baseFds = fdCount(pid);
  const baseRss = rssBytes(pid);
  // The 1 s bar is the backpressure test's; here, next to 24 hostile sessions and the test's own
  // clients on a shared 2-core machine, every probe within 3 s and a small median.
  const probe = await latencyProbe(srv.controlPort, 200, 3000);
  const hostile: Array<{ destroy: () => void }> = [];
  const drips: NodeJS.Timeout[] = [];
  let ended = false;
  try {

    // 10 that pipeline 10,000 commands each and never read.
    for (let i = 0; i < 10; i++) {
      const s = connect({ port: srv.controlPort, host: "127.0.0.1" });
      s.on("error", () => {});
      s.pause();
      s.write("HELP\r\n".repeat(10_000));
      hostile.push(s);
    }
    // 10 slowloris drips.
    for (let i = 0; i < 10; i++) {
      const s = connect({ port: srv.controlPort, host: "127.0.0.1" });
      s.on("error", () => {});
      s.on("data", () => {});
      drips.push(setInterval(() => s.writable && s.write("U"), 200));
      hostile.push(s);
    }
    // 4 idle uploads (buffer hoarders).
    for (let i = 0; i < 4; i++) {
      const c = await loggedIn(srv.controlPort);
      const port = parseEpsv((await c.cmd("EPSV")).text);
      const data = connect({ port, host: "127.0.0.1" });
      data.on("error", () => {});
      c.socket.write(`STOR idle${i}.bin\r\n`);
      hostile.push(c.socket, data);
    }
    // Meanwhile a well-behaved client downloads, repeatedly.
    let peak = baseRss;
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      await download();
      assert.ok(Date.now() - t0 < 2000, `good client's login + RETR took ${Date.now() - t0} ms`);
      peak = Math.max(peak, rssBytes(pid));
      await sleep(500);
    }
    const lat = await probe.stop();
    assert.equal(lat.late, 0, `probe NOOPs unanswered within 3 s: ${lat.late} of ${lat.count}: ${lat.failures.join("; ")}`);
    assert.ok(lat.median < 250, `probe median ${lat.median.toFixed(0)} ms, slowest ${lat.max.toFixed(0)} ms`);
    const growthMb = (peak - baseRss) / 1048576;
    // Up to 8 more 1 MiB transfer buffers for the idle uploads, the rest must stay small.
    assert.ok(growthMb < 25, `RSS grew ${growthMb.toFixed(1)} MB under the crowd`);

    // The server's own timeouts (idle 3 s, data 3 s) end every hostile session; then resources are back.
    ended = await until(async () => (await metric(m, "ftp_sessions")) === 0, 15_000);
    for (const t of drips) clearInterval(t);
    for (const h of hostile) h.destroy();
    assert.ok(ended || (await until(async () => (await metric(m, "ftp_sessions")) === 0, 3000)), "all sessions ended");
  } finally {
    for (const t of drips) clearInterval(t);
    for (const h of hostile) h.destroy();
  }
  assert.ok(await until(() => fdCount(pid) <= baseFds + 2, 5000), `fds ${fdCount(pid)} vs baseline ${baseFds}`);
  assert.equal(await metric(m, "ftp_transfer_buffers_in_use"), 0);
  assert.equal(await metric(m, "ftp_passive_ports_in_use"), 0);
  assert.ok(ended, "the server's timeouts alone closed every hostile session");
});

// make bench-server: our FTP server side by side with vsftpd from Debian, in the same run, on
// 127.0.0.1 only. Prints the figures and writes out/bench/server-results.{json,md}.
//
//   1. 1 GiB RETR and STOR throughput with curl, data phase only (median of BENCH_REPEAT runs,
//      servers interleaved, after one untimed warm-up round), the server's CPU time per transfer
//      and of a login alone (so CPU per GiB can be read without it), the test file's page-cache residency
//   2. BENCH_SESSIONS concurrent sessions: all log in and stay connected, then all at once
//      PASV + RETR 1 MiB; failures, PASV latency p50/p99, peak memory of each server's processes;
//      an untimed warm-up round per server, then BENCH_SESSIONS_REPEAT rounds, servers interleaved (ABBA…), each round only once no server
//      has session processes left (vsftpd's exiting ones load the machine), medians reported
//   3. PASV latency with the passive pool at 10 % and at 99 % use (holder sessions keep their
//      PASV listeners open without connecting; a probe session measures PASV round trips)
//   4. small files: lftp mirrors BENCH_SMALL_FILES small files up (mirror -R) and back through a
//      34-port passive range, each server at its default pool settings; failures (files missing or
//      different after each direction) and wall time, median of BENCH_SMALL_REPEAT rounds
//   5. s3 (s3.ts): the BENCH_BIG_MB file RETR/STOR through ours on S3 (SeaweedFS from the cache of
//      `make seaweedfs`), ours on local disk and vsftpd on local disk, BENCH_S3_REPEAT rounds
//
// Environment: BENCH_SERVERS=ours,vsftpd  BENCH_BIG_MB=1024  BENCH_REPEAT=7  BENCH_SESSIONS=1000  BENCH_SESSIONS_REPEAT=3  BENCH_SESSIONS_WARMUP=1
// BENCH_POOL=200  BENCH_PROBES=1000  BENCH_WARMUP=100  BENCH_SMALL_FILES=1000  BENCH_SMALL_REPEAT=3
// BENCH_S3_REPEAT=3  BENCH_PHASES=throughput,sessions,pool,smallfiles,s3  BENCH_PROFILE=1 (node --cpu-prof for ours)  BENCH_DOCS=1
// BENCH_NODE_FLAGS (node flags for ours on top of the image's ENTRYPOINT flags, for trials; recorded in machine.oursNodeFlags)
// (record the raw results in docs/benchmarks/results/ and regenerate docs/benchmarks.md from them).
import { spawn, spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { Control } from "./ftp.ts";
import { HOST, MemorySampler, ROOT, imageNodeFlags, processTree, startOurs, startVsftpd, type ServerOptions, type ServerUnderTest } from "./servers.ts";
import {
  combineSessionRounds, renderServerResults, renderSmallFiles, type Name, type PoolLevel, type ServerResults, type SessionsResult, type SmallFilesResult, type SmallRound,
  type Throughput,
} from "./results.ts";
import { recordResult } from "../../../hack/bench-docs.ts";
import { s3Phase } from "./s3.ts";
import { renderS3Results, type S3PhaseResult } from "./s3-results.ts";

const env = (k: string, d: number): number => (process.env[k] ? Number(process.env[k]) : d);
const BIG_MB = env("BENCH_BIG_MB", 1024);
const REPEAT = env("BENCH_REPEAT", 7);
const SESSIONS = env("BENCH_SESSIONS", 1000);
const SESSIONS_REPEAT = Math.max(1, env("BENCH_SESSIONS_REPEAT", 3));
/** An untimed warm-up round per server before the sessions rounds (1) or none (0). */
const SESSIONS_WARMUP = env("BENCH_SESSIONS_WARMUP", 1) > 0;
/** Longest wait before a sessions round for the servers' session processes to be gone. */
const QUIET_WAIT_MS = 60_000;
const POOL = env("BENCH_POOL", 200);
const PROBES = env("BENCH_PROBES", 1000);
const WARMUP = env("BENCH_WARMUP", 100);
const SMALL_FILES = env("BENCH_SMALL_FILES", 1000);
const SMALL_REPEAT = env("BENCH_SMALL_REPEAT", 3);
/** The issue-10 range: 34 passive ports (vsftpd moved 1,200 files each way through it in 1.9 s). */
const SMALL_PORTS = 34;
const PHASES = new Set((process.env.BENCH_PHASES ?? "throughput,sessions,pool,smallfiles,s3").split(",").map((s) => s.trim()));
const PROFILE = process.env.BENCH_PROFILE === "1";
const MAX_MINUTES = env("BENCH_MAX_MINUTES", 25);
const cache = process.env.PASV_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/tmp", ".cache"), "pasv-operator");
const WORK = join(cache, "bench-server");
const OUT = join(ROOT, "out/bench");

const oursAvailable = existsSync(join(ROOT, "server-image/src/main.ts"));
let wanted = (process.env.BENCH_SERVERS ?? "ours,vsftpd").split(",").map((s) => s.trim()) as Name[];
const notes: string[] = [];
if (wanted.includes("ours") && !oursAvailable) {
  notes.push("ours: NOT MEASURED — server-image/src/main.ts does not exist yet");
  wanted = wanted.filter((n) => n !== "ours");
}
if (wanted.length === 0) throw new Error("no server to benchmark");

const running: ServerUnderTest[] = [];
const deadline = setTimeout(() => {
  console.error(`bench-server: over ${MAX_MINUTES} minutes, stopping`);
  for (const s of running) s.proc.kill("SIGKILL");
  process.exit(2);
}, MAX_MINUTES * 60_000);
deadline.unref();

const log = (s: string): void => console.error(`[bench] ${s}`);
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
const median = (xs: number[]): number => pct(xs, 50);
const MB = 1e6;
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "–");
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "–");

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once("error", () => done(false));
    s.listen(port, HOST, () => s.close(() => done(true)));
  });
}
async function requireFree(ports: number[], what: string): Promise<void> {
  for (const p of ports) if (!(await portFree(p))) throw new Error(`port ${p} (${what}) is in use on ${HOST}`);
}

function prepareFiles(): void {
  const dir = join(WORK, "files");
  mkdirSync(dir, { recursive: true });
  const want: [string, number][] = [];
  if (PHASES.has("throughput") || PHASES.has("s3")) want.push(["big.bin", BIG_MB * 1024 * 1024]);
  if (PHASES.has("sessions")) want.push(["1m.bin", 1024 * 1024]);
  for (const [name, size] of want) {
    const p = join(dir, name);
    if (existsSync(p) && statSync(p).size === size) continue;
    log(`writing ${name} (${size} bytes of random data)`);
    const fd = openSync(p, "w", 0o644);
    const chunk = Buffer.alloc(Math.min(size, 8 * 1024 * 1024));
    for (let left = size; left > 0; ) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      writeSync(fd, chunk, 0, n);
      left -= n;
    }
    closeSync(fd);
  }
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("curl", ["-sS", "--fail", "--max-time", "600", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`curl ${args.join(" ")}: exit ${code}: ${err}`))));
  });
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    spawn(cmd, args, { stdio: "ignore" }).on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd}: exit ${code}`))));
  });
}

function url(s: ServerUnderTest, path: string): string {
  return `ftp://${encodeURIComponent(s.user)}:${encodeURIComponent(s.pass)}@${HOST}:${s.port}/${path}`;
}

/** Bytes of `path` in the page cache (util-linux fincore), NaN when fincore is missing. */
function cachedBytes(path: string): number {
  const r = spawnSync("fincore", ["--bytes", "--noheadings", "--output", "RES", path], { encoding: "utf8" });
  return r.status === 0 ? Number(r.stdout.trim()) : NaN;
}

/** Reads `path` once so all of it is in the page cache (it is then the same pages for both servers: hard links). */
function primeCache(path: string): void {
  const fd = openSync(path, "r");
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}

async function throughput(servers: ServerUnderTest[]): Promise<Record<string, Throughput>> {
  const res: Record<string, Throughput> = {};
  for (const s of servers) res[s.name] = { retr: [], stor: [], retrCpu: [], storCpu: [], loginCpu: [], retrCachedBytes: [] };
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));
  const bigPath = join(WORK, "files/big.bin");
  const size = statSync(bigPath).size;
  primeCache(bigPath);
  // Round -1 is the warm-up (JIT, buffer pool, TCP autotuning, the upload directory): recorded apart, not in the medians.
  for (let round = -1; round < REPEAT; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const s of round < 0 ? servers : order) {
      // A login alone (no data connection), so the transfers' CPU can be read without it.
      const l0 = s.cpuSeconds();
      await curl(["--disable-epsv", "-I", "-o", "/dev/null", url(s, `${s.dir}big.bin`)]);
      await settle();
      const login = s.cpuSeconds() - l0;
      // The test file must be in the page cache for both (the host may reclaim cold pages between rounds).
      if (!(cachedBytes(bigPath) >= size)) primeCache(bigPath);
      const cached = cachedBytes(bigPath);
      // --disable-epsv: the same PASV path the pods serve; the data path is curl writing to /dev/null.
      // Start each transfer with no dirty pages from the previous upload being written back.
      await run("sync", []);
      const c0 = s.cpuSeconds();
      const r = (await curl(["--disable-epsv", "-o", "/dev/null", "-w", "%{size_download} %{time_total} %{time_pretransfer}", url(s, `${s.dir}big.bin`)])).split(" ");
      if (Number(r[0]) !== size) throw new Error(`${s.name} RETR returned ${r[0]} bytes, want ${size}`);
      // Data phase only (total minus connect, login, PASV, RETR/STOR command), so a slower login
      // (ours: scrypt; vsftpd: anonymous) does not count against the transfer.
      const retr = size / (Number(r[1]) - Number(r[2])) / MB;
      await settle();
      const c1 = s.cpuSeconds();
      await run("sync", []);
      const target = `${s.uploadDir}up-${round}.bin`;
      const w = (await curl(["--disable-epsv", "-T", bigPath, "-w", "%{size_upload} %{time_total} %{time_pretransfer}", url(s, target)])).split(" ");
      if (Number(w[0]) !== size) throw new Error(`${s.name} STOR sent ${w[0]} bytes, want ${size}`);
      const stor = size / (Number(w[1]) - Number(w[2])) / MB;
      await settle();
      const c2 = s.cpuSeconds();
      const landed = join(s.uploadDisk, `up-${round}.bin`);
      if (!existsSync(landed) || statSync(landed).size !== size) throw new Error(`${s.name} STOR: ${landed} missing or short`);
      rmSync(landed, { force: true });
      const t = res[s.name]!;
      const gib = size / 2 ** 30;
      const line = `RETR ${f1(retr)} MB/s (server CPU ${f2(c1 - c0)} s, ${f2((c1 - c0 - login) / gib)} s/GiB without login), ` +
        `STOR ${f1(stor)} MB/s (server CPU ${f2(c2 - c1)} s, ${f2((c2 - c1 - login) / gib)} s/GiB without login); login ${f2(login)} s; load ${loadNow()}`;
      if (round < 0) {
        t.warmup = { retr, stor, retrCpu: c1 - c0, storCpu: c2 - c1 };
        log(`warm-up ${s.name}: ${line}`);
        continue;
      }
      t.retr.push(retr);
      t.stor.push(stor);
      t.retrCpu.push(c1 - c0);
      t.storCpu.push(c2 - c1);
      t.loginCpu?.push(login);
      t.retrCachedBytes?.push(cached);
      log(`round ${round + 1}/${REPEAT} ${s.name}: ${line}`);
    }
  }
  return res;
}

function reason(e: unknown): string {
  return ((e as Error).message || String(e)).replace(/\d+/g, "N").slice(0, 120);
}

async function pool<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) await fn(items[i++] as T);
    }),
  );
}

/** TcpExt ListenOverflows (SYNs/ACKs dropped because a listener's accept queue was full), host-wide. */
function listenOverflows(): number {
  const lines = readFileSync("/proc/net/netstat", "latin1").split("\n");
  const head = lines.findIndex((l) => l.startsWith("TcpExt:"));
  const names = lines[head]?.split(" ") ?? [];
  const values = lines[head + 1]?.split(" ") ?? [];
  return Number(values[names.indexOf("ListenOverflows")] ?? NaN);
}

/**
 * vsftpd processes besides the running servers' main ones: session processes of a round (or of
 * a server already stopped, reparented away from its tree) still exiting. Ours is one process.
 */
function sessionProcesses(servers: ServerUnderTest[]): number {
  const mains = new Set(servers.map((s) => s.proc.pid));
  // Ours forks nothing; its tree is counted in case it ever does.
  let n = 0;
  for (const s of servers) if (s.name === "ours" && s.proc.pid) n += processTree(s.proc.pid).length - 1;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || mains.has(Number(name))) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, "latin1") === "vsftpd\n") n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

/** Waits (bounded) until no session process of any server is left; returns the seconds waited. */
async function waitQuiet(servers: ServerUnderTest[]): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < QUIET_WAIT_MS && sessionProcesses(servers) > 0) await new Promise((r) => setTimeout(r, 250));
  const left = sessionProcesses(servers);
  if (left > 0) log(`still ${left} session processes after ${QUIET_WAIT_MS / 1000} s; starting the round anyway`);
  return (performance.now() - t0) / 1000;
}

async function concurrentSessions(s: ServerUnderTest): Promise<SessionsResult> {
  const overflows0 = listenOverflows();
  const sampler = new MemorySampler(s.proc.pid ?? 0).start();
  const t0 = performance.now();
  const failures: Record<string, number> = {};
  const fail = (e: unknown): void => {
    const r = reason(e);
    failures[r] = (failures[r] ?? 0) + 1;
  };
  const ctls: (Control | null)[] = new Array<Control | null>(SESSIONS).fill(null);
  const loginMs: number[] = [];
  // Phase A: every session connects and logs in (at most 100 handshakes in flight), then stays.
  await pool(
    Array.from({ length: SESSIONS }, (_, i) => i),
    100,
    async (i) => {
      const t = performance.now();
      try {
        const { ctl } = await Control.open(HOST, s.port, 60_000);
        ctls[i] = ctl;
        await ctl.login(s.user, s.pass);
        await ctl.expect("TYPE I", 200, 200);
        loginMs.push(performance.now() - t);
      } catch (e) {
        ctls[i]?.close();
        ctls[i] = null;
        fail(e);
      }
    },
  );
  const loggedIn = ctls.filter((c) => c !== null).length;
  log(`${s.name}: ${loggedIn}/${SESSIONS} sessions logged in and held; all now PASV + RETR 1 MiB at once`);
  // The client's own garbage (this round's logins, earlier rounds) is collected now, not inside the burst it times.
  (globalThis as { gc?: () => void }).gc?.();
  // Phase B: all of them at once: PASV, data connection, RETR 1 MiB, QUIT.
  const pasvMs: number[] = [];
  await Promise.all(
    ctls.map(async (ctl) => {
      if (!ctl) return;
      try {
        const r = await ctl.retr(`${s.dir}1m.bin`);
        pasvMs.push(r.pasvMs);
        if (r.bytes !== 1024 * 1024) throw new Error(`RETR returned ${r.bytes} bytes`);
      } catch (e) {
        fail(e);
      } finally {
        await ctl.quit();
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const mem = sampler.stop();
  return {
    sessions: SESSIONS,
    loggedIn,
    failures: Object.values(failures).reduce((a, b) => a + b, 0),
    failureReasons: failures,
    loginP50: pct(loginMs, 50),
    loginP99: pct(loginMs, 99),
    pasvP50: pct(pasvMs, 50),
    pasvP99: pct(pasvMs, 99),
    pasvMax: Math.max(...pasvMs),
    wallSeconds: wall,
    peakRssMB: mem.rss / MB,
    peakPssMB: mem.pss / MB,
    peakProcs: mem.procs,
    listenOverflows: listenOverflows() - overflows0,
  };
}

async function poolLevel(s: ServerUnderTest, level: number): Promise<PoolLevel> {
  // The probe's own listener makes the last one: held + 1 = level * pool.
  const wantHeld = Math.max(0, Math.round(level * POOL) - 1);
  const holders: Control[] = [];
  let holderFailures = 0;
  const login = async (): Promise<Control> => {
    const { ctl } = await Control.open(HOST, s.port, 30_000);
    await ctl.login(s.user, s.pass);
    return ctl;
  };
  // Fill the pool with holders: each logs in and issues PASV without ever connecting.
  let attempts = 0;
  while (holders.length < wantHeld && attempts < wantHeld * 3) {
    const batch = Math.min(50, wantHeld - holders.length);
    attempts += batch;
    await Promise.all(
      Array.from({ length: batch }, async () => {
        let ctl: Control | undefined;
        try {
          ctl = await login();
          await ctl.pasv();
          holders.push(ctl);
        } catch {
          holderFailures++;
          ctl?.close();
        }
      }),
    );
  }
  // Probe: PASV round trips on one session; each PASV replaces that session's previous listener.
  const lat: number[] = [];
  let probeFailures = 0;
  let probe = await login();
  // Warm-up round trips (JIT, caches), not counted, so the first level measured is not penalised.
  for (let i = 0; i < WARMUP; i++) {
    try {
      await probe.pasv();
    } catch {
      probe.close();
      probe = await login();
    }
  }
  for (let i = 0; i < PROBES; i++) {
    try {
      lat.push((await probe.pasv()).ms);
    } catch {
      probeFailures++;
      probe.close();
      probe = await login();
    }
  }
  await probe.quit();
  await Promise.all(holders.map((h) => h.quit()));
  await new Promise((r) => setTimeout(r, 500));
  return { level, wantHeld, held: holders.length, holderFailures, probes: PROBES, probeFailures, p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** BENCH_SMALL_FILES files of 1-4 KiB random data (made once, reused across runs). */
function prepareSmallFiles(): { dir: string; files: Map<string, Buffer>; bytes: number } {
  const dir = join(WORK, `small-${SMALL_FILES}`);
  mkdirSync(dir, { recursive: true });
  const files = new Map<string, Buffer>();
  let bytes = 0;
  for (let i = 0; i < SMALL_FILES; i++) {
    const name = `f${String(i).padStart(5, "0")}.bin`;
    const p = join(dir, name);
    const size = 1024 + ((i * 2654435761) % 3072);
    let data: Buffer;
    if (existsSync(p) && statSync(p).size === size) data = readFileSync(p);
    else {
      data = randomFillSync(Buffer.alloc(size));
      writeFileSync(p, data);
    }
    files.set(name, data);
    bytes += size;
  }
  return { dir, files, bytes };
}

function lftp(s: ServerUnderTest, script: string): Promise<{ code: number; stderr: string; seconds: number }> {
  const settings = "set net:max-retries 1; set net:timeout 15; set ftp:passive-mode on; set ftp:ssl-allow no; set cmd:fail-exit yes";
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn("lftp", ["-u", `${s.user},${s.pass}`, "-p", String(s.port), "-e", `${settings}; ${script}; quit`, HOST], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    const timer = setTimeout(() => p.kill("SIGKILL"), 300_000);
    p.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stderr: err, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

function countMismatches(dir: string, files: Map<string, Buffer>): number {
  let bad = 0;
  for (const [name, data] of files) {
    const p = join(dir, name);
    if (!existsSync(p) || !readFileSync(p).equals(data)) bad++;
  }
  return bad;
}

/** lftp mirror up and back, servers interleaved (ABBA...), SMALL_REPEAT rounds. */
async function smallFiles(servers: ServerUnderTest[]): Promise<Record<string, SmallFilesResult>> {
  const { dir, files, bytes } = prepareSmallFiles();
  const rounds: Record<string, SmallRound[]> = {};
  for (const s of servers) rounds[s.name] = [];
  for (let round = 0; round < SMALL_REPEAT; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      const remote = `${s.uploadDir}small`;
      const onDisk = join(s.uploadDisk, "small");
      const local = join(WORK, `small-down-${s.name}`);
      rmSync(onDisk, { recursive: true, force: true });
      rmSync(local, { recursive: true, force: true });
      await run("sync", []);
      const up = await lftp(s, `mirror -R ${dir} ${remote}`);
      const upFailures = countMismatches(onDisk, files);
      const down = await lftp(s, `mirror ${remote} ${local}`);
      const downFailures = countMismatches(local, files);
      const r: SmallRound = {
        upSeconds: up.seconds,
        downSeconds: down.seconds,
        upFailures,
        downFailures,
        lftpExit: [up.code, down.code],
        lftpErrors: [up, down].filter((x) => x.code !== 0).map((x) => x.stderr.trim().split("\n").slice(-3).join(" | ")),
      };
      rounds[s.name]?.push(r);
      log(`smallfiles round ${round + 1}/${SMALL_REPEAT} ${s.name}: up ${f2(r.upSeconds)} s (${upFailures} failed), down ${f2(r.downSeconds)} s (${downFailures} failed), lftp exit ${r.lftpExit.join("/")}`);
    }
  }
  const out: Record<string, SmallFilesResult> = {};
  for (const s of servers) {
    const rs = rounds[s.name] ?? [];
    out[s.name] = {
      files: SMALL_FILES,
      bytes,
      ports: SMALL_PORTS,
      rounds: rs,
      medianUpSeconds: median(rs.map((r) => r.upSeconds)),
      medianDownSeconds: median(rs.map((r) => r.downSeconds)),
      medianTotalSeconds: median(rs.map((r) => r.upSeconds + r.downSeconds)),
      failures: rs.reduce((a, r) => a + r.upFailures + r.downFailures, 0),
    };
  }
  return out;
}

function loadNow(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  mkdirSync(OUT, { recursive: true });
  prepareFiles();
  for (const n of wanted) rmSync(join(WORK, `${n}-main`), { recursive: true, force: true });
  for (const n of wanted) rmSync(join(WORK, `${n}-pool`), { recursive: true, force: true });
  for (const n of wanted) rmSync(join(WORK, `${n}-small`), { recursive: true, force: true });
  // Ours runs with the image's node flags (servers.ts imageNodeFlags); BENCH_NODE_FLAGS adds some for a trial (e.g. --trace-gc).
  const nodeFlags = [...(process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean), ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${join(OUT, "profiles")}`] : [])];
  const range = SESSIONS * 2;
  const mainOpts: Record<Name, ServerOptions> = {
    ours: { port: 2121, pasvStart: 20000, pasvEnd: 20000 + range - 1, quarantineSeconds: 60, acceptTimeoutSeconds: 60, work: WORK, nodeFlags, tag: "main" },
    vsftpd: { port: 2122, pasvStart: 24000, pasvEnd: 24000 + range - 1, quarantineSeconds: 60, acceptTimeoutSeconds: 60, work: WORK, tag: "main" },
  };
  const poolOpts: Record<Name, ServerOptions> = {
    ours: { port: 2123, pasvStart: 28000, pasvEnd: 28000 + POOL - 1, quarantineSeconds: 0, acceptTimeoutSeconds: 600, work: WORK, nodeFlags, tag: "pool" },
    vsftpd: { port: 2124, pasvStart: 29000, pasvEnd: 29000 + POOL - 1, quarantineSeconds: 0, acceptTimeoutSeconds: 600, work: WORK, tag: "pool" },
  };
  // Small files: each server at its own defaults for the pool (ours: 60 s quarantine; vsftpd: random port, 60 s accept timeout).
  const smallOpts: Record<Name, ServerOptions> = {
    ours: { port: 2125, pasvStart: 30500, pasvEnd: 30500 + SMALL_PORTS - 1, work: WORK, nodeFlags, tag: "small" },
    vsftpd: { port: 2126, pasvStart: 30600, pasvEnd: 30600 + SMALL_PORTS - 1, work: WORK, tag: "small" },
  };
  const mainPhases = PHASES.has("throughput") || PHASES.has("sessions");
  for (const n of wanted) {
    const opts = [...(mainPhases ? [mainOpts[n]] : []), ...(PHASES.has("pool") ? [poolOpts[n]] : []), ...(PHASES.has("smallfiles") ? [smallOpts[n]] : [])];
    for (const o of opts) {
      await requireFree([o.port, o.pasvStart, o.pasvEnd, Math.floor((o.pasvStart + o.pasvEnd) / 2)], `${n} ${o.tag}`);
    }
  }
  const start = (n: Name, o: ServerOptions): Promise<ServerUnderTest> => (n === "ours" ? startOurs(o) : startVsftpd(o));
  const machine = {
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
    memGB: Math.round(totalmem() / 2 ** 30),
    memBytes: totalmem(),
    lftp: "Debian lftp " + (lftpVersion() ?? "?"),
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    node: process.version,
    vsftpd: "Debian bookworm vsftpd " + (spawnVersion() ?? "?"),
    oursNodeFlags: [...imageNodeFlags(), ...nodeFlags].join(" "),
    loadBefore: loadNow(),
  };
  log(`machine: ${machine.cpu}, ${machine.memGB} GB, load ${machine.loadBefore}; servers: ${wanted.join(", ")}`);

  const servers: ServerUnderTest[] = [];
  for (const n of mainPhases ? wanted : []) {
    const s = await start(n, mainOpts[n]);
    running.push(s);
    servers.push(s);
  }
  log(`1/4 throughput: ${BIG_MB} MiB RETR and STOR, a warm-up round and ${REPEAT} rounds`);
  const tp0 = performance.now();
  const tp = PHASES.has("throughput") ? await throughput(servers) : {};
  const throughputSeconds = PHASES.has("throughput") ? (performance.now() - tp0) / 1000 : undefined;
  log(`2/4 ${SESSIONS} concurrent sessions, ${SESSIONS_REPEAT} rounds interleaved`);
  const sess: Record<string, SessionsResult> = {};
  if (PHASES.has("sessions")) {
    const rounds: Record<string, SessionsResult[]> = {};
    for (const s of servers) rounds[s.name] = [];
    const warmups: Record<string, SessionsResult> = {};
    // Round -1 is the warm-up (a fresh process's JIT; see docs/benchmarks.md, PASV latency): the
    // same ABBA order one step earlier (B A | A B | B A | A B), recorded apart, not in the medians.
    for (let round = SESSIONS_WARMUP ? -1 : 0; round < SESSIONS_REPEAT; round++) {
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        // vsftpd's ~2 processes per session take a while to exit; they would load the next round (or the other server's).
        const quietWaitSeconds = await waitQuiet(servers);
        const loadBefore = loadNow();
        const r = { ...(await concurrentSessions(s)), quietWaitSeconds, loadBefore };
        if (round < 0) {
          warmups[s.name] = r;
          log(`warm-up ${s.name}: ${JSON.stringify(r)}`);
          continue;
        }
        rounds[s.name]!.push(r);
        log(`round ${round + 1}/${SESSIONS_REPEAT} ${s.name}: ${JSON.stringify(r)}`);
      }
    }
    for (const s of servers) {
      const combined = SESSIONS_REPEAT > 1 ? combineSessionRounds(rounds[s.name]!) : rounds[s.name]![0]!;
      const w = warmups[s.name];
      sess[s.name] = w ? { ...combined, warmup: w } : combined;
    }
  }
  for (const s of servers) await s.stop();
  running.length = 0;

  log(`3/4 PASV latency at 10 % and 99 % of a ${POOL}-port pool (${PROBES} probes each)`);
  const pools: Record<string, PoolLevel[]> = {};
  for (const n of PHASES.has("pool") ? wanted : []) {
    await waitQuiet([]);
    const s = await start(n, poolOpts[n]);
    running.push(s);
    pools[n] = [];
    for (const level of [0.1, 0.99]) {
      const r = await poolLevel(s, level);
      pools[n].push(r);
      log(`${n} @ ${level * 100}%: ${JSON.stringify(r)}`);
    }
    await s.stop();
    running.length = 0;
  }

  log(`4/4 small files: lftp mirror of ${SMALL_FILES} files up and back through ${SMALL_PORTS} ports, ${SMALL_REPEAT} rounds`);
  let small: Record<string, SmallFilesResult> = {};
  if (PHASES.has("smallfiles")) {
    const ss: ServerUnderTest[] = [];
    for (const n of wanted) {
      const s = await start(n, smallOpts[n]);
      running.push(s);
      ss.push(s);
    }
    small = await smallFiles(ss);
    for (const s of ss) await s.stop();
    running.length = 0;
  }

  let s3: S3PhaseResult | undefined;
  if (PHASES.has("s3")) {
    if (!wanted.includes("ours") || !wanted.includes("vsftpd")) notes.push("s3: NOT MEASURED — the s3 phase runs ours and vsftpd side by side (BENCH_SERVERS)");
    else {
      log(`s3: ${BIG_MB} MiB RETR and STOR through ours on S3 (SeaweedFS), ours and vsftpd on local disk, ${env("BENCH_S3_REPEAT", 3)} rounds`);
      s3 = await s3Phase({ work: WORK, bigPath: join(WORK, "files/big.bin"), rounds: env("BENCH_S3_REPEAT", 3), nodeFlags, running, log });
    }
  }

  const results: ServerResults = {
    bench: "server",
    servers: wanted,
    phases: [...PHASES],
    date: new Date().toISOString(),
    machine: { ...machine, loadAfter: loadNow(), ...(throughputSeconds !== undefined ? { throughputSeconds } : {}) },
    config: { BIG_MB, REPEAT, SESSIONS, SESSIONS_REPEAT, SESSIONS_WARMUP: SESSIONS_WARMUP ? 1 : 0, POOL, PROBES, SMALL_FILES, SMALL_REPEAT, SMALL_PORTS },
    notes,
    throughput: tp,
    sessions: sess,
    pools,
    smallfiles: small,
    ...(s3 ? { s3 } : {}),
  };
  writeFileSync(join(OUT, "server-results.json"), JSON.stringify(results, null, 2) + "\n");
  const md = mainPhases || PHASES.has("pool") ? renderServerResults(results) : "";
  const smallMd = PHASES.has("smallfiles") ? renderSmallFiles(results) : "";
  const s3Md = renderS3Results(results);
  const mds = [md, smallMd, s3Md].filter(Boolean);
  writeFileSync(join(OUT, "server-results.md"), mds.join("\n"));
  console.log(mds.join("\n"));
  // BENCH_DOCS=1: the raw file goes to docs/benchmarks/results/ and docs/benchmarks.md is regenerated
  // from the committed files (each block from the latest file holding its phases).
  if (process.env.BENCH_DOCS === "1") log(`recorded ${recordResult("server", results)}; docs/benchmarks.md regenerated`);
}

function lftpVersion(): string | null {
  try {
    const status = readFileSync("/var/lib/dpkg/status", "utf8");
    return /Package: lftp\n(?:.*\n)*?Version: (\S+)/.exec(status)?.[1] ?? null;
  } catch {
    return null;
  }
}

function spawnVersion(): string | null {
  try {
    const status = readFileSync("/var/lib/dpkg/status", "utf8");
    return /Package: vsftpd\n(?:.*\n)*?Version: (\S+)/.exec(status)?.[1] ?? null;
  } catch {
    return null;
  }
}

try {
  await main();
} catch (e) {
  for (const s of running) s.proc.kill("SIGKILL");
  console.error(`bench-server failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
}
// Stop by ourselves even if a client socket the servers never answered is still open.
process.exit();

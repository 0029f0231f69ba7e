// The two servers under test, started as child processes on 127.0.0.1 with their own config
// files in the bench work directory: ours (node server-image/src/main.ts) and vsftpd from Debian
// (listen=YES, background=NO, anonymous with an upload directory; no system files touched).
import { spawn, type ChildProcess } from "node:child_process";
import { chownSync, closeSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { entrypointNodeFlags } from "../image-node-flags.ts";
import { Control } from "./ftp.ts";
import { hashPassword } from "../../../server-image/src/auth/password.ts";

export const ROOT = resolve(import.meta.dirname, "../../..");
export const HOST = "127.0.0.1";

export interface ServerUnderTest {
  name: "ours" | "vsftpd";
  port: number;
  user: string;
  pass: string;
  /** Path of the download files as the client names them. */
  dir: string;
  /** Directory the client uploads into. */
  uploadDir: string;
  /** Where an uploaded file lands on disk (to delete it between runs). */
  uploadDisk: string;
  proc: ChildProcess;
  logFile: string;
  /** CPU seconds used so far by the server and every process it forked (exited ones included). */
  cpuSeconds: () => number;
  stop: () => Promise<void>;
}

const CPUACCT = "/sys/fs/cgroup/cpuacct";

/**
 * CPU accounting for a server's whole process tree. With cgroup v1 (this host) and root, a
 * cpuacct group of our own counts every task, including vsftpd's session processes after they
 * exit; otherwise the /proc counters of the main process (children only once reaped).
 */
function cpuMeter(pid: number | undefined, name: string): { read: () => number; remove: () => void } {
  if (pid === undefined) return { read: () => NaN, remove: () => {} };
  const dir = join(CPUACCT, `pasv-bench-${name}-${pid}`);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, "cgroup.procs"), String(pid));
    return {
      read: () => Number(readFileSync(join(dir, "cpuacct.usage"), "latin1")) / 1e9,
      remove: () => {
        try {
          for (const p of readFileSync(join(dir, "cgroup.procs"), "latin1").split("\n").filter(Boolean)) {
            writeFileSync(join(CPUACCT, "cgroup.procs"), p);
          }
          rmdirSync(dir);
        } catch {
          // best effort; an empty group left behind is harmless
        }
      },
    };
  } catch {
    return {
      read: () => {
        const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0) / 100;
      },
      remove: () => {},
    };
  }
}

export interface ServerOptions {
  port: number;
  pasvStart: number;
  pasvEnd: number;
  /** Ours only; undefined = the server's default. */
  quarantineSeconds?: number;
  /** undefined = the server's default (ours 30 s, vsftpd 60 s). */
  acceptTimeoutSeconds?: number;
  work: string;
  /** Extra node flags for ours, e.g. --cpu-prof (after the image's own, imageNodeFlags). */
  nodeFlags?: string[];
  tag: string;
  /** Ours only: the config's storage line instead of the local root (the s3 phase: `storage: { type: s3, ... }`). */
  storageYaml?: string;
  /** Ours only: extra environment (the s3 phase: the S3 credentials). */
  env?: Record<string, string>;
}

async function waitReady(port: number, proc: ChildProcess, logFile: string, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = "";
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) break;
    try {
      const { ctl } = await Control.open(HOST, port, 2_000);
      await ctl.quit();
      return;
    } catch (e) {
      last = (e as Error).message;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-3000) : "";
  throw new Error(`${name} did not come up on ${HOST}:${port} (${last}); exit ${proc.exitCode ?? proc.signalCode}\n${log}`);
}

function stopper(proc: ChildProcess, graceMs: number, cleanup: () => void): () => Promise<void> {
  return async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once("exit", () => r()));
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    }
    cleanup();
  };
}

/**
 * The node flags of the server image's ENTRYPOINT (server-image/Dockerfile), so the bench runs
 * ours exactly as the image does (test/bench/operator/bench.ts reads the operator's the same way).
 */
export function imageNodeFlags(): string[] {
  return entrypointNodeFlags(join(ROOT, "server-image/Dockerfile"));
}

export const BENCH_USER = "bench";
export const BENCH_PASS = "bench-password";

/** Files served to both: <work>/files/{big.bin,1m.bin}; ours serves them from a home, vsftpd from anon_root. */
export async function startOurs(o: ServerOptions): Promise<ServerUnderTest> {
  const dir = join(o.work, `ours-${o.tag}`);
  const storage = join(dir, "storage");
  const home = join(storage, BENCH_USER);
  mkdirSync(home, { recursive: true });
  linkFiles(o.work, home);
  const usersFile = join(dir, "users.json");
  writeFileSync(usersFile, JSON.stringify({ users: [{ name: BENCH_USER, password: await hashPassword(BENCH_PASS) }] }));
  const config = join(dir, "config.yaml");
  writeFileSync(
    config,
    [
      "version: 1",
      `listen: { host: ${HOST}, controlPort: ${o.port} }`,
      "passive:",
      `  portStart: ${o.pasvStart}`,
      `  portEnd: ${o.pasvEnd}`,
      `  externalAddress: ${HOST}`,
      ...(o.quarantineSeconds !== undefined ? [`  quarantineSeconds: ${o.quarantineSeconds}`] : []),
      ...(o.acceptTimeoutSeconds !== undefined ? [`  acceptTimeoutSeconds: ${o.acceptTimeoutSeconds}`] : []),
      `usersFile: ${usersFile}`,
      o.storageYaml ?? `storage: { root: ${storage} }`,
      "metrics: { port: 0 }",
      "limits: { maxSessions: 10000, maxSessionsPerIp: 10000, loginFailureDelayMs: 0, idleTimeoutSeconds: 600 }",
      "drainGraceSeconds: 2",
      "",
    ].join("\n"),
  );
  const logFile = join(dir, "server.log");
  const fd = openSync(logFile, "w");
  const proc = spawn(process.execPath, [...imageNodeFlags(), ...(o.nodeFlags ?? []), join(ROOT, "server-image/src/main.ts"), "--config", config], {
    stdio: ["ignore", fd, fd],
    cwd: dir,
    env: { ...process.env, NODE_ENV: "production", ...o.env },
  });
  closeSync(fd);
  const cpu = cpuMeter(proc.pid, "ours");
  await waitReady(o.port, proc, logFile, "our server");
  return {
    name: "ours",
    port: o.port,
    user: BENCH_USER,
    pass: BENCH_PASS,
    dir: "",
    uploadDir: "",
    uploadDisk: home,
    proc,
    logFile,
    cpuSeconds: cpu.read,
    stop: stopper(proc, 10_000, cpu.remove),
  };
}

export function startVsftpd(o: ServerOptions): Promise<ServerUnderTest> {
  const dir = join(o.work, `vsftpd-${o.tag}`);
  // vsftpd refuses an anonymous root the ftp user can write to: root-owned root, writable upload/.
  const anonRoot = join(dir, "root");
  const upload = join(anonRoot, "upload");
  mkdirSync(upload, { recursive: true });
  linkFiles(o.work, anonRoot);
  const ftpUid = Number(/^ftp:x:(\d+):(\d+):/m.exec(readFileSync("/etc/passwd", "utf8"))?.[1] ?? NaN);
  if (!Number.isInteger(ftpUid)) throw new Error("vsftpd needs the system user ftp (created by the vsftpd package)");
  chownSync(upload, ftpUid, -1);
  const config = join(dir, "vsftpd.conf");
  writeFileSync(
    config,
    [
      "listen=YES",
      "listen_ipv6=NO",
      `listen_address=${HOST}`,
      `listen_port=${o.port}`,
      "background=NO",
      "anonymous_enable=YES",
      "no_anon_password=YES",
      `anon_root=${anonRoot}`,
      "local_enable=NO",
      "write_enable=YES",
      "anon_upload_enable=YES",
      "anon_other_write_enable=YES",
      "anon_mkdir_write_enable=YES",
      "anon_umask=022",
      "pasv_enable=YES",
      `pasv_min_port=${o.pasvStart}`,
      `pasv_max_port=${o.pasvEnd}`,
      `pasv_address=${HOST}`,
      "port_enable=NO",
      "connect_from_port_20=NO",
      "max_clients=10000",
      "max_per_ip=10000",
      ...(o.acceptTimeoutSeconds !== undefined ? [`accept_timeout=${o.acceptTimeoutSeconds}`] : []),
      "idle_session_timeout=600",
      "data_connection_timeout=300",
      "seccomp_sandbox=NO",
      "xferlog_enable=NO",
      "syslog_enable=NO",
      "dual_log_enable=NO",
      `vsftpd_log_file=${join(dir, "vsftpd.log")}`,
      "dirmessage_enable=NO",
      "use_sendfile=YES",
      "secure_chroot_dir=/var/run/vsftpd/empty",
      "ftp_username=ftp",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const logFile = join(dir, "stderr.log");
  const fd = openSync(logFile, "w");
  const proc = spawn("/usr/sbin/vsftpd", [config], { stdio: ["ignore", fd, fd], cwd: dir });
  closeSync(fd);
  const cpu = cpuMeter(proc.pid, "vsftpd");
  return waitReady(o.port, proc, logFile, "vsftpd").then(() => ({
    name: "vsftpd" as const,
    port: o.port,
    user: "anonymous",
    pass: "bench@",
    dir: "",
    uploadDir: "upload/",
    uploadDisk: upload,
    proc,
    logFile,
    cpuSeconds: cpu.read,
    stop: stopper(proc, 5_000, cpu.remove),
  }));
}

/** Hard links (same inode, same page cache) of the shared test files into a server's tree. */
function linkFiles(work: string, to: string): void {
  for (const f of ["big.bin", "1m.bin"]) {
    const target = join(to, f);
    // A phase that needs neither (smallfiles) may run without them.
    if (!existsSync(target) && existsSync(join(work, "files", f))) linkSync(join(work, "files", f), target);
  }
}

/** All descendants of pid (including pid), from /proc. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

const PAGE = 4096;

/** Samples the summed RSS (and, less often, PSS) of a process tree; keeps the peaks. */
export class MemorySampler {
  peakRss = 0;
  peakPss = 0;
  peakProcs = 0;
  private timer: NodeJS.Timeout | null = null;
  private ticks = 0;
  private readonly pid: number;

  constructor(pid: number) {
    this.pid = pid;
  }

  sample(withPss: boolean): void {
    const pids = this.pid > 0 ? processTree(this.pid) : [];
    let rss = 0;
    let pss = 0;
    for (const p of pids) {
      try {
        rss += Number(readFileSync(`/proc/${p}/statm`, "latin1").split(" ")[1]) * PAGE;
        if (withPss) {
          const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, "latin1"));
          pss += Number(m?.[1] ?? 0) * 1024;
        }
      } catch {
        // exited meanwhile
      }
    }
    this.peakRss = Math.max(this.peakRss, rss);
    if (withPss) this.peakPss = Math.max(this.peakPss, pss);
    this.peakProcs = Math.max(this.peakProcs, pids.length);
  }

  start(intervalMs = 250): this {
    this.sample(true);
    this.timer = setInterval(() => this.sample(++this.ticks % 4 === 0), intervalMs);
    return this;
  }

  stop(): { rss: number; pss: number; procs: number } {
    if (this.timer) clearInterval(this.timer);
    this.sample(true);
    return { rss: this.peakRss, pss: this.peakPss, procs: this.peakProcs };
  }
}

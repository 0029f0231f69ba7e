// Test helpers: start the real server (node server-image/src/main.ts) on 127.0.0.1 with a
// config and users file in a temp directory, find free ports, and a tiny raw FTP client.

import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtemp, writeFile, mkdir, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { hashPassword } from "../src/auth/password.ts";
import type { ServerConfigInput } from "../src/config/schema.ts";
import { canListen, freePort } from "../../test/support/ports.ts";

export const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
export const SERVER_DIR = fileURLToPath(new URL("..", import.meta.url));

/** A required external tool: throw (fail the test loudly) when it is missing. */
export function requireTool(name: string): string {
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`required tool '${name}' is missing: run hack/install-system-deps.sh (see hack/apt/server.txt)`);
  }
}

export { freePort };

/** n consecutive free ports below the kernel's ephemeral range (so clients cannot collide). */
export async function freeRange(n: number): Promise<{ start: number; end: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = 20000 + Math.floor(Math.random() * (12000 - n));
    let ok = true;
    for (let p = start; p < start + n && ok; p++) ok = await canListen(p);
    if (ok) return { start, end: start + n - 1 };
  }
  throw new Error("no free port range");
}

export interface TestUser {
  name: string;
  password: string;
  groups?: string[];
  type?: string;
  home?: string;
}

export interface StartOptions {
  /** Merged over a default test config (control port 0, a free passive range, short timeouts). */
  config?: (base: ServerConfigInput) => ServerConfigInput;
  users?: TestUser[];
  passivePorts?: number;
  slot?: number;
  env?: Record<string, string>;
  format?: "yaml" | "json";
}

export interface RunningServer {
  dir: string;
  root: string;
  configPath: string;
  usersPath: string;
  controlPort: number;
  implicitTlsPort: number | null;
  metricsPort: number | null;
  passive: { start: number; end: number };
  proc: ChildProcess;
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  /** Rewrites the config file (same dir) with a new config; returns once written. */
  writeConfig(cfg: ServerConfigInput): Promise<void>;
  config: ServerConfigInput;
  /**
   * The first log line (seen so far or to come) that `pred` accepts; with `since` (a `logMark()`),
   * only lines printed after that mark — so a wait for "reloaded" cannot match an earlier reload.
   */
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number, since?: number): Promise<Record<string, unknown>>;
  /** How many log lines the server has printed so far (for `waitForLog(…, since)`). */
  logMark(): number;
  stop(): Promise<void>;
}

export const DEFAULT_USERS: TestUser[] = [
  { name: "alice", password: "alice-pw", groups: ["staff"] },
  { name: "bob", password: "bob-pw", groups: ["partners"], type: "partner" },
];

export async function writeUsers(file: string, users: TestUser[]): Promise<void> {
  const list = await Promise.all(
    users.map(async (u) => ({
      name: u.name,
      password: await hashPassword(u.password, { N: 1024, r: 8, p: 1 }),
      groups: u.groups ?? [],
      type: u.type ?? "standard",
      ...(u.home ? { home: u.home } : {}),
    })),
  );
  await writeFile(file, JSON.stringify({ users: list }, null, 2));
}

export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-ftp-test-"));
  const root = path.join(dir, "data");
  await mkdir(root);
  const cfgDir = path.join(dir, "config");
  await mkdir(cfgDir);
  const usersPath = path.join(dir, "users.json");
  await writeUsers(usersPath, opts.users ?? DEFAULT_USERS);
  const passive = await freeRange(opts.passivePorts ?? 20);
  const base: ServerConfigInput = {
    version: 1,
    listen: { host: "127.0.0.1", controlPort: 0 },
    passive: { portStart: passive.start, portEnd: passive.end, quarantineSeconds: 0, acceptTimeoutSeconds: 5 },
    usersFile: usersPath,
    storage: { root },
    metrics: { host: "127.0.0.1", port: await freePort() },
    limits: {
      maxSessions: 2000,
      maxSessionsPerIp: 2000,
      idleTimeoutSeconds: 30,
      dataTimeoutSeconds: 30,
      maxCommandLength: 4096,
      loginFailureDelayMs: 0,
    },
    drainGraceSeconds: 5,
  };
  const config = opts.config ? opts.config(base) : base;
  const configPath = path.join(cfgDir, opts.format === "json" ? "config.json" : "config.yaml");
  const serialize = (c: ServerConfigInput) => (opts.format === "json" ? JSON.stringify(c, null, 2) : stringify(c));
  await writeFile(configPath, serialize(config));

  const args = ["--no-warnings", MAIN, "--config", configPath];
  if (opts.slot !== undefined) args.push("--slot", String(opts.slot));
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, LOG_LEVEL: "info", PASV_RELOAD_POLL_MS: "300", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Array<Record<string, unknown>> = [];
  let dropped = 0; // lines spliced off the front of `logs`
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let buf = "";
  let stderr = "";
  proc.stdout.setEncoding("utf8");
  proc.stdout.on("data", (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        rec = { msg: line };
      }
      logs.push(rec);
      if (logs.length > 5000) {
        logs.splice(0, 1000);
        dropped += 1000;
      }
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(rec)) {
          waiters[i]!.resolve(rec);
          waiters.splice(i, 1);
        }
      }
    }
  });
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));

  const logMark = (): number => dropped + logs.length;
  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000, since = 0) => {
    const hit = logs.slice(Math.max(0, since - dropped)).find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for a log line; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
      waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  };

  let listening: Record<string, unknown>;
  try {
    listening = await Promise.race([
      waitForLog((l) => l.msg === "listening"),
      exited.then((code) => {
        throw new Error(`server exited with ${code}: ${stderr}\n${logs.map((l) => JSON.stringify(l)).join("\n")}`);
      }),
    ]);
  } catch (err) {
    proc.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const running: RunningServer = {
    dir,
    root,
    configPath,
    usersPath,
    controlPort: listening.controlPort as number,
    implicitTlsPort: (listening.implicitTlsPort as number | null) ?? null,
    metricsPort: (listening.metricsPort as number | null) ?? null,
    passive,
    proc,
    logs,
    exited,
    config,
    waitForLog,
    logMark,
    async writeConfig(cfg) {
      running.config = cfg;
      await writeFile(configPath, serialize(cfg));
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return running;
}

/** A minimal FTP control client: send a line, read a whole (possibly multi-line) reply. */
export class RawFtp {
  readonly socket: Socket;
  private buf = "";
  private readonly replies: Array<{ code: number; text: string }> = [];
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.buf += d;
      this.parse();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  static connect(port: number, host = "127.0.0.1"): Promise<RawFtp> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => resolve(new RawFtp(s)));
      s.once("error", reject);
    });
  }

  private parse(): void {
    for (;;) {
      const m = /^(\d{3}) [^\r\n]*\r?\n/m.exec(this.buf);
      if (!m) return;
      // A reply ends at the first line "ddd " whose code matches the first line's code.
      const first = /^(\d{3})([ -])/.exec(this.buf);
      if (!first) return;
      const code = first[1]!;
      const endRe = new RegExp(`(^|\\n)${code} [^\\r\\n]*\\r?\\n`);
      const end = endRe.exec(this.buf);
      if (!end) return;
      const stop = end.index + end[0].length;
      const text = this.buf.slice(0, stop);
      this.buf = this.buf.slice(stop);
      this.replies.push({ code: Number(code), text });
      this.waiter?.();
    }
  }

  async read(timeoutMs = 5000): Promise<{ code: number; text: string }> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.closed) throw new Error("connection closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a reply");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
    return this.replies.shift()!;
  }

  async cmd(line: string, timeoutMs = 5000): Promise<{ code: number; text: string }> {
    this.socket.write(line + "\r\n");
    return this.read(timeoutMs);
  }

  async login(user: string, pass: string): Promise<void> {
    const r1 = await this.cmd(`USER ${user}`);
    if (r1.code !== 331) throw new Error(`USER: ${r1.text}`);
    const r2 = await this.cmd(`PASS ${pass}`);
    if (r2.code !== 230) throw new Error(`PASS: ${r2.text}`);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Parses a 227 reply: (h1,h2,h3,h4,p1,p2). */
export function parsePasv(text: string): { host: string; port: number } {
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(text);
  if (!m) throw new Error(`bad PASV reply: ${text}`);
  const n = m.slice(1).map(Number);
  return { host: n.slice(0, 4).join("."), port: n[4]! * 256 + n[5]! };
}

export function parseEpsv(text: string): number {
  const m = /\(\|\|\|(\d+)\|\)/.exec(text);
  if (!m) throw new Error(`bad EPSV reply: ${text}`);
  return Number(m[1]);
}

/** Connects a data socket and collects everything it receives until the server closes it. */
export function readData(port: number, host = "127.0.0.1"): { socket: Socket; done: Promise<Buffer> } {
  const socket = connect({ port, host });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks)));
    socket.on("error", reject);
  });
  return { socket, done };
}

export async function metricsText(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

export function metricValue(text: string, name: string): number {
  const re = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, "m");
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
}

/** STOR/APPE-like `line` over EPSV: connects first, sends `body` on 150; returns the final reply (or the refusal). */
export async function epsvUpload(c: RawFtp, line: string, body: Buffer): Promise<{ code: number; text: string }> {
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const sock = connect({ port, host: "127.0.0.1" });
  sock.on("error", () => {});
  await new Promise((r) => sock.once("connect", r));
  const first = await c.cmd(line);
  if (first.code !== 150) {
    sock.destroy();
    return first;
  }
  sock.end(body);
  return c.read(15_000);
}

// Helpers for the hostile-client tests (adversarial, STARTTLS, FTPS reuse): a control client that
// can switch to TLS mid-stream, process resource probes (RSS, open fds) read from /proc, and a
// latency probe that keeps a well-behaved session busy while hostile clients run.

import { readFileSync, readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket, type ConnectionOptions } from "node:tls";
import { Duplex } from "node:stream";
import { RawFtp, metricValue, metricsText } from "./helpers.ts";

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Open file descriptors of a process (Linux /proc). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export async function metric(port: number, name: string): Promise<number> {
  return metricValue(await metricsText(port), name);
}

/** Polls `pred` every 50 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A control connection read line by line (replies only in the simple one-line form the tests
 * need, plus multi-line replies collapsed to their last line), that can start TLS on demand.
 */
export class LineClient {
  socket: Socket | TLSSocket;
  readonly raw: Socket;
  private buf = "";
  private readonly lines: string[] = [];
  private wake: (() => void) | null = null;
  closed = false;

  private constructor(raw: Socket) {
    this.raw = raw;
    this.socket = raw;
    this.listen(raw);
    raw.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    raw.on("error", () => {});
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: "127.0.0.1" }, () => resolve(new LineClient(s)));
      s.once("error", reject);
    });
  }

  private readonly onData = (d: Buffer) => {
    this.buf += d.toString("latin1");
    let i: number;
    while ((i = this.buf.indexOf("\r\n")) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      // Keep final reply lines ("ddd text"); drop continuation lines of multi-line replies.
      if (/^\d{3} /.test(line)) this.lines.push(line);
    }
    this.wake?.();
  };

  private listen(s: Socket | TLSSocket): void {
    s.on("data", this.onData);
  }

  /** The next final reply line; throws after timeoutMs or when the connection closed first. */
  async next(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error("connection closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a reply");
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          r();
        };
      });
    }
    return this.lines.shift()!;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async send(line: string, timeoutMs = 5000): Promise<string> {
    this.socket.write(line + "\r\n");
    return this.next(timeoutMs);
  }

  /** Starts TLS on the control connection (after a 234). */
  async startTls(): Promise<TLSSocket> {
    this.raw.off("data", this.onData);
    const t = tlsConnect({ socket: this.raw, rejectUnauthorized: false, servername: "localhost" });
    t.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      t.once("secureConnect", () => resolve());
      t.once("error", reject);
    });
    this.socket = t;
    this.listen(t);
    return t;
  }

  /** Resolves when the server closed the connection (true) or after timeoutMs (false). */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    return until(() => this.closed, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
    this.raw.destroy();
  }
}

/** Logs in over explicit FTPS and sets PBSZ 0 / PROT P; returns the client and its TLS session. */
export async function ftpsLogin(port: number, user = "alice", pass = "alice-pw"): Promise<{ c: LineClient; tls: TLSSocket }> {
  const c = await LineClient.connect(port);
  if (!(await c.next()).startsWith("220")) throw new Error("no greeting");
  if (!(await c.send("AUTH TLS")).startsWith("234")) throw new Error("AUTH TLS refused");
  const tls = await c.startTls();
  if (!(await c.send(`USER ${user}`)).startsWith("331")) throw new Error("USER");
  if (!(await c.send(`PASS ${pass}`)).startsWith("230")) throw new Error("PASS");
  if (!(await c.send("PBSZ 0")).startsWith("200")) throw new Error("PBSZ");
  if (!(await c.send("PROT P")).startsWith("200")) throw new Error("PROT");
  // TLS 1.3 tickets arrive after the handshake; give them a moment.
  await until(() => tls.getSession() !== undefined, 2000);
  return { c, tls };
}

/**
 * A TLS data connection whose TCP socket the test controls: `cutTcp()` sends a bare FIN with no
 * close_notify (a truncated upload), `tls.end()` a clean close_notify + FIN.
 */
export function tlsOverControlledTcp(port: number, opts: ConnectionOptions): { tls: TLSSocket; secure: Promise<void>; cutTcp: () => void; tcp: Socket } {
  const tcp = connect({ port, host: "127.0.0.1" });
  tcp.on("error", () => {});
  const pipe = new Duplex({
    read() {
      tcp.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      tcp.write(chunk, cb);
    },
    final(cb) {
      tcp.end();
      cb();
    },
    destroy(err, cb) {
      tcp.destroy();
      cb(err);
    },
  });
  tcp.on("data", (c: Buffer) => {
    if (!pipe.push(c)) tcp.pause();
  });
  tcp.on("end", () => pipe.push(null));
  const tls = tlsConnect({ ...opts, socket: pipe, rejectUnauthorized: false, servername: "localhost" });
  tls.on("error", () => {});
  const secure = new Promise<void>((r) => tls.once("secureConnect", () => r()));
  return { tls, secure, tcp, cutTcp: () => tcp.end() };
}

/**
 * Keeps one logged-in session sending NOOP every `everyMs` and records each round trip; `stop()`
 * returns the latencies (ms: slowest and median) and how many probes got no answer within `boundMs`.
 */
export async function latencyProbe(
  port: number,
  everyMs = 200,
  boundMs = 1000,
): Promise<{ stop: () => Promise<{ max: number; median: number; count: number; late: number; failures: string[] }> }> {
  const c = await RawFtp.connect(port);
  await c.read();
  await c.login("bob", "bob-pw");
  let running = true;
  const times: number[] = [];
  let late = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const r = await c.cmd("NOOP", boundMs);
        if (r.code !== 200) {
          late++;
          failures.push(r.text.trim());
        }
        times.push(performance.now() - t0);
      } catch (err) {
        late++;
        failures.push(`${(err as Error).message} after ${(performance.now() - t0).toFixed(0)} ms`);
      }
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      c.close();
      return { max: times.length ? Math.max(...times) : Infinity, median: times.length ? median(times) : Infinity, count: times.length, late, failures };
    },
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

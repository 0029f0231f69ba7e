// A minimal FTP client on raw sockets for the benchmarks: a control connection that reads
// replies (multi-line aware) and a data path that only counts bytes. No parsing beyond what the
// benchmarks need, no per-byte work, so the client costs the same against any server.
import { connect, type Socket } from "node:net";

export interface Reply {
  code: number;
  text: string;
}

export class FtpError extends Error {
  readonly reply: Reply | undefined;
  constructor(message: string, reply?: Reply) {
    super(reply ? `${message}: ${reply.code} ${reply.text}` : message);
    this.reply = reply;
  }
}

/**
 * What data connections read into: one buffer for all of them, since the client only counts the
 * bytes. A fresh 64 KiB buffer per read (Node's default) was 1 GiB of garbage per sessions round,
 * and the client's own GC pauses then landed inside the PASV burst it times, for either server.
 */
const DATA_READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** Connects a TCP socket with a timeout; `onRead` makes it read into DATA_READ_BUFFER and report only the byte counts. */
export function dial(host: string, port: number, timeoutMs: number, onRead?: (bytes: number) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host,
      port,
      noDelay: true,
      ...(onRead
        ? {
            onread: {
              buffer: DATA_READ_BUFFER,
              callback: (n: number) => {
                onRead(n);
                return true;
              },
            },
          }
        : {}),
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new FtpError(`connect ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(new FtpError(`connect ${host}:${port}: ${e.message}`));
    });
  });
}

export class Control {
  private buf = "";
  private multi: number | null = null;
  private lines: string[] = [];
  private replies: Reply[] = [];
  private waiter: { resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;
  private closed: Error | null = null;
  readonly socket: Socket;
  timeoutMs: number;

  private constructor(socket: Socket, timeoutMs: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("error", (e) => this.fail(new FtpError(`control: ${e.message}`)));
    socket.on("close", () => this.fail(new FtpError("control connection closed by the server")));
  }

  static async open(host: string, port: number, timeoutMs = 30_000): Promise<{ ctl: Control; greeting: Reply }> {
    const ctl = new Control(await dial(host, port, timeoutMs), timeoutMs);
    let greeting: Reply;
    try {
      greeting = await ctl.read();
    } catch (e) {
      // e.g. a connection the kernel completed but the server never accepted (accept queue
      // overflow): without this it would stay ESTABLISHED on our side forever.
      ctl.close();
      throw new FtpError(`greeting: ${(e as Error).message}`);
    }
    if (greeting.code !== 220) {
      ctl.close();
      throw new FtpError("greeting", greeting);
    }
    return { ctl, greeting };
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, "");
      this.buf = this.buf.slice(i + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const m = /^(\d{3})([ -])(.*)$/.exec(line);
    if (this.multi === null) {
      if (!m) return; // garbage outside a reply: ignore
      const code = Number(m[1]);
      if (m[2] === "-") {
        this.multi = code;
        this.lines = [m[3] ?? ""];
        return;
      }
      this.push({ code, text: m[3] ?? "" });
      return;
    }
    this.lines.push(m ? (m[3] ?? "") : line);
    if (m && Number(m[1]) === this.multi && m[2] === " ") {
      this.push({ code: this.multi, text: this.lines.join("\n") });
      this.multi = null;
      this.lines = [];
    }
  }

  private push(r: Reply): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(r);
    } else this.replies.push(r);
  }

  private fail(e: Error): void {
    this.closed ??= e;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(e);
    }
  }

  /** The next reply (waits up to timeoutMs). */
  read(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new FtpError(`no reply within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiter = {
        resolve: (x) => {
          clearTimeout(timer);
          resolve(x);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  async cmd(line: string): Promise<Reply> {
    if (this.closed) throw this.closed;
    this.socket.write(line + "\r\n");
    return this.read();
  }

  /** Sends a command and requires a reply code in [lo, hi]. */
  async expect(line: string, lo: number, hi = lo + 99): Promise<Reply> {
    const r = await this.cmd(line);
    if (r.code < lo || r.code > hi) throw new FtpError(line.split(" ")[0] ?? line, r);
    return r;
  }

  async login(user: string, pass: string): Promise<void> {
    const r = await this.cmd(`USER ${user}`);
    if (r.code === 230) return;
    if (r.code !== 331) throw new FtpError("USER", r);
    await this.expect(`PASS ${pass}`, 230, 230);
  }

  /** PASV; returns the advertised address and the round-trip time in ms. */
  async pasv(): Promise<{ host: string; port: number; ms: number }> {
    const t0 = performance.now();
    const r = await this.cmd("PASV");
    const ms = performance.now() - t0;
    if (r.code !== 227) throw new FtpError("PASV", r);
    const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(r.text);
    if (!m) throw new FtpError("PASV reply without an address", r);
    const n = m.slice(1).map(Number);
    return { host: n.slice(0, 4).join("."), port: (n[4] ?? 0) * 256 + (n[5] ?? 0), ms };
  }

  /** PASV + RETR, counting the bytes; returns the byte count and the PASV latency. */
  async retr(path: string): Promise<{ bytes: number; pasvMs: number }> {
    const { host, port, ms } = await this.pasv();
    let bytes = 0;
    const data = await dial(host, port, this.timeoutMs, (n) => (bytes += n));
    const done = new Promise<void>((resolve, reject) => {
      data.once("end", () => resolve());
      data.once("error", (e) => reject(new FtpError(`data: ${e.message}`)));
    });
    try {
      const pre = await this.cmd(`RETR ${path}`);
      if (pre.code !== 150 && pre.code !== 125) throw new FtpError("RETR", pre);
      await done;
      const fin = await this.read();
      if (fin.code !== 226 && fin.code !== 250) throw new FtpError("RETR completion", fin);
    } finally {
      data.destroy();
    }
    return { bytes, pasvMs: ms };
  }

  close(): void {
    this.socket.destroy();
  }

  async quit(): Promise<void> {
    try {
      if (!this.closed) {
        this.socket.write("QUIT\r\n");
        await Promise.race([this.read(), new Promise((r) => setTimeout(r, 1000))]);
      }
    } catch {
      // the server may close first
    } finally {
      this.close();
    }
  }
}

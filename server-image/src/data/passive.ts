// Passive data channels. A session's channel is one lease of a pool port plus a registration on
// that port's listener; the channel accepts exactly one data connection, after the
// data-connection check (docs/ftp-server.md, "Data-connection check"):
//
//   strict  - the data peer's IP (from the PROXY header when proxyProtocol.onData is on) must
//             equal the control connection's client IP; other connections are dropped and the
//             channel keeps waiting for the right one.
//   relaxed - the first connection wins, whoever it comes from (SNAT'ed paths); the channel stops
//             waiting at once. Under PROT P the session additionally requires TLS session reuse.
//
// One listener (net.Server) per host:port, shared by every channel waiting on that port: with
// passive.sharePorts the pool leases one port to sessions of different client IPs, and each data
// connection is handed to the channel waiting for its source IP. Without sharing a listener has at
// most one channel. The listener closes when its last channel stops waiting; a channel opened
// meanwhile waits for that close and listens again.
//
// Leases go back to the pool as soon as they stop mattering: a channel that never accepted a
// connection releases its port when it is closed (straight to the free list), one that did when
// its connection closes (the port is then the last choice for quarantineSeconds). A session holds
// at most one channel: opening a new one first closes the previous and waits for its release.
//
// Listeners are opened with pauseOnConnect so no byte is read before the session decides between
// plain and TLS.
//
// Pre-opened listeners (strict check only, see server.ts): a PASV's listen() and the close after
// its connection are most of the event loop's own work per PASV (a burst of 1,000 PASVs at once),
// so the server may open the pool's ports once (preopenListeners) and keep them open while no
// channel waits (ListenerPolicy.keepIdle). An idle listener is not a way in: a connection nobody
// waits for is destroyed unread (counted as extra_connection, never logged per connection), and a
// channel only gets connections accepted while it waits that pass its check. Relaxed mode never
// keeps listeners: there the first connection wins, so none may be in the backlog before the PASV.

import { createServer, type Server, type Socket } from "node:net";
import { normalizeIp, type AddressMatcher } from "../classes/match.ts";
import { readProxyHeader } from "../proxy-protocol/read.ts";
import type { PortPool } from "../passive/pool.ts";

export interface DataCheck {
  mode: "strict" | "relaxed";
  /** The control connection's client IP (after PROXY protocol). */
  clientIp: string;
  /** When PROXY headers are expected on data connections: who may send them. */
  proxyTrusted: AddressMatcher | null;
  proxyTimeoutMs: number;
}

export interface AcceptedData {
  socket: Socket;
  /** Bytes read past a PROXY header; must be fed to the next reader first. */
  rest: Buffer;
}

export type RejectReason = "peer_mismatch" | "proxy_untrusted" | "proxy_error" | "extra_connection";
type OnReject = (reason: RejectReason, peer: string) => void;

/** Which listeners stay open without a waiting channel, and who hears of connections to them. */
export interface ListenerPolicy {
  keepIdle(host: string, port: number): boolean;
  /** A connection to a kept listener that no channel waits for (destroyed unread). */
  onIdleConnection(peer: string): void;
}

/** Waiting key of a channel on its listener: the client IP (strict), or any peer (relaxed). */
const ANY = "*";

/**
 * Why a channel stopped waiting, made once: an Error built per close captured a stack trace each
 * time (V8 materialising the optimised frames), a sixth of the server's CPU in a burst of PASVs
 * that replace earlier channels, and once per RETR as its channel closes. Nobody reads their stacks.
 */
function stacklessError(message: string): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const e = new Error(message);
  Error.stackTraceLimit = limit;
  return e;
}
const CHANNEL_CLOSED = stacklessError("data channel closed");
const ACCEPT_TIMEOUT = stacklessError("no data connection within the accept timeout");
const CONNECTION_REFUSED = stacklessError("data connection refused");

/** The listening socket of one host:port and the channels waiting on it, by client IP. */
class PortListener {
  readonly key: string;
  readonly server: Server;
  readonly waiting = new Map<string, PassiveChannel>();
  readonly ready: Promise<void>;
  /** Set once the last channel stopped waiting: resolves when the socket is closed. */
  closing: Promise<void> | null = null;
  readonly host: string;
  readonly port: number;
  /** Set by preopenListeners or a channel: whether this listener outlives its last channel. */
  policy: ListenerPolicy | null = null;
  /** Rejects of the most recent channel: connections nobody waits for are counted through it. */
  private onReject: OnReject = () => {};
  /** No channel waited since the last one left (or ever): connections go to policy.onIdleConnection. */
  private idle = true;

  constructor(key: string, host: string, port: number) {
    this.key = key;
    this.host = host;
    this.port = port;
    this.server = createServer({ pauseOnConnect: true, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      const onErr = (e: Error) => {
        this.server.close();
        reject(e);
      };
      this.server.once("error", onErr);
      this.server.listen({ host, port, backlog: 16, exclusive: true }, () => {
        this.server.off("error", onErr);
        this.server.on("error", (e) => {
          for (const ch of [...this.waiting.values()]) ch.fail(e);
        });
        resolve();
      });
    });
    this.server.on("connection", (s) => this.onConnection(s));
  }

  add(waitKey: string, ch: PassiveChannel, onReject: OnReject): void {
    this.waiting.set(waitKey, ch);
    this.onReject = onReject;
    // A listener with a waiting channel keeps the process alive, as before pre-opening.
    if (this.idle) this.server.ref();
    this.idle = false;
  }

  remove(waitKey: string, ch: PassiveChannel): void {
    if (this.waiting.get(waitKey) !== ch) return;
    this.waiting.delete(waitKey);
    this.closeIfIdle();
  }

  closeIfIdle(): void {
    if (this.waiting.size === 0 && !this.closing) {
      if (this.policy?.keepIdle(this.host, this.port)) {
        this.idle = true;
        this.server.unref();
        return;
      }
      this.closing = new Promise((resolve) => {
        this.server.close(() => {
          if (listeners.get(this.key) === this) listeners.delete(this.key);
          resolve();
        });
      });
    }
  }

  private onConnection(sock: Socket): void {
    sock.on("error", () => {});
    const peer = normalizeIp(sock.remoteAddress);
    const relaxed = this.waiting.get(ANY);
    if (relaxed) return relaxed.onRelaxedConnection(sock, peer);
    const first = this.waiting.values().next().value;
    if (!first) {
      if (this.idle && this.policy) this.policy.onIdleConnection(peer);
      else this.onReject("extra_connection", peer);
      sock.destroy();
      return;
    }
    const proxy = first.check.proxyTrusted;
    if (!proxy) return this.dispatch(sock, peer, peer, Buffer.alloc(0));
    if (!proxy.matches(peer)) {
      this.onReject("proxy_untrusted", peer);
      sock.destroy();
      return;
    }
    sock.resume();
    readProxyHeader(sock, first.check.proxyTimeoutMs).then(
      ({ info, rest }) => this.dispatch(sock, peer, info.sourceAddress ? normalizeIp(info.sourceAddress) : peer, rest),
      () => {
        this.onReject("proxy_error", peer);
        sock.destroy();
      },
    );
  }

  /** Strict: the connection goes to the channel waiting for its client IP, or is dropped. */
  private dispatch(sock: Socket, peer: string, client: string, rest: Buffer): void {
    const ch = this.waiting.get(client);
    if (!ch) {
      this.onReject(this.waiting.size === 0 ? "extra_connection" : "peer_mismatch", client === peer ? peer : `${client} via ${peer}`);
      sock.destroy();
      return;
    }
    ch.accept(sock, rest);
  }
}

const listeners = new Map<string, PortListener>();

/** Lets the event loop take other work between batches of pre-opened listens. */
const PREOPEN_BATCH = 64;

/**
 * Opens a kept listener on host:port for each of `ports` that has none yet (in batches, yielding
 * to the event loop between them). A port that cannot be listened on (EADDRINUSE: another process
 * holds it) is skipped; a PASV on it later fails as before and the pool moves on. Resolves with the
 * number of listeners opened.
 */
export async function preopenListeners(host: string, ports: Iterable<number>, policy: ListenerPolicy): Promise<number> {
  let opened = 0;
  // Out of file descriptors: stop at once, sessions need them more than pre-opened ports do.
  let outOfFds = false;
  let batch: Promise<void>[] = [];
  const flush = async (): Promise<void> => {
    await Promise.all(batch);
    batch = [];
    await new Promise<void>((r) => setImmediate(r));
  };
  for (const port of ports) {
    if (!policy.keepIdle(host, port)) continue;
    const key = `${host}|${port}`;
    const existing = listeners.get(key);
    if (existing) {
      existing.policy = policy;
      continue;
    }
    const l = new PortListener(key, host, port);
    l.policy = policy;
    l.server.unref();
    listeners.set(key, l);
    batch.push(
      l.ready.then(
        () => {
          opened++;
          // A kept listener no longer wanted (range changed meanwhile) closes now.
          if (l.waiting.size === 0) l.closeIfIdle();
        },
        (err: NodeJS.ErrnoException) => {
          if (listeners.get(key) === l) listeners.delete(key);
          if (err.code === "EMFILE" || err.code === "ENFILE") outOfFds = true;
        },
      ),
    );
    if (batch.length >= PREOPEN_BATCH) await flush();
    if (outOfFds) break;
  }
  await flush();
  return opened;
}

/** Closes the listeners without a waiting channel that `policy` no longer keeps (reload, stop). */
export function closeIdleListeners(policy: ListenerPolicy): void {
  for (const l of [...listeners.values()]) {
    if (l.policy === policy && l.waiting.size === 0 && !l.closing && !policy.keepIdle(l.host, l.port)) l.closeIfIdle();
  }
}

/** Listeners open now (waiting or kept idle): for tests and the pool's memory figures. */
export function openListenerCount(): number {
  return listeners.size;
}

/** The open listener for host:port (created if needed), once it is listening and not closing. */
async function listenerFor(host: string, port: number): Promise<PortListener> {
  const key = `${host}|${port}`;
  for (;;) {
    let l = listeners.get(key);
    if (l?.closing) {
      await l.closing;
      continue;
    }
    if (!l) {
      l = new PortListener(key, host, port);
      listeners.set(key, l);
      l.ready.catch(() => {
        if (listeners.get(key) === l) listeners.delete(key);
      });
    }
    await l.ready;
    if (!l.closing) return l;
  }
}

export class PassiveChannel {
  readonly port: number;
  readonly check: DataCheck;
  /** Resolves once the lease is back in the pool. */
  readonly released: Promise<void>;
  private readonly listener: PortListener;
  private readonly waitKey: string;
  private accepted: AcceptedData | null = null;
  private claimed = false;
  private waiting = true;
  private releasedFlag = false;
  private resolveReleased!: () => void;
  private failure: Error | null = null;
  private waiter: { resolve: (d: AcceptedData) => void; reject: (e: Error) => void } | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly onRelease: (port: number, carriedConnection: boolean) => void;
  private readonly onReject: OnReject;

  private constructor(
    listener: PortListener,
    port: number,
    check: DataCheck,
    acceptTimeoutMs: number,
    onRelease: (port: number, carriedConnection: boolean) => void,
    onReject: OnReject,
  ) {
    this.listener = listener;
    this.port = port;
    this.check = check;
    this.waitKey = check.mode === "strict" ? check.clientIp : ANY;
    this.onRelease = onRelease;
    this.onReject = onReject;
    this.released = new Promise((r) => (this.resolveReleased = r));
    this.timer = setTimeout(() => this.fail(ACCEPT_TIMEOUT), acceptTimeoutMs);
    this.timer.unref();
  }

  /**
   * Waits on host:port for the data connection of check.clientIp. Rejects (e.g. EADDRINUSE, or
   * the port already awaited for this client) without side effects on the pool.
   */
  static async open(
    host: string,
    port: number,
    check: DataCheck,
    acceptTimeoutMs: number,
    onRelease: (port: number, carriedConnection: boolean) => void,
    onReject: OnReject,
    policy: ListenerPolicy | null = null,
  ): Promise<PassiveChannel> {
    let listener = await listenerFor(host, port);
    while (listener.closing) listener = await listenerFor(host, port);
    listener.policy = policy;
    const ch = new PassiveChannel(listener, port, check, acceptTimeoutMs, onRelease, onReject);
    if (listener.waiting.has(ch.waitKey) || (listener.waiting.size > 0 && (ch.waitKey === ANY || listener.waiting.has(ANY)))) {
      clearTimeout(ch.timer);
      listener.closeIfIdle();
      throw new Error(`port ${port} is already awaited for ${ch.waitKey === ANY ? "another session" : ch.waitKey}`);
    }
    listener.add(ch.waitKey, ch, onReject);
    return ch;
  }

  /** Whether the lease is back in the pool. */
  get isReleased(): boolean {
    return this.releasedFlag;
  }

  /** The verified data connection, as soon as there is one. */
  take(): Promise<AcceptedData> {
    if (this.accepted) return Promise.resolve(this.accepted);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Stops waiting and closes any connection; the lease is released once nothing is open. */
  close(): void {
    this.fail(CHANNEL_CLOSED);
    if (this.accepted) this.accepted.socket.destroy();
  }

  /** Relaxed mode: the first connection wins, before anything else (even a PROXY header read). */
  onRelaxedConnection(sock: Socket, peer: string): void {
    if (this.claimed || this.failure) {
      this.onReject("extra_connection", peer);
      sock.destroy();
      return;
    }
    this.claimed = true;
    const proxy = this.check.proxyTrusted;
    if (!proxy) return this.accept(sock, Buffer.alloc(0));
    if (!proxy.matches(peer)) {
      this.onReject("proxy_untrusted", peer);
      sock.destroy();
      this.fail(CONNECTION_REFUSED);
      return;
    }
    sock.resume();
    readProxyHeader(sock, this.check.proxyTimeoutMs).then(
      ({ rest }) => this.accept(sock, rest),
      () => {
        this.onReject("proxy_error", peer);
        sock.destroy();
        this.fail(CONNECTION_REFUSED);
      },
    );
  }

  /** The checked data connection: stop waiting, hand it to the session. */
  accept(sock: Socket, rest: Buffer): void {
    if (this.failure || this.accepted) {
      sock.destroy();
      return;
    }
    this.claimed = true;
    this.accepted = { socket: sock, rest };
    sock.once("close", () => this.release(true));
    clearTimeout(this.timer);
    this.stopWaiting();
    if (this.waiter) {
      this.waiter.resolve(this.accepted);
      this.waiter = null;
    }
  }

  fail(err: Error): void {
    clearTimeout(this.timer);
    if (!this.accepted && !this.failure) {
      this.failure = err;
      if (this.waiter) {
        this.waiter.reject(err);
        this.waiter = null;
      }
    }
    this.stopWaiting();
    // Never carried a connection: the port goes straight back to the free list.
    if (!this.accepted) this.release(false);
  }

  private stopWaiting(): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.listener.remove(this.waitKey, this);
  }

  private release(carriedConnection: boolean): void {
    if (this.releasedFlag) return;
    this.releasedFlag = true;
    this.onRelease(this.port, carriedConnection);
    this.resolveReleased();
  }
}

export interface OpenPassive {
  /** The session: it holds at most one channel at a time. */
  owner: object;
  pool: PortPool;
  host: string;
  check: DataCheck;
  acceptTimeoutMs: number;
  onReject: OnReject;
  onListenError: (port: number, err: Error) => void;
  /** Keep the port's listener open once this channel is done (pre-opened pool ports). */
  policy?: ListenerPolicy | null;
}

const current = new WeakMap<object, PassiveChannel>();
/** How long a new PASV waits for the session's previous channel (its connection closing). */
const PREVIOUS_RELEASE_MS = 2000;

/**
 * A passive channel from the pool for one session, or null when the pool has no port for its
 * client. Closes the session's previous channel first and waits (bounded) until its lease is back,
 * so repeated PASV/EPSV from one session never holds more than one port.
 */
export async function openPassiveChannel(o: OpenPassive): Promise<PassiveChannel | null> {
  const prev = current.get(o.owner);
  if (prev) {
    prev.close();
    // A channel that never accepted a connection is released by close() itself; one whose
    // connection is closing is released on its 'close' event.
    if (!prev.isReleased) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([prev.released, new Promise<void>((r) => (timer = setTimeout(r, PREVIOUS_RELEASE_MS)))]);
      clearTimeout(timer);
    }
    current.delete(o.owner);
  }
  const client = o.check.clientIp;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = o.pool.allocate(client);
    if (port === null) return null;
    try {
      const ch = await PassiveChannel.open(o.host, port, o.check, o.acceptTimeoutMs, (p, carried) => o.pool.release(p, client, carried), o.onReject, o.policy ?? null);
      current.set(o.owner, ch);
      return ch;
    } catch (err) {
      // Someone else holds the port: make it the last choice (as if it had carried a connection), try another.
      o.pool.release(port, client, true);
      o.onListenError(port, err as Error);
    }
  }
  return null;
}

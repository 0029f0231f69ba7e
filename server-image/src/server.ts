// The FTP server: listeners (control, implicit FTPS), connection admission (PROXY protocol,
// limits), the shared state sessions read (config runtime, users, passive pool), hot reload of
// the config and users files, and drain on shutdown.

import { createServer, type Server, type Socket } from "node:net";
import type { Server as HttpServer } from "node:http";
import { lookup } from "node:dns/promises";
import { readFile } from "node:fs/promises";
import { readFileSync, watch, type FSWatcher } from "node:fs";
import path from "node:path";
import { parseUsers } from "#server-config";
import { parseConfig, passiveRangeFor } from "./config/load.ts";
import type { ServerConfig } from "./config/schema.ts";
import { AddressMatcher, ClassTable, RuleTable, normalizeIp } from "./classes/match.ts";
import { LoginThrottle, UserDb } from "./auth/users.ts";
import { sweepStale } from "./fs/open.ts";
import { PortPool } from "./passive/pool.ts";
import { closeIdleListeners, openListenerCount, preopenListeners, type ListenerPolicy } from "./data/passive.ts";
import { loadNativeIo } from "./data/native-io.ts";
import { Metrics } from "./metrics.ts";
import type { Logger } from "./log.ts";
import { readProxyHeader } from "./proxy-protocol/read.ts";
import { loadTls, fingerprintFiles, startServerTls, prependBytes } from "./tls/context.ts";
import { Session, connectionInfo } from "./session/session.ts";
import type { Runtime, ServerContext } from "./session/context.ts";
import { formatReply } from "./protocol/reply.ts";

export interface ServerOptions {
  configPath: string;
  slot: number | null;
  log: Logger;
  /** How often the config, users and certificate files are re-read (besides fs.watch events). */
  pollMs?: number;
}

export interface ListeningPorts {
  controlPort: number;
  implicitTlsPort: number | null;
  metricsPort: number | null;
}

function compile(config: ServerConfig, previousTls: { fp: string; ctx: Runtime["tls"] } | null): { runtime: Runtime; tlsFp: string | null } {
  let tls: Runtime["tls"] = null;
  let tlsFp: string | null = null;
  if (config.tls.mode !== "none" && config.tls.certFile && config.tls.keyFile) {
    const fp = fingerprintFiles(config.tls.certFile, config.tls.keyFile);
    if (previousTls && fp && fp === previousTls.fp) {
      tls = previousTls.ctx;
      tlsFp = fp;
    } else {
      const loaded = loadTls(config.tls.certFile, config.tls.keyFile);
      tls = loaded.context;
      tlsFp = loaded.fingerprint;
    }
  }
  return {
    runtime: {
      config,
      classes: new ClassTable(config.userClasses),
      rules: new RuleTable(config.passive.addressRules),
      proxyTrusted: config.proxyProtocol.enabled ? new AddressMatcher(config.proxyProtocol.trustedSources) : null,
      tls,
    },
    tlsFp,
  };
}

/**
 * Pre-opened passive listeners (data/passive.ts): at most this many ports per local address
 * (PASV_PREOPEN_MAX_PORTS, 0 = never pre-open). An idle listener costs about 7 KB (measured: 2,000
 * listeners, +14.7 MB PSS) and one file descriptor; a larger range listens per PASV as before.
 */
const PREOPEN_MAX_PORTS = Number(process.env.PASV_PREOPEN_MAX_PORTS ?? "4096");
/** Local addresses (control connections' destinations) whose passive ports are pre-opened. */
const PREOPEN_MAX_HOSTS = 4;

/** The soft limit on open files (Node raises it to the hard limit at start), or null if unknown. */
function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "latin1"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
/** At most a quarter of the file descriptors go to pre-opened ports (all addresses): sessions need two each. */
const PREOPEN_FD_BUDGET = Math.floor((openFileLimit() ?? 4096) / 4);

export class FtpServer implements ServerContext {
  runtime: Runtime;
  users: UserDb;
  readonly pool: PortPool;
  readonly throttle = new LoginThrottle();
  readonly metrics: Metrics;
  readonly log: Logger;
  draining = false;

  private readonly opts: ServerOptions;
  private readonly slot: number | null;
  private configText: string;
  private usersText: string;
  private usersPath: string;
  private tlsFp: string | null;
  private readonly sessions = new Set<Session>();
  private readonly perIp = new Map<string, number>();
  private readonly listeners: Server[] = [];
  private metricsServer: HttpServer | null = null;
  private watchers: FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  private reloading: Promise<void> | null = null;
  private nextId = 1;
  private readonly dnsCache = new Map<string, { ip: string | null; expires: number }>();
  /** Local addresses whose passive ports are pre-opened (the PASV listen host is the control connection's local IP). */
  private readonly warmHosts = new Set<string>();
  private stopped = false;
  /** Which passive listeners stay open between PASVs: pool ports on warmed hosts, strict check, small enough range. */
  readonly listenerPolicy: ListenerPolicy = {
    keepIdle: (host, port) => {
      if (this.stopped || !this.preopenWanted() || !this.warmHosts.has(host)) return false;
      const r = this.pool.range;
      return port >= r.start && port <= r.end;
    },
    onIdleConnection: () => this.metrics.dataRejected.inc({ reason: "extra_connection" }),
  };

  /** Reads and validates both files; throws on bad input (the process should not start). */
  static async create(opts: ServerOptions): Promise<FtpServer> {
    const configText = await readFile(opts.configPath, "utf8");
    const config = parseConfig(configText, opts.configPath);
    const usersText = await readFile(config.usersFile, "utf8");
    const users = parseUsers(usersText, config.usersFile);
    return new FtpServer(opts, config, configText, users, usersText);
  }

  private constructor(opts: ServerOptions, config: ServerConfig, configText: string, users: ReturnType<typeof parseUsers>, usersText: string) {
    this.opts = opts;
    this.log = opts.log;
    this.slot = opts.slot;
    this.configText = configText;
    this.usersText = usersText;
    this.usersPath = config.usersFile;
    const { runtime, tlsFp } = compile(config, null);
    this.runtime = runtime;
    this.tlsFp = tlsFp;
    this.users = new UserDb(users);
    const range = passiveRangeFor(config, this.slot);
    if (range.note) this.log.error({ slot: this.slot }, range.note);
    this.pool = new PortPool(range.start, range.end, { quarantineMs: config.passive.quarantineSeconds * 1000, sharePorts: config.passive.sharePorts });
    this.metrics = new Metrics(() => this.pool.stats(), openListenerCount);
  }

  /** Relaxed mode never keeps listeners (its first connection wins: none may wait in a backlog before the PASV). */
  private preopenWanted(hosts = Math.max(1, this.warmHosts.size)): boolean {
    const r = this.pool.range;
    const size = r.end - r.start + 1;
    return this.runtime.config.dataConnectionCheck === "strict" && size > 0 && size <= PREOPEN_MAX_PORTS && size * hosts <= PREOPEN_FD_BUDGET;
  }

  /**
   * Opens the pool's ports on `host` in the background, once per host, so a PASV finds its
   * listener open and listen()/close() leave the per-PASV path (a burst of 1,000 PASVs at once).
   */
  private warmPassive(host: string): void {
    if (this.stopped || this.warmHosts.has(host) || this.warmHosts.size >= PREOPEN_MAX_HOSTS || !this.preopenWanted(this.warmHosts.size + 1)) return;
    this.warmHosts.add(host);
    this.preopen(host);
  }

  private preopen(host: string): void {
    const { start, end } = this.pool.range;
    const ports = (function* () {
      for (let p = start; p <= end; p++) yield p;
    })();
    void preopenListeners(host, ports, this.listenerPolicy).then(
      (n) => this.log.debug({ host, opened: n, range: { start, end } }, "passive listeners pre-opened"),
      (err: unknown) => this.log.warn({ host, err: (err as Error).message }, "pre-opening passive listeners failed"),
    );
  }

  async start(): Promise<ListeningPorts> {
    const cfg = this.runtime.config;
    const control = await this.listen(cfg.listen.host, cfg.listen.controlPort, false);
    let implicitTlsPort: number | null = null;
    if ((cfg.tls.mode === "implicit" || cfg.tls.mode === "both") && cfg.listen.implicitTlsPort !== undefined) {
      implicitTlsPort = await this.listen(cfg.listen.host, cfg.listen.implicitTlsPort, true);
    }
    let metricsPort: number | null = null;
    if (cfg.metrics.port !== 0) {
      this.metricsServer = await this.metrics.serve(cfg.metrics.host, cfg.metrics.port, () => !this.draining);
      const a = this.metricsServer.address();
      metricsPort = a && typeof a === "object" ? a.port : null;
    }
    this.startWatching();
    // Upload temp files (fs/uploads.ts) or multipart uploads (fs/s3.ts) left by a crash or a drain deadline; in the background.
    void sweepStale(cfg.storage).then((n) => n > 0 && this.log.info({ removed: n }, "removed stale upload temp files"));
    const range = this.pool.range;
    this.log.info(
      { controlPort: control, implicitTlsPort, metricsPort, passive: range, slot: this.slot, users: this.users.size, nativeIo: loadNativeIo().why },
      "listening",
    );
    return { controlPort: control, implicitTlsPort, metricsPort };
  }

  private listen(host: string, port: number, implicit: boolean): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer({ pauseOnConnect: true, noDelay: true }, (sock) => {
        this.onConnection(sock, implicit).catch((err: unknown) => {
          this.log.warn({ err: (err as Error).message }, "connection setup failed");
          sock.destroy();
        });
      });
      server.on("error", (err) => {
        if (!server.listening) reject(err);
        else this.log.error({ err: err.message }, "listener error");
      });
      server.listen({ host, port, backlog: 4096 }, () => {
        this.listeners.push(server);
        const a = server.address();
        resolve(a && typeof a === "object" ? a.port : port);
      });
    });
  }

  private async onConnection(sock: Socket, implicit: boolean): Promise<void> {
    sock.on("error", () => {});
    const rt = this.runtime;
    const peer = normalizeIp(sock.remoteAddress);
    if (!peer) {
      sock.destroy();
      return;
    }
    if (this.draining) {
      this.metrics.sessionsTotal.inc({ result: "refused_draining" });
      sock.end(formatReply(421, "Server shutting down"));
      return;
    }
    let clientIp = peer;
    let clientPort: number | null = null;
    let rest: Buffer = Buffer.alloc(0);
    if (rt.proxyTrusted) {
      if (!rt.proxyTrusted.matches(peer)) {
        this.metrics.sessionsTotal.inc({ result: "refused_proxy" });
        this.log.warn({ peer }, "connection from an untrusted PROXY protocol source refused");
        sock.destroy();
        return;
      }
      sock.resume();
      try {
        const r = await readProxyHeader(sock, 5000);
        if (r.info.sourceAddress) {
          clientIp = normalizeIp(r.info.sourceAddress);
          clientPort = r.info.sourcePort;
        }
        rest = r.rest;
      } catch (err) {
        this.metrics.sessionsTotal.inc({ result: "refused_proxy" });
        this.log.warn({ peer, err: (err as Error).message }, "bad PROXY protocol header");
        sock.destroy();
        return;
      }
    }
    const limits = rt.config.limits;
    const ipCount = this.perIp.get(clientIp) ?? 0;
    if (this.sessions.size >= limits.maxSessions || ipCount >= limits.maxSessionsPerIp) {
      this.metrics.sessionsTotal.inc({ result: "refused_limit" });
      this.log.warn({ client: clientIp, sessions: this.sessions.size, perIp: ipCount }, "session limit reached");
      sock.end(formatReply(421, "Too many connections, try again later"));
      return;
    }
    const info = connectionInfo(sock, clientIp, clientPort, implicit);
    this.warmPassive(info.localIp);
    // Count the session before any await so limits hold under a burst of connections.
    this.perIp.set(clientIp, ipCount + 1);
    let control: Socket = sock;
    if (implicit) {
      const ctx = rt.tls;
      if (!ctx) {
        this.releaseIp(clientIp);
        sock.destroy();
        return;
      }
      try {
        control = await startServerTls(rest.length ? prependBytes(sock, rest) : sock, ctx, 10_000);
      } catch (err) {
        this.releaseIp(clientIp);
        this.log.info({ client: clientIp, err: (err as Error).message }, "implicit TLS handshake failed");
        return;
      }
    } else if (rest.length) {
      sock.unshift(rest);
    }
    const id = (this.nextId++).toString(36);
    const session = new Session(this, control, info, id, (s) => this.onSessionClosed(s));
    if (session.closing) return;
    this.sessions.add(session);
    this.metrics.sessions.set(this.sessions.size);
    this.metrics.sessionsTotal.inc({ result: "accepted" });
    this.log.debug({ session: id, client: clientIp, implicit }, "session opened");
    session.start();
  }

  private releaseIp(ip: string): void {
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  private onSessionClosed(s: Session): void {
    if (!this.sessions.delete(s)) {
      // Closed before it was registered (e.g. the socket died during setup).
      this.releaseIp(s.info.clientIp);
      return;
    }
    this.releaseIp(s.info.clientIp);
    this.metrics.sessions.set(this.sessions.size);
    this.log.debug({ session: s.id }, "session closed");
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async resolveIpv4(host: string): Promise<string | null> {
    const now = Date.now();
    const hit = this.dnsCache.get(host);
    if (hit && hit.expires > now) return hit.ip;
    let ip: string | null = null;
    try {
      ip = (await lookup(host, { family: 4 })).address;
    } catch (err) {
      this.log.warn({ host, err: (err as Error).message }, "cannot resolve passive address");
    }
    this.dnsCache.set(host, { ip, expires: now + (ip ? 30_000 : 5_000) });
    return ip;
  }

  // ---- hot reload ----

  private startWatching(): void {
    this.rewatch();
    const pollMs = this.opts.pollMs ?? 2000;
    this.pollTimer = setInterval(() => this.scheduleReload(0), pollMs);
    this.pollTimer.unref();
  }

  /** Watches the directories (not the files): a ConfigMap update swaps the `..data` symlink. */
  private rewatch(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    const dirs = new Set([path.dirname(path.resolve(this.opts.configPath)), path.dirname(path.resolve(this.usersPath))]);
    const tls = this.runtime.config.tls;
    if (tls.certFile) dirs.add(path.dirname(path.resolve(tls.certFile)));
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.scheduleReload(100));
        w.on("error", () => {});
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ dir, err: (err as Error).message }, "cannot watch directory; relying on polling");
      }
    }
  }

  private scheduleReload(delayMs: number): void {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      void this.reload();
    }, delayMs);
    this.reloadTimer.unref();
  }

  /** Re-reads the config, users and certificate files; applies what changed. Never throws. */
  reload(): Promise<void> {
    if (this.reloading) return this.reloading.then(() => this.reload());
    this.reloading = this.doReload().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.opts.configPath, "utf8");
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "cannot read config file; keeping the current config");
      return;
    }
    const tls = this.runtime.config.tls;
    const certChanged =
      tls.mode !== "none" && tls.certFile && tls.keyFile && fingerprintFiles(tls.certFile, tls.keyFile) !== this.tlsFp;
    if (text !== this.configText || certChanged) {
      try {
        this.applyConfig(parseConfig(text, this.opts.configPath));
        this.configText = text;
        this.metrics.reloads.inc({ file: "config", result: "ok" });
      } catch (err) {
        this.configText = text; // do not retry the same bad text every poll
        this.metrics.reloads.inc({ file: "config", result: "error" });
        this.log.error({ err: (err as Error).message }, "config reload rejected; keeping the current config");
      }
    }
    try {
      const utext = await readFile(this.usersPath, "utf8");
      if (utext !== this.usersText) {
        this.usersText = utext;
        try {
          const parsed = parseUsers(utext, this.usersPath);
          this.users = new UserDb(parsed);
          this.metrics.reloads.inc({ file: "users", result: "ok" });
          this.log.info({ users: this.users.size }, "users file reloaded");
        } catch (err) {
          this.metrics.reloads.inc({ file: "users", result: "error" });
          this.log.error({ err: (err as Error).message }, "users file reload rejected; keeping the current users");
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "cannot read users file; keeping the current users");
    }
  }

  private applyConfig(config: ServerConfig): void {
    const old = this.runtime.config;
    const { runtime, tlsFp } = compile(config, this.runtime.tls && this.tlsFp ? { fp: this.tlsFp, ctx: this.runtime.tls } : null);
    const range = passiveRangeFor(config, this.slot);
    if (range.note) this.log.error({ slot: this.slot }, range.note);
    const cur = this.pool.range;
    if (
      range.start !== cur.start ||
      range.end !== cur.end ||
      config.passive.quarantineSeconds !== old.passive.quarantineSeconds ||
      config.passive.sharePorts !== old.passive.sharePorts
    ) {
      this.pool.reconfigure(range.start, range.end, config.passive.quarantineSeconds * 1000, config.passive.sharePorts);
    }
    if (JSON.stringify(config.listen) !== JSON.stringify(old.listen) || JSON.stringify(config.metrics) !== JSON.stringify(old.metrics)) {
      this.log.warn("listen/metrics address changes take effect on restart");
    }
    const usersPathChanged = config.usersFile !== this.usersPath;
    this.runtime = runtime;
    this.tlsFp = tlsFp;
    if (usersPathChanged) {
      this.usersPath = config.usersFile;
      this.usersText = "";
    }
    if (usersPathChanged || config.tls.certFile !== old.tls.certFile) this.rewatch();
    this.dnsCache.clear();
    // Kept listeners outside the new range (or all, if pre-opening no longer applies) close; the new range is opened.
    closeIdleListeners(this.listenerPolicy);
    if (this.preopenWanted()) for (const h of this.warmHosts) this.preopen(h);
    this.log.info(
      { passive: range, externalAddress: config.passive.externalAddress, rules: config.passive.addressRules.length, classes: config.userClasses.length },
      "config reloaded",
    );
  }

  // ---- shutdown ----

  /**
   * Stops accepting, closes idle sessions with 421, lets running transfers finish for up to the
   * grace period, then closes whatever is left.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const grace = this.runtime.config.drainGraceSeconds * 1000;
    this.log.info({ sessions: this.sessions.size, graceMs: grace }, "draining");
    for (const l of this.listeners) l.close();
    for (const s of [...this.sessions]) s.drain();
    const deadline = Date.now() + grace;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (this.sessions.size > 0) {
      this.log.warn({ sessions: this.sessions.size }, "grace period over; closing the remaining sessions");
      for (const s of [...this.sessions]) s.closeWith(421, "Server shutting down");
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    closeIdleListeners(this.listenerPolicy);
    for (const w of this.watchers) w.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    for (const l of this.listeners) l.close();
    for (const s of [...this.sessions]) s.close();
    if (this.metricsServer) {
      this.metricsServer.closeAllConnections();
      await new Promise<void>((r) => this.metricsServer!.close(() => r()));
    }
  }
}

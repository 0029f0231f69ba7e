// One FTP control connection: reads command lines, runs them one at a time, and owns the
// session's data channel. ABOR, STAT, NOOP and QUIT are also honoured while a transfer runs or
// waits for its data connection.
//
// States: greeting -> (AUTH TLS) -> USER/PASS -> logged in -> (PASV|EPSV|PORT|EPRT -> transfer)*
// -> QUIT | idle timeout | login timeout | drain. Every failure of client input ends in a reply,
// never a throw.
//
// Input is read only while there is room (updateFlow): every byte read has been split into
// commands, fewer than MAX_QUEUE commands wait, no reply backlog (socket.write() has not returned
// false, i.e. less than the socket's writableHighWaterMark, 64 KiB, waits to go out; 'drain' ends a
// backlog), and no AUTH TLS pending. Lines are split from the read bytes only as the queue has room
// (LineSplitter.feed/shift). So a client that pipelines commands and never reads its replies costs
// a bounded amount of memory: the server stops reading it. Nothing after a plaintext `AUTH` line
// is split until AUTH is answered; when TLS starts, all of it (and a partial line) is dropped (no
// STARTTLS command injection); a refused AUTH lets it run as usual.

import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { isIP } from "node:net";
import { LineSplitter, parseCommand, type Command } from "../protocol/parser.ts";
import { formatReply } from "../protocol/reply.ts";
import { normalizeIp } from "../classes/match.ts";
import { dummyVerify, verifyPassword } from "../auth/password.ts";
import type { User } from "../auth/users.ts";
import { openPassiveChannel, type PassiveChannel, type RejectReason } from "../data/passive.ts";
import { connectActive, parseEprt, parsePort, refuseTarget, type ActiveTarget } from "../data/active.ts";
import { openUserStorage } from "../fs/open.ts";
import type { UserStorage } from "../fs/storage.ts";
import { startServerTls, prependBytes, requireCloseNotify } from "../tls/context.ts";
import type { ServerContext } from "./context.ts";
import { fileCommands } from "./files.ts";
import { Reply } from "./reply-error.ts";

export interface ConnectionInfo {
  /** The client's IP (from the PROXY header when one was used). */
  clientIp: string;
  clientPort: number;
  /** This server's address on the control connection (where passive listeners bind). */
  localIp: string;
  /** True for implicit FTPS. */
  secure: boolean;
}

/** A transfer command from its start: waiting for the data connection, its TLS handshake, then moving bytes. */
interface Transfer {
  /** True once bytes may move (after the 150 and any TLS handshake). */
  started: boolean;
  aborted: boolean;
  done: Promise<void>;
  bytes: () => number;
  /** Stops the wait or the transfer: closes the passive listener and the data connection. */
  cancel: () => void;
}

type Handler = (s: Session, arg: string) => Promise<void> | void;
interface CommandSpec {
  /** Needs a logged-in user. */
  auth: boolean;
  run: Handler;
}

/** Commands read ahead of the one running; reading stops beyond this. */
const MAX_QUEUE = 32;
const TLS_HANDSHAKE_MS = 10_000;
const DATA_HIGH_WATER = 1024 * 1024;

export class Session {
  readonly ctx: ServerContext;
  readonly info: ConnectionInfo;
  readonly id: string;
  socket: Socket | TLSSocket;
  secure: boolean;
  user: User | null = null;
  storage: UserStorage | null = null;
  cwd = "/";
  restOffset = 0;
  renameFrom: string | null = null;
  protP = false;
  pbszDone = false;
  epsvAll = false;
  private pendingUser: string | null = null;
  private failedLogins = 0;
  private passive: PassiveChannel | null = null;
  private active: ActiveTarget | null = null;
  transfer: Transfer | null = null;
  private splitter: LineSplitter;
  private readonly queue: Array<Command | "too-long"> = [];
  /** A plaintext AUTH is queued: nothing after it is split into commands until it is answered. */
  private authPending = false;
  private busy = false;
  private executing = false;
  private closed = false;
  private draining = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleMs = 0;
  private loginTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private roomWaiters: Array<() => void> = [];
  private readonly onCloseCb: (s: Session) => void;
  private readonly dataHandler = (chunk: Buffer) => this.onData(chunk);
  private readonly drainHandler = () => this.onDrain();

  constructor(ctx: ServerContext, socket: Socket | TLSSocket, info: ConnectionInfo, id: string, onClose: (s: Session) => void) {
    this.ctx = ctx;
    this.socket = socket;
    this.info = info;
    this.id = id;
    this.secure = info.secure;
    this.onCloseCb = onClose;
    this.splitter = new LineSplitter(ctx.runtime.config.limits.maxCommandLength);
    this.attach(socket);
  }

  start(): void {
    this.reply(220, this.ctx.runtime.config.greeting);
    this.armIdle();
    this.armLoginTimer();
  }

  get loggedIn(): boolean {
    return this.user !== null;
  }

  get closing(): boolean {
    return this.closed;
  }

  reply(code: number, text: string): void {
    if (this.closed || this.socket.destroyed) return;
    if (!this.socket.write(formatReply(code, text))) this.updateFlow();
  }

  /** Replies wait to go out beyond the socket's high-water mark: write() said so, 'drain' will follow. */
  private get backlogged(): boolean {
    return this.socket.writableNeedDrain;
  }

  /**
   * Server shutdown: the session may finish what it is doing; it is closed with 421 once it has
   * been quiet (no command, no transfer) for `drainQuietSeconds`. Each command restarts the wait.
   */
  drain(): void {
    this.draining = true;
    this.armDrain();
  }

  private armDrain(): void {
    if (!this.draining || this.closed) return;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => {
      if (this.executing || this.transfer) return this.armDrain();
      this.closeWith(421, "Server shutting down, please reconnect");
    }, this.ctx.runtime.config.drainQuietSeconds * 1000);
    this.drainTimer.unref();
  }

  /** Ends the session with a final reply. */
  closeWith(code: number, text: string): void {
    if (this.closed) return;
    this.reply(code, text);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.loginTimer) clearTimeout(this.loginTimer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.closeData();
    // Also a transfer still waiting for its data connection: a late connection gets nothing.
    if (this.transfer) this.transfer.cancel();
    this.queue.length = 0;
    this.authPending = false;
    for (const w of this.roomWaiters.splice(0)) w();
    const s = this.socket;
    s.end();
    setTimeout(() => s.destroy(), 2000).unref();
    this.onCloseCb(this);
  }

  // ---- input ----

  private attach(socket: Socket | TLSSocket): void {
    socket.on("data", this.dataHandler);
    socket.on("drain", this.drainHandler);
    socket.on("error", (err: Error) => {
      this.ctx.log.debug({ session: this.id, err: err.message }, "control connection error");
    });
    socket.on("close", () => this.close());
    socket.on("end", () => this.close());
    socket.resume();
  }

  /** Reads input only while there is room for it (see the file comment). */
  private updateFlow(): void {
    if (this.closed) return;
    const s = this.socket;
    const stop = this.authPending || this.backlogged || this.splitter.unreadLength > 0 || this.queue.length >= MAX_QUEUE;
    if (stop && !s.isPaused()) s.pause();
    else if (!stop && s.isPaused()) s.resume();
  }

  private onDrain(): void {
    for (const w of this.roomWaiters.splice(0)) w();
    this.updateFlow();
  }

  /** Resolves once the reply backlog has gone out (or the session closed). */
  private replyRoom(): Promise<void> {
    if (this.closed || !this.backlogged) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private onData(chunk: Buffer): void {
    this.splitter.feed(chunk);
    this.fill();
    this.updateFlow();
    if (this.queue.length > 0) void this.pump();
  }

  /**
   * Splits read bytes into commands while the queue has room, answering out-of-band commands of a
   * running transfer at once; stops after a plaintext `AUTH` until it is answered.
   */
  private fill(): void {
    while (!this.authPending && !this.closed && this.queue.length < MAX_QUEUE) {
      const line = this.splitter.shift();
      if (!line) return;
      if (line.kind === "too-long") {
        this.queue.push("too-long");
        continue;
      }
      const cmd = parseCommand(line.text);
      if (!cmd) continue;
      if (this.transfer && OUT_OF_BAND.has(cmd.verb) && (cmd.verb !== "STAT" || !cmd.arg)) {
        this.outOfBand(cmd);
        continue;
      }
      this.queue.push(cmd);
      if (cmd.verb === "AUTH" && !this.secure) this.authPending = true;
    }
  }

  /** AUTH was refused: what arrived after it runs as usual. */
  private releaseAuthHold(): void {
    if (!this.authPending) return;
    this.authPending = false;
    this.fill();
    this.updateFlow();
  }

  private outOfBand(cmd: Command): void {
    const t = this.transfer;
    if (!t) return;
    if (cmd.verb === "STAT" || cmd.verb === "NOOP") {
      // A client that does not read these answers gets no more of them (bounded reply backlog).
      if (this.backlogged) return;
      if (cmd.verb === "NOOP") this.reply(200, "NOOP ok");
      else this.reply(213, `Status: ${t.started ? "transfer in progress" : "waiting for the data connection"}, ${t.bytes()} bytes moved`);
    } else if (cmd.verb === "ABOR") {
      if (t.aborted) return;
      t.aborted = true;
      t.cancel();
      void t.done.then(() => this.reply(226, "Abort successful"));
    } else if (!t.started) {
      // QUIT while waiting for the data connection or its TLS handshake: no transfer to finish.
      t.aborted = true;
      t.cancel();
      this.closeWith(221, this.ctx.runtime.config.messages.goodbye ?? "Goodbye");
    } else {
      void t.done.then(() => this.closeWith(221, this.ctx.runtime.config.messages.goodbye ?? "Goodbye"));
    }
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    let ran = false;
    try {
      while (this.queue.length > 0 && !this.closed) {
        if (this.backlogged) {
          // The client is not reading its replies: run nothing more until they have gone out.
          await this.replyRoom();
          continue;
        }
        const item = this.queue.shift()!;
        this.fill();
        this.updateFlow();
        this.armIdle();
        ran = true;
        if (item === "too-long") {
          this.reply(500, "Command line too long");
          continue;
        }
        this.executing = true;
        try {
          await this.execute(item);
        } finally {
          this.executing = false;
        }
        this.armDrain();
      }
    } finally {
      this.busy = false;
      // Only a complete command restarts the idle wait: bytes of a partial line do not (slowloris).
      if (ran) this.armIdle();
      this.updateFlow();
    }
  }

  private armIdle(): void {
    if (this.closed) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      return;
    }
    const ms = this.ctx.runtime.config.limits.idleTimeoutSeconds * 1000;
    // Twice per command: restart the same timer unless a reload changed the timeout.
    if (this.idleTimer && this.idleMs === ms) {
      this.idleTimer.refresh();
      return;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleMs = ms;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null; // fired: the next armIdle makes a new timer
      // Never while a command or a transfer runs; a client that only stopped reading is idle.
      if (this.transfer || this.executing) return this.armIdle();
      this.ctx.log.info({ session: this.id, client: this.info.clientIp }, "idle timeout");
      this.closeWith(421, "Idle timeout, closing control connection");
    }, ms);
    this.idleTimer.unref();
  }

  /** A session must log in within limits.loginTimeoutSeconds of connecting, whatever it sends. */
  private armLoginTimer(): void {
    if (this.loginTimer || this.closed) return;
    const ms = this.ctx.runtime.config.limits.loginTimeoutSeconds * 1000;
    this.loginTimer = setTimeout(() => {
      this.loginTimer = null;
      if (this.loggedIn) return;
      this.ctx.log.info({ session: this.id, client: this.info.clientIp }, "login timeout");
      this.closeWith(421, "Login timeout, closing control connection");
    }, ms);
    this.loginTimer.unref();
  }

  private async execute(cmd: Command): Promise<void> {
    if (cmd.verb === "") {
      this.reply(500, "Syntax error, command unrecognized");
      return;
    }
    // Checked first: the log object would otherwise be built for every command (1,000 PASVs at once).
    if (this.ctx.log.isLevelEnabled("debug")) {
      this.ctx.log.debug({ session: this.id, verb: cmd.verb, arg: cmd.verb === "PASS" ? "[redacted]" : cmd.arg.slice(0, 200) }, "command");
    }
    const spec = COMMANDS[cmd.verb];
    if (!spec) {
      this.reply(502, "Command not implemented");
      return;
    }
    if (spec.auth && !this.loggedIn) {
      this.reply(530, "Please login with USER and PASS");
      return;
    }
    // REST applies to the next transfer command (clients put PASV/TYPE/SIZE in between); RNFR to the next RNTO only.
    const keepRest = cmd.verb !== "RETR" && cmd.verb !== "STOR" && cmd.verb !== "APPE";
    const keepRename = cmd.verb === "RNFR" || cmd.verb === "RNTO";
    try {
      await spec.run(this, cmd.arg);
    } catch (err) {
      if (err instanceof Reply) {
        this.reply(err.code, err.message);
      } else {
        this.ctx.log.warn({ session: this.id, verb: cmd.verb, err: (err as Error).message }, "command failed");
        this.reply(451, "Requested action aborted: local error in processing");
      }
    }
    if (!keepRest) this.restOffset = 0;
    if (!keepRename) this.renameFrom = null;
  }

  // ---- login ----

  async user_(arg: string): Promise<void> {
    const tls = this.ctx.runtime.config.tls;
    if (tls.requireForLogin && !this.secure) throw new Reply(530, "TLS required: use AUTH TLS first");
    if (this.loggedIn) throw new Reply(503, "Already logged in");
    if (!arg) throw new Reply(501, "USER needs a user name");
    this.pendingUser = arg;
    this.reply(331, "Password required");
  }

  async pass(arg: string): Promise<void> {
    if (this.loggedIn) throw new Reply(503, "Already logged in");
    const name = this.pendingUser;
    if (name === null) throw new Reply(503, "Login with USER first");
    this.pendingUser = null;
    const u = this.ctx.users.get(name);
    let ok = false;
    if (u) ok = await verifyPassword(arg, u.passwordHash);
    else await dummyVerify(arg);
    const ip = this.info.clientIp;
    if (!ok) {
      this.ctx.metrics.logins.inc({ result: "failure" });
      this.ctx.throttle.fail(ip);
      this.failedLogins++;
      this.ctx.log.info({ session: this.id, client: ip, user: name }, "login failed");
      const delay = this.ctx.throttle.delayFor(ip, this.ctx.runtime.config.limits.loginFailureDelayMs);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (this.failedLogins >= 3) this.closeWith(421, "Too many failed logins");
      else this.reply(530, "Login incorrect");
      return;
    }
    let storage: UserStorage;
    try {
      storage = await openUserStorage(this.ctx.runtime.config.storage, u!.home);
    } catch (err) {
      this.ctx.log.error({ session: this.id, user: name, err: (err as Error).message }, "cannot prepare home directory");
      throw new Reply(550, "Home directory not available");
    }
    this.ctx.throttle.succeed(ip);
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
    this.user = u!;
    this.storage = storage;
    this.cwd = "/";
    this.ctx.metrics.logins.inc({ result: "success" });
    this.ctx.log.info({ session: this.id, client: ip, user: name, class: this.userClass() }, "login");
    this.reply(230, this.ctx.runtime.config.messages.login ?? "Login successful");
  }

  /** The session's class, from the current config and the current users file. */
  userClass(): string {
    const u = (this.user && this.ctx.users.get(this.user.name)) ?? this.user;
    return this.ctx.runtime.classes.classify({
      userName: u?.name ?? "",
      groups: u?.groups ?? [],
      userType: u?.type ?? "",
      address: this.info.clientIp,
    });
  }

  // ---- TLS ----

  async authTls(arg: string): Promise<void> {
    const mech = arg.trim().toUpperCase();
    const rt = this.ctx.runtime;
    try {
      if (mech !== "TLS" && mech !== "SSL" && mech !== "TLS-C") throw new Reply(504, "AUTH TLS only");
      if (!rt.tls || (rt.config.tls.mode !== "explicit" && rt.config.tls.mode !== "both")) throw new Reply(502, "TLS not available");
      if (this.secure) throw new Reply(503, "Already using TLS");
    } catch (err) {
      // Refused: the commands pipelined after AUTH run as plaintext commands, as sent.
      this.releaseAuthHold();
      throw err;
    }
    this.reply(234, "Proceed with TLS negotiation");
    const raw = this.socket;
    raw.off("data", this.dataHandler);
    raw.off("drain", this.drainHandler);
    raw.removeAllListeners("close");
    raw.removeAllListeners("end");
    raw.on("error", () => {});
    // Nothing sent in plaintext after AUTH is ever executed: the held lines, a partial line in the
    // splitter and bytes still buffered in the socket are dropped (the TLS layer would otherwise be
    // fed the buffered bytes as handshake data).
    this.authPending = false;
    this.queue.length = 0;
    this.splitter = new LineSplitter(rt.config.limits.maxCommandLength);
    while (raw.read() !== null);
    try {
      const tlsSocket = await startServerTls(raw, rt.tls, TLS_HANDSHAKE_MS);
      this.socket = tlsSocket;
      this.secure = true;
      this.attach(tlsSocket);
      // RFC 4217: a fresh login is needed after AUTH.
      this.user = null;
      this.pendingUser = null;
      this.armLoginTimer();
    } catch (err) {
      this.ctx.log.info({ session: this.id, client: this.info.clientIp, err: (err as Error).message }, "TLS handshake failed");
      this.close();
    }
  }

  pbsz(arg: string): void {
    if (!this.secure) throw new Reply(503, "PBSZ needs AUTH TLS first");
    if (!/^\d+$/.test(arg.trim())) throw new Reply(501, "PBSZ needs a number");
    this.pbszDone = true;
    this.reply(200, "PBSZ=0");
  }

  prot(arg: string): void {
    if (!this.secure) throw new Reply(503, "PROT needs AUTH TLS first");
    const level = arg.trim().toUpperCase();
    if (level === "C") {
      if (this.ctx.runtime.config.tls.requireForData) throw new Reply(534, "Data connections must be protected (PROT P)");
      this.protP = false;
    } else if (level === "P") this.protP = true;
    else if (level === "S" || level === "E") throw new Reply(536, "Only C and P are supported");
    else throw new Reply(504, "Unknown protection level");
    this.reply(200, `Protection level set to ${level}`);
  }

  // ---- data channel setup ----

  closeData(): void {
    if (this.passive) {
      this.passive.close();
      this.passive = null;
    }
    this.active = null;
  }

  async pasv(extended: boolean, arg: string): Promise<void> {
    const a = arg.trim().toUpperCase();
    if (extended && a === "ALL") {
      this.epsvAll = true;
      this.reply(200, "EPSV ALL ok");
      return;
    }
    if (!extended && this.epsvAll) throw new Reply(503, "EPSV ALL in effect: use EPSV");
    const localFamily = isIP(this.info.localIp) === 6 ? "2" : "1";
    if (extended && a !== "" && a !== localFamily) throw new Reply(522, `Network protocol not supported, use (${localFamily})`);
    this.closeData();
    let address: string | null = null;
    if (!extended) {
      address = await this.pasvAddress();
      if (!address) throw new Reply(425, "No IPv4 passive address for this connection, use EPSV");
    }
    const channel = await this.openPassive();
    if (!channel) {
      const st = this.ctx.pool.stats();
      this.ctx.log.warn({ session: this.id, client: this.info.clientIp, pool: st }, "passive pool exhausted");
      throw new Reply(425, "No passive port available, try again later");
    }
    this.passive = channel;
    const p = channel.port;
    if (extended) this.reply(229, `Entering Extended Passive Mode (|||${p}|)`);
    else this.reply(227, `Entering Passive Mode (${address!.split(".").join(",")},${p >> 8},${p & 255})`);
  }

  /** The PASV address: first enabled rule matching the class, else external, else local. */
  async pasvAddress(): Promise<string | null> {
    const rt = this.ctx.runtime;
    // Without rules the class is not needed (computing it matches every userClasses entry).
    let addr = rt.rules.empty ? null : rt.rules.addressFor(this.userClass());
    if (addr === null || addr === "auto") addr = rt.config.passive.externalAddress ?? this.info.localIp;
    const fam = isIP(addr);
    if (fam === 4) return addr;
    if (fam === 6) return null;
    return this.ctx.resolveIpv4(addr);
  }

  private openPassive(): Promise<PassiveChannel | null> {
    const rt = this.ctx.runtime;
    return openPassiveChannel({
      owner: this,
      pool: this.ctx.pool,
      host: this.info.localIp,
      check: {
        mode: rt.config.dataConnectionCheck,
        clientIp: this.info.clientIp,
        proxyTrusted: rt.config.proxyProtocol.enabled && rt.config.proxyProtocol.onData ? rt.proxyTrusted : null,
        proxyTimeoutMs: 5000,
      },
      acceptTimeoutMs: rt.config.passive.acceptTimeoutSeconds * 1000,
      onReject: (reason: RejectReason, peer: string) => {
        this.ctx.metrics.dataRejected.inc({ reason });
        this.ctx.log.warn({ session: this.id, client: this.info.clientIp, peer, reason }, "data connection refused");
      },
      onListenError: (port, err) => this.ctx.log.warn({ session: this.id, port, err: err.message }, "passive listen failed"),
      policy: this.ctx.listenerPolicy ?? null,
    });
  }

  port(extended: boolean, arg: string): void {
    if (!this.ctx.runtime.config.activeMode.enabled) throw new Reply(502, "Active mode is disabled, use PASV or EPSV");
    if (this.epsvAll) throw new Reply(503, "EPSV ALL in effect: use EPSV");
    const target = extended ? parseEprt(arg) : parsePort(arg);
    if (!target) throw new Reply(extended ? 522 : 501, extended ? "Bad EPRT argument, use (1,2)" : "Bad PORT argument");
    const why = refuseTarget(target, this.info.clientIp);
    if (why) throw new Reply(504, `Refused: ${why}`);
    this.closeData();
    this.active = target;
    this.reply(200, `${extended ? "EPRT" : "PORT"} command successful`);
  }

  // ---- transfers ----

  /**
   * Runs a transfer over the data channel: obtains the connection (waiting for the client when
   * needed), replies 150, applies PROT P, runs `body`, and replies 226 / 426 / 451.
   * `prepare` runs before anything touches the data channel (e.g. opening the file) so a local
   * error answers 550 without a 150.
   */
  async transferWith(direction: "download" | "upload" | "list", body: (data: Duplex) => Promise<number>, opening: string): Promise<void> {
    const rt = this.ctx.runtime;
    if (rt.config.tls.requireForData && !this.protP) throw new Reply(521, "Data connections must be protected (PROT P)");
    if (!this.passive && !this.active) throw new Reply(425, "Use PASV or EPSV first");
    const passive = this.passive;
    const active = this.active;
    this.passive = null;
    this.active = null;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    let raw: Socket | null = null; // the TCP data connection
    let stream: Duplex | null = null; // what the body reads/writes (TLS over raw under PROT P)
    const transfer: Transfer = {
      started: false,
      aborted: false,
      done,
      bytes: () => (raw ? raw.bytesRead + raw.bytesWritten : 0),
      cancel: () => {
        passive?.close();
        stream?.destroy();
        raw?.destroy();
      },
    };
    // Set before waiting for the connection, so ABOR/QUIT/STAT/NOOP are answered during the wait.
    this.transfer = transfer;
    const gone = () => transfer.aborted || this.closed;
    try {
      let rest: Buffer = Buffer.alloc(0);
      try {
        if (passive) {
          const got = await passive.take();
          raw = got.socket;
          rest = got.rest;
        } else {
          raw = await connectActive(active!, this.info.localIp, rt.config.passive.acceptTimeoutSeconds * 1000);
        }
      } catch {
        passive?.close();
        if (gone()) throw new Reply(426, "Transfer aborted");
        throw new Reply(425, "Can't open data connection");
      }
      if (gone()) {
        raw.destroy();
        throw new Reply(426, "Transfer aborted");
      }
      raw.on("error", () => {});
      let socket: Duplex;
      let closeNotify: ReturnType<typeof requireCloseNotify> | null = null;
      if (this.protP && direction === "upload") {
        // A PROT P upload is complete only with the client's close_notify, not a bare FIN.
        closeNotify = requireCloseNotify(raw, rest);
        socket = closeNotify.stream;
      } else if (this.protP) {
        socket = rest.length ? prependBytes(raw, rest) : raw;
      } else {
        if (rest.length) raw.unshift(rest);
        socket = raw;
      }
      socket.on("error", () => {});
      stream = socket;
      this.reply(150, opening);
      if (this.protP) {
        if (!rt.tls) {
          socket.destroy();
          throw new Reply(425, "TLS not available");
        }
        // Resumption proves the data connection comes from the holder of the control session
        // (vsftpd's require_ssl_reuse); relaxed mode depends on it, strict mode by default too.
        const mustResume = rt.config.dataConnectionCheck === "relaxed" || rt.config.tls.requireSessionReuse;
        try {
          const t = await startServerTls(socket, rt.tls, TLS_HANDSHAKE_MS, closeNotify ? (x) => closeNotify.watch(x) : undefined);
          if (mustResume && !t.isSessionReused()) {
            t.destroy();
            this.ctx.metrics.dataRejected.inc({ reason: "tls_not_resumed" });
            throw new Reply(425, "Data connection must resume the control connection's TLS session");
          }
          t.on("error", () => {});
          stream = t;
        } catch (err) {
          socket.destroy();
          if (err instanceof Reply) throw err;
          if (gone()) throw new Reply(426, "Transfer aborted");
          throw new Reply(425, "TLS negotiation on the data connection failed");
        }
      }
      if (gone()) {
        stream.destroy();
        throw new Reply(426, "Transfer aborted");
      }
      const dataTimeoutMs = rt.config.limits.dataTimeoutSeconds * 1000;
      const tcp = raw;
      // Fires only when no byte moved for that long: a flowing transfer is never cut.
      tcp.setTimeout(dataTimeoutMs, () => tcp.destroy(new Error("data timeout")));
      transfer.started = true;
      const data = stream;
      try {
        const moved = await body(data);
        this.ctx.metrics.transfers.inc({ direction, result: "ok" });
        if (direction !== "list") this.ctx.metrics.bytes.inc({ direction }, moved);
        this.reply(226, "Transfer complete");
      } catch (err) {
        this.ctx.metrics.transfers.inc({ direction, result: transfer.aborted ? "aborted" : "failed" });
        data.destroy();
        if (err instanceof Reply) this.reply(err.code, err.message);
        else if (transfer.aborted) this.reply(426, "Transfer aborted");
        else {
          this.ctx.log.info({ session: this.id, direction, err: (err as Error).message }, "transfer failed");
          this.reply(426, "Connection closed; transfer aborted");
        }
      }
    } catch (err) {
      // A refusal before any byte moved (425, 426 after ABOR, ...): answered here, before `done`
      // resolves, so that it precedes ABOR's 226.
      if (err instanceof Reply) this.reply(err.code, err.message);
      else throw err;
    } finally {
      this.transfer = null;
      resolveDone();
      passive?.close();
    }
  }

  static readonly DATA_HIGH_WATER = DATA_HIGH_WATER;
}

function simple(code: number, text: string): CommandSpec {
  return { auth: false, run: (s) => s.reply(code, text) };
}

/** FEAT lists only what this server, as configured now, does. */
function features(s: Session): string[] {
  const rt = s.ctx.runtime;
  const mode = rt.config.tls.mode;
  const f: string[] = [];
  if (rt.tls && (mode === "explicit" || mode === "both")) f.push("AUTH TLS");
  if (rt.tls && mode !== "none") f.push("PBSZ", "PROT");
  f.push("EPSV");
  if (rt.config.activeMode.enabled) f.push("EPRT");
  f.push("MDTM", "SIZE", "REST STREAM", "MLST type*;size*;modify*;perm*;", "UTF8", "TVFS");
  return f;
}

/** Answered at once while a transfer runs or waits for its data connection (STAT only without argument). */
const OUT_OF_BAND = new Set(["ABOR", "QUIT", "STAT", "NOOP"]);

const COMMANDS: Record<string, CommandSpec> = {
  USER: { auth: false, run: (s, a) => s.user_(a) },
  PASS: { auth: false, run: (s, a) => s.pass(a) },
  QUIT: { auth: false, run: (s) => s.closeWith(221, s.ctx.runtime.config.messages.goodbye ?? "Goodbye") },
  AUTH: { auth: false, run: (s, a) => s.authTls(a) },
  PBSZ: { auth: false, run: (s, a) => s.pbsz(a) },
  PROT: { auth: false, run: (s, a) => s.prot(a) },
  NOOP: simple(200, "NOOP ok"),
  SYST: simple(215, "UNIX Type: L8"),
  ALLO: simple(202, "ALLO not needed"),
  ACCT: simple(202, "ACCT not needed"),
  FEAT: { auth: false, run: (s) => s.reply(211, ["Features:", ...features(s).map((f) => ` ${f}`), "End"].join("\n")) },
  HELP: {
    auth: false,
    run: (s) => s.reply(214, ["The following commands are recognized:", ` ${Object.keys(COMMANDS).sort().join(" ")}`, "Help OK"].join("\n")),
  },
  OPTS: {
    auth: false,
    run: (s, a) => {
      const [opt, val] = a.trim().split(/\s+/, 2).map((x) => x.toUpperCase());
      if (opt === "UTF8" || opt === "UTF-8") {
        // Names are always UTF-8 (RFC 2640); there is no other encoding to switch to.
        if (val === undefined || val === "ON") s.reply(200, "Always in UTF8 mode");
        else if (val === "OFF") s.reply(504, "UTF8 cannot be turned off: names are always UTF-8");
        else s.reply(501, "OPTS UTF8 takes ON or OFF");
      } else if (opt === "MLST") fileCommands.optsMlst(s, a.trim().slice(4));
      else s.reply(501, "Option not understood");
    },
  },
  TYPE: {
    auth: false,
    run: (s, a) => {
      const t = a.trim().toUpperCase();
      if (t === "I" || t === "L 8" || t === "L8") s.reply(200, "Switching to Binary mode");
      else if (t === "A" || t === "A N") s.reply(200, "Switching to ASCII mode");
      else s.reply(504, "Unsupported type");
    },
  },
  MODE: { auth: false, run: (s, a) => (a.trim().toUpperCase() === "S" ? s.reply(200, "Mode set to S") : s.reply(504, "Only stream mode")) },
  STRU: { auth: false, run: (s, a) => (a.trim().toUpperCase() === "F" ? s.reply(200, "Structure set to F") : s.reply(504, "Only file structure")) },
  PASV: { auth: true, run: (s, a) => s.pasv(false, a) },
  EPSV: { auth: true, run: (s, a) => s.pasv(true, a) },
  PORT: { auth: true, run: (s, a) => s.port(false, a) },
  EPRT: { auth: true, run: (s, a) => s.port(true, a) },
  ABOR: {
    auth: false,
    run: (s) => {
      s.closeData();
      s.reply(225, "No transfer to abort");
    },
  },
  STAT: {
    auth: false,
    run: async (s, a) => {
      if (a.trim() && s.loggedIn) return fileCommands.statPath(s, a);
      s.reply(
        211,
        [
          "FTP server status:",
          ` Connected from ${s.info.clientIp}`,
          ` Logged in as ${s.user?.name ?? "(nobody)"}${s.user ? `, class ${s.userClass()}` : ""}`,
          ` TLS on control: ${s.secure ? "yes" : "no"}; data protection: ${s.protP ? "P" : "C"}`,
          "End of status",
        ].join("\n"),
      );
    },
  },
  REST: {
    auth: true,
    run: (s, a) => {
      const t = a.trim();
      if (!/^\d{1,15}$/.test(t)) throw new Reply(501, "REST needs a byte offset");
      s.restOffset = Number(t);
      s.reply(350, `Restarting at ${s.restOffset}. Send STOR or RETR`);
    },
  },
  PWD: { auth: true, run: (s) => fileCommands.pwd(s) },
  XPWD: { auth: true, run: (s) => fileCommands.pwd(s) },
  CWD: { auth: true, run: (s, a) => fileCommands.cwd(s, a) },
  XCWD: { auth: true, run: (s, a) => fileCommands.cwd(s, a) },
  CDUP: { auth: true, run: (s) => fileCommands.cwd(s, "..") },
  XCUP: { auth: true, run: (s) => fileCommands.cwd(s, "..") },
  LIST: { auth: true, run: (s, a) => fileCommands.list(s, a, "list") },
  NLST: { auth: true, run: (s, a) => fileCommands.list(s, a, "nlst") },
  MLSD: { auth: true, run: (s, a) => fileCommands.list(s, a, "mlsd") },
  MLST: { auth: true, run: (s, a) => fileCommands.mlst(s, a) },
  RETR: { auth: true, run: (s, a) => fileCommands.retr(s, a) },
  STOR: { auth: true, run: (s, a) => fileCommands.stor(s, a, false) },
  APPE: { auth: true, run: (s, a) => fileCommands.stor(s, a, true) },
  SIZE: { auth: true, run: (s, a) => fileCommands.size(s, a) },
  MDTM: { auth: true, run: (s, a) => fileCommands.mdtm(s, a) },
  DELE: { auth: true, run: (s, a) => fileCommands.dele(s, a) },
  MKD: { auth: true, run: (s, a) => fileCommands.mkd(s, a) },
  XMKD: { auth: true, run: (s, a) => fileCommands.mkd(s, a) },
  RMD: { auth: true, run: (s, a) => fileCommands.rmd(s, a) },
  XRMD: { auth: true, run: (s, a) => fileCommands.rmd(s, a) },
  RNFR: { auth: true, run: (s, a) => fileCommands.rnfr(s, a) },
  RNTO: { auth: true, run: (s, a) => fileCommands.rnto(s, a) },
};

/** Exposed for tests. */
export const COMMAND_NAMES = Object.keys(COMMANDS);

/** Used by the server to build ConnectionInfo. */
export function connectionInfo(socket: Socket, clientIp: string | null, clientPort: number | null, secure: boolean): ConnectionInfo {
  return {
    clientIp: clientIp ?? normalizeIp(socket.remoteAddress),
    clientPort: clientPort ?? socket.remotePort ?? 0,
    localIp: normalizeIp(socket.localAddress),
    secure,
  };
}

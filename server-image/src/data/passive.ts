// One passive data channel: a listener on one pool port that accepts exactly one data
// connection, after the data-connection check (docs/ftp-server.md, "Data-connection check"):
//
//   strict  - the data peer's IP (from the PROXY header when proxyProtocol.onData is on) must
//             equal the control connection's client IP; other connections are dropped and the
//             listener keeps waiting for the right one.
//   relaxed - the first connection wins, whoever it comes from (SNAT'ed paths); the listener is
//             closed at once. Under PROT P the session additionally requires TLS session reuse.
//
// The listener is opened with pauseOnConnect so no byte is read before the session decides
// between plain and TLS. The port goes back to the pool when both the listener and the accepted
// connection are closed.

import { createServer, type Server, type Socket } from "node:net";
import { normalizeIp, type AddressMatcher } from "../classes/match.ts";
import { readProxyHeader } from "../proxy-protocol/read.ts";

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

export class PassiveChannel {
  readonly port: number;
  private readonly server: Server;
  private readonly check: DataCheck;
  private accepted: AcceptedData | null = null;
  private claimed = false;
  private listening = true;
  private socketOpen = false;
  private released = false;
  private failure: Error | null = null;
  private waiter: { resolve: (d: AcceptedData) => void; reject: (e: Error) => void } | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly onRelease: (port: number) => void;
  private readonly onReject: (reason: RejectReason, peer: string) => void;

  private constructor(
    server: Server,
    port: number,
    check: DataCheck,
    acceptTimeoutMs: number,
    onRelease: (port: number) => void,
    onReject: (reason: RejectReason, peer: string) => void,
  ) {
    this.server = server;
    this.port = port;
    this.check = check;
    this.onRelease = onRelease;
    this.onReject = onReject;
    this.timer = setTimeout(() => this.fail(new Error("no data connection within the accept timeout")), acceptTimeoutMs);
    this.timer.unref();
    server.on("connection", (s) => this.onConnection(s));
  }

  /** Listens on host:port. Rejects (e.g. EADDRINUSE) without side effects on the pool. */
  static open(
    host: string,
    port: number,
    check: DataCheck,
    acceptTimeoutMs: number,
    onRelease: (port: number) => void,
    onReject: (reason: RejectReason, peer: string) => void,
  ): Promise<PassiveChannel> {
    return new Promise((resolve, reject) => {
      const server = createServer({ pauseOnConnect: true, noDelay: true });
      const onErr = (e: Error) => {
        server.close();
        reject(e);
      };
      server.once("error", onErr);
      server.listen({ host, port, backlog: 4, exclusive: true }, () => {
        server.off("error", onErr);
        const ch = new PassiveChannel(server, port, check, acceptTimeoutMs, onRelease, onReject);
        server.on("error", (e) => ch.fail(e));
        resolve(ch);
      });
    });
  }

  /** The verified data connection, as soon as there is one. */
  take(): Promise<AcceptedData> {
    if (this.accepted) {
      const a = this.accepted;
      return Promise.resolve(a);
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Closes the listener and any connection; the port is released once everything is closed. */
  close(): void {
    this.fail(new Error("data channel closed"));
    if (this.accepted) this.accepted.socket.destroy();
  }

  private onConnection(sock: Socket): void {
    sock.on("error", () => {});
    const peer = normalizeIp(sock.remoteAddress);
    if (this.claimed || this.failure) {
      this.onReject("extra_connection", peer);
      sock.destroy();
      return;
    }
    if (this.check.mode === "relaxed") this.claimed = true; // first connection wins, before anything else
    if (this.check.proxyTrusted) {
      if (!this.check.proxyTrusted.matches(peer)) {
        this.onReject("proxy_untrusted", peer);
        sock.destroy();
        if (this.check.mode === "relaxed") this.fail(new Error("data connection refused"));
        return;
      }
      sock.resume();
      readProxyHeader(sock, this.check.proxyTimeoutMs).then(
        ({ info, rest }) => this.verify(sock, info.sourceAddress ? normalizeIp(info.sourceAddress) : peer, rest),
        () => {
          this.onReject("proxy_error", peer);
          sock.destroy();
          if (this.check.mode === "relaxed") this.fail(new Error("data connection refused"));
        },
      );
      return;
    }
    this.verify(sock, peer, Buffer.alloc(0));
  }

  private verify(sock: Socket, peer: string, rest: Buffer): void {
    if (this.failure || (this.check.mode === "strict" && this.claimed)) {
      sock.destroy();
      return;
    }
    if (this.check.mode === "strict" && peer !== this.check.clientIp) {
      this.onReject("peer_mismatch", peer);
      sock.destroy();
      return;
    }
    this.claimed = true;
    this.accepted = { socket: sock, rest };
    this.socketOpen = true;
    sock.once("close", () => {
      this.socketOpen = false;
      this.maybeRelease();
    });
    clearTimeout(this.timer);
    this.stopListening();
    if (this.waiter) {
      this.waiter.resolve(this.accepted);
      this.waiter = null;
    }
  }

  private stopListening(): void {
    if (!this.listening) return;
    this.listening = false;
    this.server.close(() => this.maybeRelease());
  }

  private fail(err: Error): void {
    clearTimeout(this.timer);
    if (!this.accepted && !this.failure) {
      this.failure = err;
      if (this.waiter) {
        this.waiter.reject(err);
        this.waiter = null;
      }
    }
    this.stopListening();
  }

  private maybeRelease(): void {
    if (this.released || this.listening || this.socketOpen) return;
    this.released = true;
    this.onRelease(this.port);
  }
}

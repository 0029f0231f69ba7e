// TLS for FTPS: one SecureContext per certificate, shared by control and data connections so a
// data connection can resume the control connection's TLS session. Every context of the process
// uses the same session-ticket keys (TICKET_KEYS), so a certificate rotation (a new context) does
// not invalidate the tickets of open sessions: their data connections still resume.

import { readFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { Duplex } from "node:stream";
import { TLSSocket, type SecureContext } from "node:tls";
import { tlsContext } from "#server-config";
import type { Socket } from "node:net";

export interface LoadedTls {
  context: SecureContext;
  /** Fingerprint of the cert+key files, to notice rotation on reload. */
  fingerprint: string;
}

/** Session-ticket keys (48 bytes: name, HMAC and AES keys), random per process, kept across reloads. */
const TICKET_KEYS = randomBytes(48);

export function loadTls(certFile: string, keyFile: string): LoadedTls {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const context = tlsContext(cert, key, TICKET_KEYS);
  const fingerprint = createHash("sha256").update(cert).update(key).digest("hex");
  return { context, fingerprint };
}

export function fingerprintFiles(certFile: string, keyFile: string): string | null {
  try {
    return createHash("sha256").update(readFileSync(certFile)).update(readFileSync(keyFile)).digest("hex");
  } catch {
    return null;
  }
}

/**
 * Server-side TLS over an accepted socket. Resolves once the handshake is done; rejects (and
 * destroys the socket) on a handshake error or after timeoutMs.
 */
export function startServerTls(socket: Socket | Duplex, context: SecureContext, timeoutMs: number, created?: (t: TLSSocket) => void): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext: context });
    // Before any byte is processed (a client may send its close_notify with its Finished).
    created?.(tlsSocket);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      tlsSocket.destroy();
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error("TLS handshake timeout")), timeoutMs);
    const closed = () => fail(new Error("connection closed during the TLS handshake"));
    tlsSocket.on("error", fail);
    socket.on("error", fail);
    tlsSocket.once("close", closed);
    socket.once("close", closed);
    socket.once("end", closed);
    tlsSocket.once("secure", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      tlsSocket.off("error", fail);
      tlsSocket.off("close", closed);
      socket.off("close", closed);
      socket.off("end", closed);
      resolve(tlsSocket);
    });
  });
}

/**
 * A duplex that first yields `head` and then the socket's bytes; used to start TLS on a socket
 * from which a PROXY header (plus possibly the start of the ClientHello) has been read already.
 */
export function prependBytes(socket: Socket, head: Buffer): Duplex {
  return socketDuplex(socket, head);
}

/** A duplex over `socket` yielding `head` first; `before` sees it before any byte is pushed. */
function socketDuplex(socket: Socket, head: Buffer, before?: (d: Duplex) => void): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });
  before?.(d);
  if (head.length) d.push(head);
  socket.on("data", (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on("end", () => d.push(null));
  socket.on("error", (e) => d.destroy(e));
  return d;
}

/**
 * A duplex over `socket` for a TLS upload that tells a clean end from a cut one. Node's TLSSocket
 * reports both the peer's close_notify and a bare TCP FIN as a plain 'end', so a PROT P upload cut
 * by a FIN would be stored as complete. Here the TLS layer reads the bytes through this duplex, so
 * the order is visible: a close_notify makes the TLS socket push its end of stream while it
 * processes the alert, before this duplex has ended; a bare FIN ends this duplex first, and only
 * then the TLS socket. In that second case the TLS socket is destroyed with an error instead of
 * ending, and the upload fails. Call `watch` with the TLS socket started over `stream` as soon as
 * it exists (startServerTls's `created`), before it has processed any byte.
 */
export function requireCloseNotify(socket: Socket, head: Buffer): { stream: Duplex; watch: (tls: TLSSocket) => void } {
  let tcpEnded = false;
  // Registered before the TLS socket exists, so it runs before the TLS layer hears of the end.
  const d = socketDuplex(socket, head, (d) => d.once("end", () => (tcpEnded = true)));
  return {
    stream: d,
    watch(tls) {
      const push = tls.push.bind(tls);
      tls.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
        if (chunk === null && tcpEnded) {
          tls.destroy(new Error("TLS data connection closed without close_notify (truncated)"));
          return false;
        }
        return push(chunk, encoding);
      };
    },
  };
}

// TLS for FTPS: one SecureContext per certificate, shared by control and data connections so a
// data connection can resume the control connection's TLS session (tickets are keyed by the context).

import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { Duplex } from "node:stream";
import { TLSSocket, type SecureContext } from "node:tls";
import { tlsContext } from "#server-config";
import type { Socket } from "node:net";

export interface LoadedTls {
  context: SecureContext;
  /** Fingerprint of the cert+key files, to notice rotation on reload. */
  fingerprint: string;
}

export function loadTls(certFile: string, keyFile: string): LoadedTls {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const context = tlsContext(cert, key);
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
export function startServerTls(socket: Socket | Duplex, context: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext: context });
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
  d.push(head);
  socket.on("data", (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on("end", () => d.push(null));
  socket.on("error", (e) => d.destroy(e));
  return d;
}

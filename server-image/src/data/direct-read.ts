// Reading an accepted plain TCP data connection straight into the caller's buffers.
//
// Node reads a socket into a freshly allocated 64 KiB buffer per read; for a 1 GiB upload that is
// 16,384 buffers of garbage and most of STOR's CPU (docs/benchmarks.md). `net.Socket` has a
// documented option for this, `onread: { buffer, callback }`, but only for sockets it creates:
// `net.createServer` ignores it for accepted connections. So this module takes the accepted
// socket's native handle and wraps it in a new `net.Socket` with `onread` — which relies on the
// undocumented `socket._handle` field. Everything that depends on it is in this file:
//
// - adoption happens only for a plain (non-TLS) `net.Socket` whose handle exists and has never
//   started reading (the data listener uses pauseOnConnect) and has nothing buffered; otherwise
//   (TLS, active mode, bytes left over from a PROXY header, a Node without `_handle`) it returns
//   null and the caller uses the ordinary 'data' path;
// - PASV_DIRECT_READ=0 turns it off (the ordinary path everywhere);
// - the old socket stays the one the rest of the server knows (the passive channel's 'close'
//   accounting, ABOR, the session's data timeout): destroying either socket destroys the other,
//   the old one emits 'close' when the new one has closed, and the timeout moves to the new one
//   and fires the old one's 'timeout' listeners.
//
// server-image/test/unit/direct-read.test.ts checks that both paths store identical bytes, so a
// Node upgrade that changes the internals fails a test instead of corrupting uploads.

import { Socket, type SocketConstructorOpts } from "node:net";
import type { Duplex } from "node:stream";

export interface DirectReader {
  /** Where the next read lands; called once at adoption and after every read. */
  buffer: () => Uint8Array;
  /** `n` bytes were read into `buf` (the last value `buffer()` returned). */
  callback: (n: number, buf: Uint8Array) => boolean | void;
}

interface HandleLike {
  readStart?: unknown;
  readStop?: unknown;
  reading?: boolean;
}

type Internal = Socket & { _handle?: HandleLike | null };

/** How often adoption was done / declined since start, and uploads spliced instead (receive-file.ts), for /metrics and tests. */
export const directReadStats = { adopted: 0, declined: 0, spliced: 0 };

export function directReadEnabled(): boolean {
  return process.env.PASV_DIRECT_READ !== "0";
}

/**
 * A new socket on `sock`'s connection that reads through `reader` (it starts reading at once), or
 * null when `sock` cannot be adopted — then nothing was changed and `sock` is to be used as is.
 */
export function adoptForDirectRead(sock: Duplex, reader: DirectReader): Socket | null {
  const s1 = adopt(sock, reader);
  if (s1) directReadStats.adopted++;
  else directReadStats.declined++;
  return s1;
}

function adopt(sock: Duplex, reader: DirectReader): Socket | null {
  if (!directReadEnabled()) return null;
  if (!(sock instanceof Socket) || Object.getPrototypeOf(sock) !== Socket.prototype) return null; // not TLSSocket
  const s0 = sock as Internal;
  const handle = s0._handle;
  if (!handle || typeof handle.readStart !== "function" || typeof handle.readStop !== "function") return null;
  if (handle.reading || s0.destroyed || s0.connecting || !s0.readable || s0.readableLength > 0 || s0.readableEnded) return null;
  let s1: Socket;
  s0._handle = null;
  try {
    s1 = new Socket({ handle, onread: reader, allowHalfOpen: false } as unknown as SocketConstructorOpts);
  } catch {
    s0._handle = handle;
    return null;
  }
  s1.on("error", () => {});
  const ms = s0.timeout;
  if (ms) {
    s0.setTimeout(0);
    s1.setTimeout(ms);
    s1.on("timeout", () => s0.emit("timeout"));
  }
  s1.once("close", () => {
    if (!s0.destroyed) s0.destroy();
  });
  s0.once("close", () => {
    if (!s1.destroyed) s1.destroy();
  });
  return s1;
}

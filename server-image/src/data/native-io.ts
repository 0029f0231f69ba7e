// The transfer calls Node's standard library lacks, from a small Node-API module
// (server-image/native/io.c, built by `make server-native`; the image ships it):
//
// - sendfile(2) for RETR: the kernel moves the file's pages from the page cache to the data
//   connection's socket, where the copying loop (send-file.ts) reads each MiB into a buffer and
//   writes it back to the kernel. That second copy was what RETR spent above vsftpd per GiB.
// - spliceToFile + waitReadable for STOR: splice(2) from the socket through a pipe into the file,
//   64 KiB at a time, on a pool thread (receive-file.ts): no copy into the process and no hand-off
//   per MiB between the event loop and the pool; a libuv poll on a duplicate of the socket's
//   descriptor waits for a slow client without holding a thread.
// - pwritePieces for the STOR paths that cannot splice (APPE's O_APPEND, a socket that already
//   read): a 1 MiB buffer written in 64 KiB write(2)s in one thread-pool job. The page cache sizes
//   its folios by the write, and large fresh folios cost 1-2 s of CPU per GiB to fill on the
//   benchmark VM (docs/benchmarks.md); 64 KiB writes through fs.write would take sixteen
//   thread-pool round trips per MiB.
//
// The module is optional: when it is not built or PASV_NATIVE_IO=0 is set, RETR takes the copying
// loop and STOR the direct-read path with fs writes (256 KiB). The native paths are also declined
// for TLS (PROT P) and for storage without descriptors (S3). Like direct-read.ts, the socket's descriptor (and
// whether it has started reading) comes from the undocumented `socket._handle`; everything that depends on it is in this file, and
// server-image/test/unit/transfer.test.ts checks both paths move the same bytes.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";

export interface SendfileResult {
  /** Bytes written to the socket. */
  sent: number;
  /** The socket buffer was full before `count` bytes were sent. */
  blocked: boolean;
  /** The file ended before `count` bytes were sent. */
  eof: boolean;
}

export interface SpliceResult {
  /** Bytes moved from the socket into the file. */
  received: number;
  /** The socket had nothing more to read for now. */
  blocked: boolean;
  /** The peer ended the connection (all its bytes are in the file). */
  eof: boolean;
}

export interface NativeIo {
  /** sendfile(2) on the thread pool; never waits for the socket. */
  sendfile(socketFd: number, fileFd: number, offset: number, count: number): Promise<SendfileResult>;
  /** `buffer` at `position` (-1: the file's offset) in writes of at most `piece` bytes; resolves with the bytes written. */
  pwritePieces(fileFd: number, buffer: Buffer, position: number, piece: number): Promise<number>;
  /** splice(2) socket → pipe → file at `position` (-1: the file's offset; never O_APPEND files), up to `count`; never waits for the socket. */
  spliceToFile(socketFd: number, fileFd: number, position: number, count: number): Promise<SpliceResult>;
  /** Resolves true once the socket is readable (or ended, or failed), false after `timeoutMs`; holds no thread. */
  waitReadable(socketFd: number, timeoutMs: number): Promise<boolean>;
}

/** RETRs of more than SMALL bytes sent with sendfile, or declined (then the copying loop), since start. */
export const sendfileStats = { used: 0, declined: 0 };

/** Where `make server-native` puts the module: server-image/native/build/ in the checkout and the image. */
export const NATIVE_IO_MODULE = fileURLToPath(new URL("../../native/build/io.node", import.meta.url));

let loaded: { io: NativeIo | null; why: string } | undefined;

/** The native module, or null with the reason it is not used (the start-up log says which). */
export function loadNativeIo(): { io: NativeIo | null; why: string } {
  loaded ??= load();
  return loaded;
}

function load(): { io: NativeIo | null; why: string } {
  if (process.env.PASV_NATIVE_IO === "0") return { io: null, why: "PASV_NATIVE_IO=0" };
  if (process.platform !== "linux") return { io: null, why: `not on ${process.platform}` };
  if (!existsSync(NATIVE_IO_MODULE)) return { io: null, why: `${NATIVE_IO_MODULE} is not built (make server-native)` };
  try {
    const mod: unknown = createRequire(import.meta.url)(NATIVE_IO_MODULE);
    const get = (name: string): unknown => (mod && typeof mod === "object" ? Reflect.get(mod, name) : undefined);
    const missing = ["sendfile", "pwritePieces", "spliceToFile", "waitReadable"].filter((f) => typeof get(f) !== "function");
    if (missing.length) return { io: null, why: `${NATIVE_IO_MODULE} lacks ${missing.join(", ")}` };
    return { io: mod as NativeIo, why: "native" };
  } catch (err) {
    return { io: null, why: `${NATIVE_IO_MODULE}: ${(err as Error).message}` };
  }
}

/** The kernel descriptor of a plain TCP socket (not TLS, not a wrapper), or null. */
export function plainSocketFd(sock: Duplex): number | null {
  if (!(sock instanceof Socket) || Object.getPrototypeOf(sock) !== Socket.prototype || sock.destroyed) return null;
  const handle: unknown = Reflect.get(sock, "_handle");
  const fd: unknown = handle && typeof handle === "object" ? Reflect.get(handle, "fd") : undefined;
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

/** A plain TCP socket that has read nothing yet (the data listener's pauseOnConnect) and holds no bytes: splice can take over. */
export function unreadPlainSocket(sock: Duplex): boolean {
  if (plainSocketFd(sock) === null) return false;
  const s = sock as Socket;
  const handle: unknown = Reflect.get(s, "_handle");
  const reading: unknown = handle && typeof handle === "object" ? Reflect.get(handle, "reading") : true;
  return reading === false && !s.connecting && s.readable && s.readableLength === 0 && !s.readableEnded;
}

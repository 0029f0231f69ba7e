// RETR without copying the file through the process: sendfile(2) moves the file's pages from the
// page cache to the data connection's socket, where the ordinary loop (send-file.ts) reads each
// MiB into a buffer and writes it back to the kernel. That second copy was the CPU per GiB RETR
// spent above vsftpd's (docs/benchmarks.md, "Where the CPU per GiB goes"). Node's standard
// library has no sendfile for sockets, so a small Node-API module adds it (server-image/native/,
// built by `make server-native`; the image ships it).
//
// The module is optional: when it is not built, PASV_SENDFILE=0 is set, the data connection is
// TLS (PROT P), or the storage has no file descriptor (S3), RETR takes the ordinary loop. Like
// direct-read.ts this reads the undocumented `socket._handle.fd`; everything that depends on it
// is in this file, and server-image/test/unit/transfer.test.ts checks both paths send the same
// bytes.

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

/** sendfile(2) on the thread pool; never waits for the socket (native/sendfile.c). */
export type NativeSendfile = (socketFd: number, fileFd: number, offset: number, count: number) => Promise<SendfileResult>;

/** RETRs of more than SMALL bytes sent with sendfile, or declined (then the ordinary loop), since start. */
export const sendfileStats = { used: 0, declined: 0 };

/** Where `make server-native` puts the module: server-image/native/build/ in the checkout and the image. */
export const SENDFILE_MODULE = fileURLToPath(new URL("../../native/build/sendfile.node", import.meta.url));

let loaded: { fn: NativeSendfile | null; why: string } | undefined;

/** The native sendfile, or null with the reason it is not used (for the start-up log). */
export function loadSendfile(): { fn: NativeSendfile | null; why: string } {
  loaded ??= load();
  return loaded;
}

function load(): { fn: NativeSendfile | null; why: string } {
  if (process.env.PASV_SENDFILE === "0") return { fn: null, why: "PASV_SENDFILE=0" };
  if (process.platform !== "linux") return { fn: null, why: `not on ${process.platform}` };
  if (!existsSync(SENDFILE_MODULE)) return { fn: null, why: `${SENDFILE_MODULE} is not built (make server-native)` };
  try {
    const mod: unknown = createRequire(import.meta.url)(SENDFILE_MODULE);
    const fn: unknown = mod && typeof mod === "object" ? Reflect.get(mod, "sendfile") : undefined;
    if (typeof fn !== "function") return { fn: null, why: `${SENDFILE_MODULE} has no sendfile()` };
    return { fn: fn as NativeSendfile, why: "sendfile" };
  } catch (err) {
    return { fn: null, why: `${SENDFILE_MODULE}: ${(err as Error).message}` };
  }
}

/** The kernel descriptor of a plain TCP socket (not TLS, not a wrapper), or null. */
export function plainSocketFd(sock: Duplex): number | null {
  if (!(sock instanceof Socket) || Object.getPrototypeOf(sock) !== Socket.prototype || sock.destroyed) return null;
  const handle: unknown = Reflect.get(sock, "_handle");
  const fd: unknown = handle && typeof handle === "object" ? Reflect.get(handle, "fd") : undefined;
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

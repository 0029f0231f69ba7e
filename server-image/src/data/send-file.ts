// RETR's hot loop: read the file into a buffer while the previous one is being written to the
// socket. No per-chunk allocation, no per-byte work. Buffers come from the shared, capped pool
// (buffer-pool.ts): one is required (waited for), the second is taken only if free, so memory is
// bounded whatever the number of concurrent downloads; a transfer that got a single buffer
// alternates read and write. A file of at most SMALL bytes uses a private buffer of its size.
//
// A larger file on a descriptor (local storage) going to a plain TCP socket is sent with
// sendfile(2) instead (native-io.ts): no pool buffer, no copy through the process. sendfile never
// waits for the socket; when its buffer is full, the next PROBE bytes go through an ordinary
// write, which libuv completes once the socket has room, and sendfile resumes after it.

import type { ReadTarget } from "../fs/storage.ts";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { CHUNK, SMALL, transferBuffers, type BufferPool } from "./buffer-pool.ts";
import { loadNativeIo, plainSocketFd, sendfileStats, type NativeIo } from "./native-io.ts";

/** Bytes per sendfile job: a connection closed meanwhile is noticed between jobs. */
const JOB = 8 * 1024 * 1024;
/** Bytes written the ordinary way when the socket buffer is full (to learn when it has room). */
const PROBE = 16 * 1024;

export interface SendOptions {
  pool?: BufferPool;
  /** The native module (default: the built one, if any); null forces the copying loop. */
  native?: NativeIo | null;
}

function write(sock: Duplex, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}

function end(sock: Duplex): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (sock.destroyed) return reject(new Error("data connection closed"));
    sock.once("error", reject);
    sock.end(() => resolve());
  });
}

/**
 * Sends the file from `start` to its end on `sock` and ends the socket. `size` (the file's size
 * when the transfer starts) only sizes the buffers and picks the path; the loop reads until EOF.
 * `fh.fd`, when present, is the file's descriptor (sendfile reads from it).
 */
export async function sendFile(fh: ReadTarget, start: number, sock: Duplex, size?: number, opts: SendOptions = {}): Promise<number> {
  const left = size === undefined ? Infinity : Math.max(0, size - start);
  if (left > SMALL) {
    const native = opts.native === undefined ? loadNativeIo().io : opts.native;
    if (native && fh.fd !== undefined && plainSocketFd(sock) !== null) {
      sendfileStats.used++;
      return sendWithSendfile(native, fh, fh.fd, sock as Socket, start);
    }
    sendfileStats.declined++;
  }
  return sendCopying(fh, start, sock, left, opts.pool ?? transferBuffers);
}

async function sendWithSendfile(native: NativeIo, fh: ReadTarget, fileFd: number, sock: Socket, start: number): Promise<number> {
  const probe = Buffer.allocUnsafe(PROBE);
  let pos = start;
  let total = 0;
  for (;;) {
    // Read afresh each time: null once Node has closed the socket (ABOR, timeout, client gone).
    const socketFd = plainSocketFd(sock);
    if (socketFd === null) throw new Error("data connection closed");
    const r = await native.sendfile(socketFd, fileFd, pos, JOB);
    pos += r.sent;
    total += r.sent;
    // These bytes bypassed the stream, which re-arms the data timeout only for its own writes.
    if (r.sent > 0 && sock.timeout) sock.setTimeout(sock.timeout);
    if (r.eof) break;
    if (r.blocked) {
      const { bytesRead } = await fh.read(probe, 0, PROBE, pos);
      if (bytesRead === 0) break;
      await write(sock, probe.subarray(0, bytesRead));
      pos += bytesRead;
      total += bytesRead;
    }
  }
  await end(sock);
  return total;
}

async function sendCopying(fh: ReadTarget, start: number, sock: Duplex, left: number, pool: BufferPool): Promise<number> {
  const bufs: Buffer[] = [];
  const pooled = left > SMALL;
  if (!pooled) bufs.push(Buffer.allocUnsafe(Math.max(left, 16 * 1024)));
  else {
    // Waiting for a buffer ends when the data connection closes (ABOR, client gone, timeout).
    const gone = new AbortController();
    const onClose = () => gone.abort();
    sock.once("close", onClose);
    if (sock.destroyed) gone.abort();
    try {
      bufs.push(await pool.acquire(gone.signal));
    } finally {
      sock.off("close", onClose);
    }
    if (left > CHUNK) {
      // The second buffer only while the pool has room to spare: a stalled client holds what it has.
      const second = pool.tryAcquire(pool.reserve);
      if (second) bufs.push(second);
    }
  }
  const release = () => {
    if (pooled) for (const b of bufs) pool.release(b);
  };
  let pos = start;
  let total = 0;
  let i = 0;
  let pending: Promise<void> | null = null;
  try {
    for (;;) {
      if (sock.destroyed) throw new Error("data connection closed");
      const buf = bufs[i]!;
      i = (i + 1) % bufs.length;
      if (bufs.length === 1 && pending) {
        // Single buffer: the previous write must be done before the buffer is refilled.
        const p: Promise<void> = pending;
        pending = null;
        await p;
      }
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (pending) {
        const p: Promise<void> = pending;
        pending = null;
        await p;
      }
      if (bytesRead === 0) break;
      pos += bytesRead;
      total += bytesRead;
      pending = write(sock, bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
    }
  } catch (err) {
    // An in-flight write may still reject, and it still owns its buffer: give the buffers back
    // to the pool only once it has settled (the caller destroys the socket, which settles it).
    if (pending) {
      const p: Promise<void> = pending;
      p.then(release, release);
    } else release();
    throw err;
  }
  release();
  await end(sock);
  return total;
}

// RETR's hot loop: read the file into a buffer while the previous one is being written to the
// socket. No per-chunk allocation, no per-byte work. Buffers come from the shared, capped pool
// (buffer-pool.ts): one is required (waited for), the second is taken only if free, so memory is
// bounded whatever the number of concurrent downloads; a transfer that got a single buffer
// alternates read and write. A file of at most SMALL bytes uses a private buffer of its size.

import type { ReadTarget } from "../fs/storage.ts";
import type { Duplex } from "node:stream";
import { CHUNK, SMALL, transferBuffers, type BufferPool } from "./buffer-pool.ts";

function write(sock: Duplex, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Sends the file from `start` to its end on `sock` and ends the socket. `size` (the file's size
 * when the transfer starts) only sizes the buffers; the loop reads until EOF.
 */
export async function sendFile(fh: ReadTarget, start: number, sock: Duplex, size?: number, pool: BufferPool = transferBuffers): Promise<number> {
  const left = size === undefined ? Infinity : Math.max(0, size - start);
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
  await new Promise<void>((resolve, reject) => {
    if (sock.destroyed) return reject(new Error("data connection closed"));
    sock.once("error", reject);
    sock.end(() => resolve());
  });
  return total;
}

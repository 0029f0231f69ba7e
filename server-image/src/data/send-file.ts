// RETR's hot loop: two reusable 1 MiB buffers, reading the next chunk from the file while the
// previous one is being written to the socket. No per-chunk allocation, no per-byte work.

import type { FileHandle } from "node:fs/promises";
import type { Duplex } from "node:stream";

const CHUNK = 1024 * 1024;

function write(sock: Duplex, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}

export async function sendFile(fh: FileHandle, start: number, sock: Duplex): Promise<number> {
  const bufs = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
  let pos = start;
  let total = 0;
  let i = 0;
  let pending: Promise<void> | null = null;
  try {
    for (;;) {
      if (sock.destroyed) throw new Error("data connection closed");
      const buf = bufs[i]!;
      i ^= 1;
      const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
      if (pending) await pending;
      pending = null;
      if (bytesRead === 0) break;
      pos += bytesRead;
      total += bytesRead;
      pending = write(sock, bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead));
    }
  } catch (err) {
    // An in-flight write may still reject: do not leave it unhandled.
    if (pending) pending.catch(() => {});
    throw err;
  }
  await new Promise<void>((resolve, reject) => {
    if (sock.destroyed) return reject(new Error("data connection closed"));
    sock.once("error", reject);
    sock.end(() => resolve());
  });
  return total;
}

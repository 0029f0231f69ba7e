// STOR's hot loop. Three paths, same result:
//
// - spliced (the native module, a plain data connection that has read nothing, a file on local
//   storage at a known position): splice(2) from the socket into the file on a pool thread
//   (receiveSpliced below); no buffer, no copy into the process.
// - direct (plain passive data connections): the socket reads straight into 1 MiB buffers from
//   the shared pool (direct-read.ts); full buffers are written in writes of at most WRITE_PIECE
//   (256 KiB) at an explicit position. Two to MAX_OWN buffers per
//   upload: while one fills, the others are on their way to disk; when no spare is left the
//   socket is paused until a write completes. No per-read allocation, no promise per socket read.
// - ordinary (TLS, active mode, PROXY leftovers, pool short of two buffers, PASV_DIRECT_READ=0):
//   the 'data' chunks (64 KiB each) are gathered into ~1 MiB batches written with writev()s of at
//   most WRITE_PIECE;
//   the socket is paused only when the next batch is full while one is still being written.
//
// On the last two, a file with a descriptor (local storage) is written by the native module when
// it is built (native-io.ts): each buffer in one thread-pool job of NATIVE_PIECE writes.

import type { WriteTarget } from "../fs/storage.ts";
import type { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { transferBuffers, type BufferPool } from "./buffer-pool.ts";
import { adoptForDirectRead, directReadStats } from "./direct-read.ts";
import { loadNativeIo, plainSocketFd, unreadPlainSocket, type NativeIo } from "./native-io.ts";

const BATCH = 1024 * 1024;
/**
 * The largest single write to the file. Measured on the 2-core VM (docs/benchmarks.md, "Where the
 * CPU per GiB goes"): STOR with 1 MiB writes cost 1.3-1.6 s of server CPU per GiB, nearly all of it
 * the kernel's copy into the page cache, and with 256 KiB writes 0.67-0.88 s (vsftpd, 64 KiB
 * writes: 0.56-0.59) in the same runs; 64 KiB writes cost more again (four times the thread-pool
 * round trips). The likely cause: the page cache sizes its folios by the write, and large fresh
 * folios are the expensive ones to fill on this VM.
 */
export const WRITE_PIECE = 256 * 1024;
/** The native module's write size: vsftpd's, and the cheapest folios to fill (native-io.ts). */
export const NATIVE_PIECE = 64 * 1024;
/** Most pool buffers one upload holds (one filling, the rest queued or being written). */
const MAX_OWN = 4;

/** Bytes per splice job: a closed connection is noticed between jobs. */
const SPLICE_JOB = 8 * 1024 * 1024;
/** The longest wait for the socket in one go: a connection closed meanwhile is let go after it. */
const SPLICE_WAIT_MS = 1000;

/**
 * Writes everything read from `sock` until its end to `fh`, from `start` (null: at the file's
 * current position, for O_APPEND). Resolves with the byte count once everything is on disk.
 * With the native module (default: the built one), a file descriptor and a position, a plain
 * socket that has not started reading is spliced into the file; otherwise the direct or the
 * ordinary path.
 */
export function receiveFile(sock: Duplex, fh: WriteTarget, start: number | null, pool: BufferPool = transferBuffers, native: NativeIo | null = loadNativeIo().io): Promise<number> {
  // Not for O_APPEND (APPE, start null): splice(2) refuses a target opened for appending.
  if (native && fh.fd !== undefined && start !== null && unreadPlainSocket(sock)) {
    directReadStats.spliced++;
    return receiveSpliced(native, sock as Socket, fh.fd, start);
  }
  // Never the pool's last buffers (pool.reserve): an upload whose client goes quiet keeps what it
  // holds until the data timeout, and downloads must still get one.
  const a = pool.tryAcquire(pool.reserve);
  const b = a ? pool.tryAcquire(pool.reserve) : null;
  if (a && b) {
    const r = receiveDirect(sock, fh, start, pool, a, b, native);
    if (r) return r;
  }
  if (a) pool.release(a);
  if (b) pool.release(b);
  return receiveBatched(sock, fh, start, native);
}

// splice(2) from the socket through a pipe into the file, on a pool thread: no copy into the
// process, no buffer, no hand-off per MiB. When the socket is empty, a libuv poll on a duplicate
// of its descriptor waits for more (no thread held while a client is slow or stalled). The
// session's data timeout, ABOR and the quota watch destroy `sock`: the loop notices at its next
// turn (at most SPLICE_WAIT_MS later) and fails.
async function receiveSpliced(native: NativeIo, sock: Socket, fileFd: number, start: number): Promise<number> {
  let pos = start;
  let total = 0;
  const closed = () => new Error("data connection closed before the end of the upload");
  for (;;) {
    const fd = plainSocketFd(sock);
    if (fd === null) throw closed();
    const r = await native.spliceToFile(fd, fileFd, pos, SPLICE_JOB);
    total += r.received;
    pos += r.received;
    // These bytes bypassed the stream, which re-arms the data timeout only for what it reads.
    if (r.received > 0 && sock.timeout) sock.setTimeout(sock.timeout);
    if (r.eof) break;
    if (r.blocked) {
      const again = plainSocketFd(sock);
      if (again === null) throw closed();
      await native.waitReadable(again, SPLICE_WAIT_MS);
    }
  }
  // Node never read the end: the connection is done, close it (the passive channel's 'close').
  sock.destroy();
  return total;
}

function receiveDirect(sock: Duplex, fh: WriteTarget, start: number | null, pool: BufferPool, first: Buffer, second: Buffer, native: NativeIo | null): Promise<number> | null {
  let cur = first;
  let fill = 0;
  const spare: Buffer[] = [second];
  let owned = 2;
  const queue: { buf: Buffer; n: number }[] = [];
  let pos = start;
  let total = 0;
  let writing = false;
  let paused = false;
  let ended = false;
  let failed = false;
  let settle: { resolve: (n: number) => void; reject: (e: Error) => void } | null = null;
  let s: Socket | null = null;
  let curQueued = false; // the last partial buffer was queued with no spare to replace it
  let released = false;

  const releaseAll = () => {
    if (released) return; // a buffer given back twice would be shared by two transfers
    released = true;
    for (const q of queue) pool.release(q.buf);
    queue.length = 0;
    for (const x of spare) pool.release(x);
    spare.length = 0;
    if (!curQueued) pool.release(cur);
  };
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    s?.destroy();
    if (!writing) releaseAll(); // else when the write in flight settles
    settle?.reject(err);
  };
  const haveSpare = (): boolean => {
    if (spare.length) return true;
    if (owned < MAX_OWN) {
      const x = pool.tryAcquire(pool.reserve);
      if (x) {
        owned++;
        spare.push(x);
        return true;
      }
    }
    return false;
  };
  const kick = () => {
    if (writing || failed) return;
    if (queue.length === 0) {
      if (ended) {
        releaseAll();
        settle?.resolve(total);
      }
      return;
    }
    const batch = queue.splice(0);
    const views = batch.map((q) => (q.n === q.buf.length ? q.buf : q.buf.subarray(0, q.n)));
    let n = 0;
    for (const q of batch) n += q.n;
    const at = pos;
    if (pos !== null) pos += n;
    writing = true;
    const w: Promise<{ bytesWritten: number }> =
      writePieces(fh, views, at, native);
    w.then(
      (r) => {
        writing = false;
        for (const q of batch) spare.push(q.buf);
        if (failed) return releaseAll();
        // Others wait for buffers: keep one spare (needed to swap when `cur` fills), give back the rest.
        while (spare.length > 1 && pool.stats().waiting > 0) {
          pool.release(spare.pop()!);
          owned--;
        }
        if (r.bytesWritten !== n) return fail(new Error("short write"));
        total += n;
        if (paused) {
          paused = false;
          s?.resume();
        }
        kick();
      },
      (err: Error) => {
        writing = false;
        for (const q of batch) spare.push(q.buf);
        if (failed) return releaseAll();
        fail(err);
      },
    );
  };

  s = adoptForDirectRead(sock, {
    buffer: () => (fill === 0 ? cur : cur.subarray(fill)),
    callback: (n) => {
      fill += n;
      if (fill < cur.length) return true;
      queue.push({ buf: cur, n: fill });
      cur = spare.pop()!; // haveSpare() held when reading was (re)started
      fill = 0;
      kick();
      if (!haveSpare() && !paused) {
        paused = true;
        s?.pause();
      }
      return true;
    },
  });
  if (!s) return null;
  const sk = s;
  return new Promise<number>((resolve, reject) => {
    settle = { resolve, reject };
    if (failed) return; // cannot happen before adoption, kept for clarity
    sk.once("end", () => {
      ended = true;
      if (fill > 0) {
        queue.push({ buf: cur, n: fill });
        const next = spare.pop();
        if (next) cur = next;
        else curQueued = true;
        fill = 0;
      }
      kick();
    });
    sk.once("error", fail);
    sk.once("close", () => {
      if (!ended) fail(new Error("data connection closed before the end of the upload"));
    });
    sk.resume();
  });
}

/**
 * Writes `views` one after the other from `at` (null: the file's position) in writes of at most
 * WRITE_PIECE bytes, or NATIVE_PIECE through `native` when `fh` has a descriptor; resolves with
 * the bytes written (short when the file took fewer).
 */
export async function writePieces(fh: WriteTarget, views: Buffer[], at: number | null, native: NativeIo | null = loadNativeIo().io): Promise<{ bytesWritten: number }> {
  let done = 0;
  if (native && fh.fd !== undefined) {
    for (const v of views) {
      const n = await native.pwritePieces(fh.fd, v, at === null ? -1 : at + done, NATIVE_PIECE);
      done += n;
      if (n !== v.length) break;
    }
    return { bytesWritten: done };
  }
  // Pieces that fit together in one piece still go in one writev (the ordinary path's 64 KiB chunks).
  let group: Buffer[] = [];
  let groupBytes = 0;
  const flush = async (): Promise<boolean> => {
    if (groupBytes === 0) return true;
    const pos = at === null ? null : at + done;
    const r = group.length === 1 ? await fh.write(group[0]!, 0, groupBytes, pos) : await fh.writev(group, pos ?? undefined);
    done += r.bytesWritten;
    const full = r.bytesWritten === groupBytes;
    group = [];
    groupBytes = 0;
    return full;
  };
  for (const v of views) {
    for (let off = 0; off < v.length; ) {
      const n = Math.min(v.length - off, WRITE_PIECE - groupBytes);
      group.push(off === 0 && n === v.length ? v : v.subarray(off, off + n));
      groupBytes += n;
      off += n;
      if (groupBytes >= WRITE_PIECE && !(await flush())) return { bytesWritten: done };
    }
  }
  await flush();
  return { bytesWritten: done };
}

function receiveBatched(sock: Duplex, fh: WriteTarget, start: number | null, native: NativeIo | null): Promise<number> {
  return new Promise((resolve, reject) => {
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let pos = start;
    let total = 0;
    let writing = false;
    let ended = false;
    let failed = false;

    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      sock.off("data", onData);
      sock.destroy();
      reject(err);
    };

    const flush = () => {
      if (writing || failed) return;
      if (batchBytes === 0) {
        if (ended) resolve(total);
        return;
      }
      const bufs = batch;
      const n = batchBytes;
      batch = [];
      batchBytes = 0;
      writing = true;
      writePieces(fh, bufs, pos, native).then(
        (r) => {
          writing = false;
          if (r.bytesWritten !== n) return fail(new Error("short write"));
          total += n;
          if (pos !== null) pos += n;
          if (sock.isPaused() && !ended) sock.resume();
          flush();
        },
        (err: Error) => {
          writing = false;
          fail(err);
        },
      );
    };

    const onData = (chunk: Buffer) => {
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= BATCH) {
        if (writing) sock.pause();
        else flush();
      }
    };
    sock.on("data", onData);
    sock.once("end", () => {
      ended = true;
      flush();
    });
    sock.once("error", fail);
    sock.once("close", () => {
      if (!ended) fail(new Error("data connection closed before the end of the upload"));
    });
    // The stream may have ended already (a TLS client that sends its close_notify with its
    // Finished, e.g. lftp for an empty file): 'end' will not be emitted again.
    if (sock.readableEnded) {
      ended = true;
      flush();
      return;
    }
    sock.resume();
  });
}

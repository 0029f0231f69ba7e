// STOR's hot loop: socket chunks (64 KiB each) are gathered into batches of about 1 MiB and
// written with one writev() each; the socket is paused while a batch is on its way to disk
// only when the next batch is already full (back-pressure without per-chunk syscalls).

import type { FileHandle } from "node:fs/promises";
import type { Duplex } from "node:stream";

const BATCH = 1024 * 1024;

export function receiveFile(sock: Duplex, fh: FileHandle, start: number | null): Promise<number> {
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
      fh.writev(bufs, pos ?? undefined).then(
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
    sock.resume();
  });
}

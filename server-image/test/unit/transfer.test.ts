// The STOR/RETR hot loops against real loopback sockets: the direct-read path (direct-read.ts,
// relies on net.Socket internals) and the ordinary 'data' path must store identical bytes, at
// sizes around the buffer boundaries, at an offset (REST) and in append mode; an aborted upload
// rejects and gives every pool buffer back; the buffer pool caps memory and never deadlocks.
// RETR's sendfile path (native module, `make server-native`) sends the same bytes as the copying
// loop, also when the socket fills up, and leaks no descriptor when the client goes away; its
// STOR writes land where they should, and a descriptor closed mid-job is never reused by it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { BufferPool, CHUNK } from "../../src/data/buffer-pool.ts";
import { receiveFile, writePieces, WRITE_PIECE } from "../../src/data/receive-file.ts";
import { sendFile } from "../../src/data/send-file.ts";
import { adoptForDirectRead, directReadStats } from "../../src/data/direct-read.ts";
import { loadNativeIo, plainSocketFd, sendfileStats, type NativeIo, type SendfileResult } from "../../src/data/native-io.ts";
import { readdirSync } from "node:fs";
import { PassThrough } from "node:stream";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A paused accepted socket (as the passive listener makes them) and the client end. */
async function pair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const srv = createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => srv.once("connection", r));
  const client = connect(port, "127.0.0.1");
  client.on("error", () => {});
  const server = await accepted;
  server.on("error", () => {});
  srv.close();
  return { server, client, close: () => srv.close() };
}

/** Sends `data` in uneven pieces (so reads do not line up with buffer boundaries) and ends. */
async function sendPieces(client: Socket, data: Buffer): Promise<void> {
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = Math.min(data.length - off, [1, 70000, 333333, 1 << 20, 5][i++ % 5]!);
    if (!client.write(data.subarray(off, off + n))) await new Promise((r) => client.once("drain", r));
    off += n;
  }
  client.end();
}

async function upload(data: Buffer, opts: { direct: boolean; splice?: boolean; start?: number | null; prefill?: Buffer; flags?: string; pool?: BufferPool }): Promise<{ file: Buffer; n: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-xfer-"));
  const f = path.join(dir, "f");
  if (opts.prefill) await writeFile(f, opts.prefill);
  const prev = process.env.PASV_DIRECT_READ;
  process.env.PASV_DIRECT_READ = opts.direct ? "1" : "0";
  try {
    const { server, client } = await pair();
    const fh = await open(f, opts.flags ?? (opts.prefill ? "r+" : "w"));
    const pool = opts.pool ?? new BufferPool(CHUNK, 8);
    const native = opts.splice ? nativeIo() : null;
    const [n] = await Promise.all([receiveFile(server, fh, opts.start === undefined ? 0 : opts.start, pool, native), sendPieces(client, data)]);
    await fh.close();
    const st = pool.stats();
    assert.equal(st.free, st.allocated, "every pool buffer is back");
    return { file: await readFile(f), n };
  } finally {
    if (prev === undefined) delete process.env.PASV_DIRECT_READ;
    else process.env.PASV_DIRECT_READ = prev;
    await rm(dir, { recursive: true, force: true });
  }
}

const SIZES = [0, 1, 65535, 65536, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7, 9 * CHUNK + 5];

test("STOR: direct and ordinary paths store identical bytes at buffer-boundary sizes", async () => {
  for (const size of SIZES) {
    const data = randomBytes(size);
    const a = await upload(data, { direct: true });
    const b = await upload(data, { direct: false });
    assert.equal(a.n, size, `direct count ${size}`);
    assert.equal(b.n, size, `ordinary count ${size}`);
    assert.equal(sha(a.file), sha(data), `direct bytes ${size}`);
    assert.equal(sha(b.file), sha(data), `ordinary bytes ${size}`);
  }
});

test("STOR: the direct path is taken for a plain paused socket, declined otherwise", async () => {
  const { server, client } = await pair();
  const got: Buffer[] = [];
  const buf = Buffer.alloc(4096);
  const s1 = adoptForDirectRead(server, { buffer: () => buf, callback: (n, b) => void got.push(Buffer.from(b.subarray(0, n))) });
  assert.ok(s1, "adopted");
  client.end("hello");
  await new Promise((r) => s1.once("end", r));
  assert.equal(Buffer.concat(got).toString(), "hello");
  // The old socket closes when the new one does (the passive channel's accounting relies on it).
  await new Promise((r) => (server.destroyed ? r(null) : server.once("close", r)));
  // Bytes already buffered (e.g. after a PROXY header) -> declined, nothing changed.
  const p = await pair();
  p.server.unshift(Buffer.from("x"));
  assert.equal(adoptForDirectRead(p.server, { buffer: () => buf, callback: () => true }), null);
  p.server.destroy();
  p.client.destroy();
});

test("STOR: destroying the old socket (ABOR, data timeout) cuts the adopted one; the timeout moves", async () => {
  const { server, client } = await pair();
  let fired = false;
  server.setTimeout(150, () => {
    fired = true;
    server.destroy();
  });
  const buf = Buffer.alloc(4096);
  const s1 = adoptForDirectRead(server, { buffer: () => buf, callback: () => true })!;
  const clientClosed = new Promise((r) => client.once("close", r));
  await new Promise((r) => s1.once("close", r));
  assert.ok(fired, "the old socket's timeout listener ran");
  await clientClosed;
});

test("REST + STOR and APPE on the direct path write at the right place", async () => {
  const prefill = randomBytes(3 * CHUNK);
  const data = randomBytes(CHUNK + 12345);
  const at = 1000;
  const rest = await upload(data, { direct: true, start: at, prefill });
  const want = Buffer.from(prefill);
  data.copy(want, at);
  assert.equal(sha(rest.file), sha(want));
  const app = await upload(data, { direct: true, start: null, prefill, flags: "a" });
  assert.equal(sha(app.file), sha(Buffer.concat([prefill, data])));
});

test("STOR: a pool short of two buffers falls back to the ordinary path", async () => {
  const data = randomBytes(2 * CHUNK + 3);
  // The direct path always goes through adoptForDirectRead, which counts adoptions: with a
  // roomy pool the count grows by one (so the counter sees the direct path) ...
  const adopted0 = directReadStats.adopted;
  const roomy = await upload(data, { direct: true, pool: new BufferPool(CHUNK, 8) });
  assert.equal(directReadStats.adopted, adopted0 + 1, "with two buffers free the direct path is taken");
  assert.equal(sha(roomy.file), sha(data));
  // ... and with one buffer it does not: the bytes came through the ordinary path.
  const short = new BufferPool(CHUNK, 1);
  const r = await upload(data, { direct: true, pool: short });
  assert.equal(directReadStats.adopted, adopted0 + 1, "no adoption with a pool short of two buffers");
  assert.equal(r.n, data.length);
  assert.equal(sha(r.file), sha(data));
  assert.equal(short.stats().free, short.stats().allocated, "the one buffer it tried went back");
});

test("STOR: an upload cut mid-way rejects and returns every buffer", async () => {
  for (const direct of [true, false]) {
    process.env.PASV_DIRECT_READ = direct ? "1" : "0";
    const dir = await mkdtemp(path.join(tmpdir(), "pasv-xfer-"));
    const fh = await open(path.join(dir, "f"), "w");
    const pool = new BufferPool(CHUNK, 8);
    const { server, client } = await pair();
    const r = receiveFile(server, fh, 0, pool, null);
    client.write(randomBytes(3 * CHUNK + 5), () => client.resetAndDestroy()); // RST: a cut, not an end
    await assert.rejects(r);
    await new Promise((res) => setTimeout(res, 50));
    const st = pool.stats();
    assert.equal(st.free, st.allocated);
    await fh.close();
    await rm(dir, { recursive: true, force: true });
  }
  delete process.env.PASV_DIRECT_READ;
});

test("RETR: sendFile moves the exact bytes with a pool of one buffer (single buffering) and of many", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-xfer-"));
  try {
    for (const size of [0, 10, 65536, 65537, CHUNK, CHUNK + 1, 3 * CHUNK + 7]) {
      const data = randomBytes(size);
      const f = path.join(dir, `f${size}`);
      await writeFile(f, data);
      for (const max of [1, 8]) {
        const pool = new BufferPool(CHUNK, max);
        const fh = await open(f, "r");
        const { server, client } = await pair();
        const chunks: Buffer[] = [];
        client.on("data", (c: Buffer) => chunks.push(c));
        const got = new Promise((r) => client.once("end", r));
        server.resume();
        const n = await sendFile(fh, 0, server, size, { pool, native: null });
        await got;
        await fh.close();
        assert.equal(n, size);
        assert.equal(sha(Buffer.concat(chunks)), sha(data), `size ${size} pool ${max}`);
        assert.ok(pool.stats().allocated <= max);
        assert.equal(pool.stats().free, pool.stats().allocated);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** The built module (the tests need it: make server-native). */
function nativeIo(): NativeIo {
  const { io, why } = loadNativeIo();
  assert.ok(io, `the native I/O module must be built for these tests (make server-native): ${why}`);
  return io;
}

/** The built module, wrapped to record what each sendfile job returned. */
function recordingSendfile(): { fn: NativeIo; results: SendfileResult[] } {
  const io = nativeIo();
  const results: SendfileResult[] = [];
  const fn: NativeIo = {
    pwritePieces: (...args) => io.pwritePieces(...args),
    spliceToFile: (...args) => io.spliceToFile(...args),
    waitReadable: (...args) => io.waitReadable(...args),
    sendfile: async (...args) => {
      const r = await io.sendfile(...args);
      results.push(r);
      return r;
    },
  };
  return { results, fn };
}

test("RETR with sendfile: the exact bytes from any offset, across job boundaries; small files and non-sockets take the copying loop", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-sendfile-"));
  try {
    for (const [size, start] of [[65537, 0], [3 * CHUNK + 7, 0], [3 * CHUNK + 7, 1000], [17 * CHUNK + 3, 5]] as const) {
      const data = randomBytes(size);
      const f = path.join(dir, `f${size}`);
      await writeFile(f, data);
      const fh = await open(f, "r");
      const { server, client } = await pair();
      const chunks: Buffer[] = [];
      client.on("data", (c: Buffer) => chunks.push(c));
      const got = new Promise((r) => client.once("end", r));
      server.resume();
      const rec = recordingSendfile();
      const used = sendfileStats.used;
      const n = await sendFile(fh, start, server, size, { native: rec.fn });
      await got;
      await fh.close();
      assert.equal(n, size - start);
      assert.equal(sha(Buffer.concat(chunks)), sha(data.subarray(start)), `size ${size} from ${start}`);
      assert.equal(sendfileStats.used, used + 1);
      assert.ok(rec.results.reduce((a, r) => a + r.sent, 0) > 0, "sendfile moved the bytes");
    }
    // At most SMALL bytes: a private buffer, no sendfile job.
    const f = path.join(dir, "small");
    await writeFile(f, randomBytes(1000));
    const fh = await open(f, "r");
    const { server, client } = await pair();
    client.resume();
    server.resume();
    const rec = recordingSendfile();
    assert.equal(await sendFile(fh, 0, server, 1000, { native: rec.fn }), 1000);
    await fh.close();
    assert.equal(rec.results.length, 0);
    client.destroy();
    assert.equal(plainSocketFd(new PassThrough()), null, "a stream that is not a plain TCP socket (TLS, wrappers) has no descriptor to send to");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("RETR with sendfile: a reader slower than the disk fills the socket; the ordinary write waits for room and sendfile resumes", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-sendfile-"));
  try {
    const size = 24 * CHUNK + 11;
    const data = randomBytes(size);
    const f = path.join(dir, "big");
    await writeFile(f, data);
    const fh = await open(f, "r");
    const { server, client } = await pair();
    const chunks: Buffer[] = [];
    // Reads in bursts with pauses, so the socket buffer fills again and again.
    client.on("data", (c: Buffer) => {
      chunks.push(c);
      client.pause();
      setTimeout(() => client.resume(), 2).unref();
    });
    const got = new Promise((r) => client.once("end", r));
    server.resume();
    const rec = recordingSendfile();
    const n = await sendFile(fh, 0, server, size, { native: rec.fn });
    await got;
    await fh.close();
    assert.equal(n, size);
    assert.equal(sha(Buffer.concat(chunks)), sha(data));
    assert.ok(rec.results.some((r) => r.blocked), "the socket filled up at least once");
    assert.ok(rec.results.filter((r) => r.sent > 0).length > 1, "sendfile resumed after the socket had room");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("RETR with sendfile: a client that goes away mid-transfer fails the transfer and leaves no descriptor open", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-sendfile-"));
  const fds = () => readdirSync("/proc/self/fd").length;
  try {
    const size = 64 * CHUNK;
    const f = path.join(dir, "big");
    await writeFile(f, randomBytes(size));
    const before = fds();
    const fh = await open(f, "r");
    const { server, client } = await pair();
    let received = 0;
    client.on("data", (c: Buffer) => {
      received += c.length;
      if (received > 4 * CHUNK) client.destroy();
    });
    server.resume();
    const rec = recordingSendfile();
    await assert.rejects(sendFile(fh, 0, server, size, { native: rec.fn }));
    server.destroy();
    await fh.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(received < size);
    assert.equal(fds(), before, "every descriptor (the file, the socket, the module's duplicates) is closed");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("STOR through the native module: the exact bytes at a position and at the file's offset (O_APPEND); errors reject with the errno code", async () => {
  const io = nativeIo();
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-pwrite-"));
  try {
    const f = path.join(dir, "f");
    const a = randomBytes(CHUNK + 3);
    const b = randomBytes(70000);
    const fh = await open(f, "w");
    assert.equal(await io.pwritePieces(fh.fd, a, 10, 64 * 1024), a.length);
    assert.equal(await io.pwritePieces(fh.fd, b, 10 + a.length, 4096), b.length);
    await fh.close();
    const got = await readFile(f);
    assert.equal(got.length, 10 + a.length + b.length);
    assert.equal(sha(got.subarray(10)), sha(Buffer.concat([a, b])));
    const ap = await open(f, "a");
    const c = randomBytes(100_001);
    assert.equal(await io.pwritePieces(ap.fd, c, -1, 64 * 1024), c.length);
    await ap.close();
    assert.equal(sha((await readFile(f)).subarray(10 + a.length + b.length)), sha(c));
    const ro = await open(f, "r");
    await assert.rejects(io.pwritePieces(ro.fd, c, 0, 65536), (e: NodeJS.ErrnoException) => e.code === "EBADF");
    await ro.close();
    assert.throws(() => io.pwritePieces(-1, c, 0, 65536), TypeError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("native I/O: a descriptor closed while its job runs is never reused for another file (the job works on a duplicate)", async () => {
  const io = nativeIo();
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-pwrite-"));
  try {
    const data = randomBytes(16 * CHUNK);
    const fh = await open(path.join(dir, "upload"), "w");
    const fd = fh.fd;
    const job = io.pwritePieces(fd, data, 0, 64 * 1024);
    await fh.close(); // as an aborted upload does while a write is in flight
    const other = await open(path.join(dir, "other"), "w"); // most likely gets the same number
    const n = await job;
    await other.close();
    assert.equal(n, data.length);
    assert.equal((await readFile(path.join(dir, "other"))).length, 0, `the file opened as fd ${other.fd} (was ${fd}) got nothing`);
    assert.equal(sha(await readFile(path.join(dir, "upload"))), sha(data));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("STOR spliced (native module): identical bytes at buffer-boundary sizes and at an offset (REST), no pool buffer taken; APPE is not spliced", async () => {
  const spliced0 = directReadStats.spliced;
  for (const size of SIZES) {
    const data = randomBytes(size);
    const pool = new BufferPool(CHUNK, 8);
    const r = await upload(data, { direct: true, splice: true, pool });
    assert.equal(r.n, size);
    assert.equal(sha(r.file), sha(data), `size ${size}`);
    assert.equal(pool.stats().allocated, 0, "no pool buffer");
  }
  assert.equal(directReadStats.spliced, spliced0 + SIZES.length);
  const prefill = randomBytes(3 * CHUNK);
  const data = randomBytes(CHUNK + 17);
  const at = await upload(data, { direct: true, splice: true, start: 1000, prefill });
  assert.equal(sha(at.file), sha(Buffer.concat([prefill.subarray(0, 1000), data, prefill.subarray(1000 + data.length)])), "REST: written at 1000, the rest kept");
  const spliced1 = directReadStats.spliced;
  const app = await upload(data, { direct: true, splice: true, start: null, prefill, flags: "a" });
  assert.equal(sha(app.file), sha(Buffer.concat([prefill, data])), "APPE: appended");
  assert.equal(directReadStats.spliced, spliced1, "APPE (O_APPEND, which splice refuses) takes the direct path");
});

test("STOR spliced: a slow sender is waited for without a thread; a cut connection rejects; a socket destroyed during the wait (ABOR, timeout) fails within a second; no descriptor left", async () => {
  const io = nativeIo();
  const fds = () => readdirSync("/proc/self/fd").length;
  const dir = await mkdtemp(path.join(tmpdir(), "pasv-splice-"));
  try {
    const before = fds();
    // Slow: pieces with pauses, so the socket runs empty again and again.
    {
      const data = randomBytes(2 * CHUNK + 3);
      const fh = await open(path.join(dir, "slow"), "w");
      const { server, client } = await pair();
      const r = receiveFile(server, fh, 0, new BufferPool(CHUNK, 8), io);
      for (let off = 0; off < data.length; off += 300_000) {
        client.write(data.subarray(off, off + 300_000));
        await new Promise((res) => setTimeout(res, 20));
      }
      client.end();
      assert.equal(await r, data.length);
      await fh.close();
      assert.equal(sha(await readFile(path.join(dir, "slow"))), sha(data));
    }
    // Cut: RST after some bytes.
    {
      const fh = await open(path.join(dir, "cut"), "w");
      const { server, client } = await pair();
      const r = receiveFile(server, fh, 0, new BufferPool(CHUNK, 8), io);
      client.write(randomBytes(3 * CHUNK + 5), () => client.resetAndDestroy());
      await assert.rejects(r);
      server.destroy();
      await fh.close();
    }
    // Stalled client, then the server side destroys the socket (as ABOR or the data timeout do).
    {
      const fh = await open(path.join(dir, "stalled"), "w");
      const { server, client } = await pair();
      const r = receiveFile(server, fh, 0, new BufferPool(CHUNK, 8), io);
      client.write(randomBytes(1000));
      await new Promise((res) => setTimeout(res, 100));
      const t0 = Date.now();
      server.destroy();
      await assert.rejects(r, /closed before the end/);
      assert.ok(Date.now() - t0 < 1500, `noticed after ${Date.now() - t0} ms`);
      client.destroy();
      await fh.close();
    }
    await new Promise((res) => setTimeout(res, 1100)); // the last wait's duplicate goes at its timeout
    assert.equal(fds(), before, "every descriptor (files, sockets, pipes, the module's duplicates) is closed");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("buffer pool: capped, FIFO waiters, no buffer given out twice", async () => {
  const pool = new BufferPool(16, 2);
  const a = pool.tryAcquire()!;
  const b = pool.tryAcquire()!;
  assert.equal(pool.tryAcquire(), null);
  const order: number[] = [];
  const w1 = pool.acquire().then((x) => (order.push(1), x));
  const w2 = pool.acquire().then((x) => (order.push(2), x));
  pool.release(a);
  pool.release(b);
  const [x1, x2] = await Promise.all([w1, w2]);
  assert.deepEqual(order, [1, 2]);
  assert.notEqual(x1, x2);
  assert.equal(pool.stats().allocated, 2);
});

test("buffer pool: prewarm allocates and touches up to the cap, and the warmed buffers are handed out first", async () => {
  const pool = new BufferPool(CHUNK, 3);
  assert.equal(pool.prewarm(2), 2);
  assert.deepEqual(pool.stats(), { allocated: 2, free: 2, inUse: 0, waiting: 0, max: 3 });
  assert.equal(pool.prewarm(10), 3, "never past the cap");
  assert.equal(pool.prewarm(1), 3, "already warm: nothing more");
  const got = [pool.tryAcquire(), pool.tryAcquire(), pool.tryAcquire()];
  assert.ok(got.every((b) => b !== null && b.length === CHUNK && b.every((x) => x === 0)), "written (zeroed) buffers of the pool's size");
  assert.equal(pool.tryAcquire(), null, "the cap holds after a prewarm");
  assert.equal(pool.stats().allocated, 3);
});

test("STOR: the file is written in pieces of at most WRITE_PIECE, in order, at the right positions; a short write stops", async () => {
  const calls: { len: number; pos: number | null | undefined }[] = [];
  const file = Buffer.alloc(3 * CHUNK + 10);
  const target = {
    async write(buf: Buffer, off: number, len: number, pos: number | null) {
      calls.push({ len, pos });
      buf.copy(file, pos ?? 0, off, off + len);
      return { bytesWritten: len };
    },
    async writev(bufs: Buffer[], pos?: number) {
      const all = Buffer.concat(bufs);
      calls.push({ len: all.length, pos });
      all.copy(file, pos ?? 0);
      return { bytesWritten: all.length };
    },
  };
  const a = randomBytes(CHUNK);
  const b = randomBytes(CHUNK + 10);
  const chunks = Array.from({ length: 20 }, () => randomBytes(65536)); // the ordinary path's 64 KiB 'data' chunks
  const r = await writePieces(target, [a, b], 5);
  assert.equal(r.bytesWritten, 2 * CHUNK + 10);
  assert.ok(calls.every((c) => c.len <= WRITE_PIECE), `no write over ${WRITE_PIECE}: ${calls.map((c) => c.len).join(",")}`);
  assert.deepEqual(calls.map((c) => c.pos), calls.map((_, i) => 5 + i * WRITE_PIECE), "consecutive positions");
  assert.equal(sha(file.subarray(5, 5 + 2 * CHUNK + 10)), sha(Buffer.concat([a, b])));
  calls.length = 0;
  await writePieces(target, chunks, 0);
  assert.deepEqual(calls.map((c) => c.len), [WRITE_PIECE, WRITE_PIECE, WRITE_PIECE, WRITE_PIECE, WRITE_PIECE], "64 KiB chunks grouped into full pieces");
  assert.equal(sha(file.subarray(0, 20 * 65536)), sha(Buffer.concat(chunks)));
  // A file that takes fewer bytes than asked: no further write, the count says how far it got.
  let n = 0;
  const short = { write: async (_b: Buffer, _o: number, len: number) => ({ bytesWritten: n++ === 0 ? len : 7 }), writev: async () => ({ bytesWritten: 0 }) };
  assert.deepEqual(await writePieces(short, [randomBytes(CHUNK)], null), { bytesWritten: WRITE_PIECE + 7 });
  assert.equal(n, 2);
});

// The process-wide pool of 1 MiB transfer buffers (RETR and STOR hot loops). At most `max`
// buffers exist at any time, whatever the number of sessions, so transfer memory is bounded
// (docs/ftp-server.md, "Design notes"). A transfer needs ONE buffer to make progress (acquire()
// waits for it, FIFO); more are optional (tryAcquire() never waits), so no transfer ever holds a
// buffer while waiting for another one: no deadlock, and under load transfers fall back to
// single buffering instead of queueing.
//
// Uploads may not take the last RESERVE buffers (tryAcquire(reserve)): an upload whose client
// stops sending holds its buffers until the data timeout, and without a reserve a few such uploads
// would leave every RETR waiting. A wait for a buffer can be cancelled (ABOR, a closed socket).
//
// PASV_BUFFER_POOL_MB (default 64) sets the cap; transfers of at most SMALL bytes use a private
// exact-size buffer and do not touch the pool.
//
// At start the server allocates PASV_BUFFER_PREWARM buffers (default 4: one RETR's two plus a STOR's
// two) and writes every page of them, so the first transfers do not take ~256 page faults per
// buffer; on a VM whose host reclaims free guest memory (virtio-balloon free page reporting) a
// fresh page is a host fault too (docs/benchmarks.md, "Where the CPU per GiB goes"). The pool never
// frees a buffer, so a touched buffer stays backed.

export const CHUNK = 1024 * 1024;
/** Transfers no larger than this use a private buffer of their exact size. */
export const SMALL = 64 * 1024;

export class BufferPool {
  readonly size: number;
  readonly max: number;
  private allocated = 0;
  private readonly free: Buffer[] = [];
  private readonly waiters: ((b: Buffer) => void)[] = [];

  constructor(size: number, max: number) {
    this.size = size;
    this.max = Math.max(1, Math.floor(max));
  }

  /** Buffers that could be handed out now (free ones plus those not yet allocated). */
  available(): number {
    return this.free.length + this.max - this.allocated;
  }

  /** Buffers uploads must leave to others: a quarter of the pool, at least one. */
  get reserve(): number {
    return Math.max(1, Math.floor(this.max / 4));
  }

  /**
   * A buffer now if one is free or may be allocated and at least `keep` would still be available
   * afterwards (and nobody is waiting), else null.
   */
  tryAcquire(keep = 0): Buffer | null {
    if (keep > 0 && (this.waiters.length > 0 || this.available() - 1 < keep)) return null;
    const b = this.free.pop();
    if (b) return b;
    if (this.allocated < this.max) {
      this.allocated++;
      return Buffer.allocUnsafeSlow(this.size);
    }
    return null;
  }

  /**
   * A buffer, waiting (FIFO) for one to be released when the pool is at its cap. With `signal`,
   * an abort leaves the queue and rejects.
   */
  acquire(signal?: AbortSignal): Promise<Buffer> {
    if (signal?.aborted) return Promise.reject(new Error("aborted while waiting for a transfer buffer"));
    // Waiters first: a fresh request never overtakes a queued one.
    if (this.waiters.length === 0) {
      const b = this.tryAcquire();
      if (b) return Promise.resolve(b);
    }
    return new Promise((resolve, reject) => {
      const waiter = (b: Buffer) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(b);
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error("aborted while waiting for a transfer buffer"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /**
   * Allocates up to `n` buffers now (never past the cap) and writes every page of them, so they
   * are backed by memory before the first transfer needs them. Returns how many are free now.
   */
  prewarm(n: number): number {
    const want = Math.min(Math.max(0, Math.floor(n)), this.max);
    while (this.allocated < want) {
      const b = Buffer.allocUnsafeSlow(this.size);
      b.fill(0);
      this.allocated++;
      this.free.push(b);
    }
    return this.free.length;
  }

  release(b: Buffer): void {
    if (b.length !== this.size) return; // not ours (a private small buffer or a view)
    const w = this.waiters.shift();
    if (w) w(b);
    else this.free.push(b);
  }

  stats(): { allocated: number; free: number; inUse: number; waiting: number; max: number } {
    return { allocated: this.allocated, free: this.free.length, inUse: this.allocated - this.free.length, waiting: this.waiters.length, max: this.max };
  }
}

function capFromEnv(): number {
  const mb = Number(process.env.PASV_BUFFER_POOL_MB ?? "64");
  return Number.isFinite(mb) && mb >= 1 ? Math.floor(mb) : 64;
}

/** How many buffers the server allocates and touches at start (PASV_BUFFER_PREWARM, default 4). */
export function prewarmFromEnv(): number {
  const n = Number(process.env.PASV_BUFFER_PREWARM ?? "4");
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 4;
}

/** The shared pool of CHUNK-sized buffers. */
export const transferBuffers = new BufferPool(CHUNK, (capFromEnv() * 1024 * 1024) / CHUNK);

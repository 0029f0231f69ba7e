// A keyed work queue with client-go's semantics:
//  - a key is queued at most once (adds of a queued key coalesce);
//  - a key being processed is never handed to a second worker: adds during processing mark it
//    dirty and it is re-queued when `done(key)` is called;
//  - per-key exponential backoff for failures (`addRateLimited`), reset by `forget`;
//  - `addAfter` for delayed requeues (the earliest pending time per key wins);
//  - `shutdown()` stops handing out work at once (queued keys are dropped, waiting `get`s resolve
//    undefined) and `drain()` resolves when every in-flight key is `done`.
import type { Metrics } from "./metrics.ts";

/** Per-item exponential backoff: baseMs × 2^failures, capped (controller-runtime: 5 ms → 1000 s). */
export class ItemExponentialBackoff {
  private readonly failures = new Map<string, number>();
  readonly baseMs: number;
  readonly maxMs: number;
  constructor(baseMs = 5, maxMs = 1_000_000) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }
  /** Delay for the next retry of `key` (and count the failure). */
  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }
  forget(key: string): void {
    this.failures.delete(key);
  }
}

export interface WorkQueueOptions {
  /** metrics label `name` */
  name?: string;
  metrics?: Metrics;
  rateLimiter?: ItemExponentialBackoff;
}

export class WorkQueue {
  readonly name: string;
  private readonly queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private readonly waiting = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private getters: ((key: string | undefined) => void)[] = [];
  private drainers: (() => void)[] = [];
  private down = false;
  private readonly metrics: Metrics | undefined;
  readonly rateLimiter: ItemExponentialBackoff;

  constructor(opts: WorkQueueOptions = {}) {
    this.name = opts.name ?? "queue";
    this.metrics = opts.metrics;
    this.rateLimiter = opts.rateLimiter ?? new ItemExponentialBackoff();
  }

  /** Queue `key` now (no-op if it is already queued, or after shutdown). */
  add(key: string): void {
    if (this.down) return;
    this.metrics?.workqueueAdds.inc({ name: this.name });
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.addedAt.has(key)) this.addedAt.set(key, performance.now());
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Queue `key` after `ms` (immediately when ms ≤ 0). An earlier pending time for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.down) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const cur = this.waiting.get(key);
    if (cur && cur.at <= at) return;
    if (cur) clearTimeout(cur.timer);
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, timer });
  }

  /** Queue `key` after its backoff delay (grows per consecutive failure until `forget`). */
  addRateLimited(key: string): void {
    if (this.down) return;
    this.metrics?.workqueueRetries.inc({ name: this.name });
    this.addAfter(key, this.rateLimiter.when(key));
  }

  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.numRequeues(key);
  }

  /** Next key to process; waits for one. Resolves undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.down) return Promise.resolve(undefined);
    const key = this.pop();
    if (key !== undefined) return Promise.resolve(this.take(key));
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Mark `key` processed; if it was added meanwhile it is queued again. */
  done(key: string): void {
    const started = this.startedAt.get(key);
    if (started !== undefined) {
      this.metrics?.workqueueWorkDuration.observe({ name: this.name }, (performance.now() - started) / 1000);
      this.startedAt.delete(key);
    }
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.down) this.push(key);
    if (this.processing.size === 0) for (const d of this.drainers.splice(0)) d();
  }

  /** Stop: no more adds, no more work handed out; pending delayed adds are cancelled. */
  shutdown(): void {
    if (this.down) return;
    this.down = true;
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
    for (const g of this.getters.splice(0)) g(undefined);
    this.metrics?.workqueueDepth.set({ name: this.name }, 0);
  }

  /** Resolves when no key is being processed (call after shutdown for a graceful stop). */
  drain(): Promise<void> {
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainers.push(resolve));
  }

  get shuttingDown(): boolean {
    return this.down;
  }
  /** keys waiting to be handed out */
  get length(): number {
    return this.queue.length - this.head;
  }
  /** keys being processed */
  get inFlight(): number {
    return this.processing.size;
  }
  /** keys waiting for an addAfter/addRateLimited timer */
  get delayed(): number {
    return this.waiting.size;
  }

  private push(key: string): void {
    const g = this.getters.shift();
    if (g) {
      g(this.take(key));
      return;
    }
    this.queue.push(key);
    this.metrics?.workqueueDepth.set({ name: this.name }, this.length);
  }

  private pop(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const key = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.metrics?.workqueueDepth.set({ name: this.name }, this.length);
    return key;
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    const now = performance.now();
    const added = this.addedAt.get(key);
    if (added !== undefined) {
      this.metrics?.workqueueQueueDuration.observe({ name: this.name }, (now - added) / 1000);
      this.addedAt.delete(key);
    }
    this.startedAt.set(key, now);
    return key;
  }
}

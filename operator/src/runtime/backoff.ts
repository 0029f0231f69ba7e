// Small time helpers shared by the runtime.

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Exponential backoff with jitter and a reset after a quiet period (like client-go's backoff manager). */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private current: number;
  private lastFailure = 0;
  constructor(opts: { initialMs?: number; maxMs?: number; resetAfterMs?: number } = {}) {
    this.initialMs = opts.initialMs ?? 500;
    this.maxMs = opts.maxMs ?? 30_000;
    this.resetAfterMs = opts.resetAfterMs ?? 60_000;
    this.current = this.initialMs;
  }
  /** The delay to wait after a failure now; grows ×2 per consecutive failure, up to max, ±20 % jitter. */
  next(now = Date.now()): number {
    if (now - this.lastFailure > this.resetAfterMs) this.current = this.initialMs;
    this.lastFailure = now;
    const d = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    return Math.round(d * (0.8 + Math.random() * 0.4));
  }
  reset(): void {
    this.current = this.initialMs;
    this.lastFailure = 0;
  }
}

// Polls until `fn` returns a truthy value (errors count as "not yet"), or fails with what it
// was waiting for and the last error. Shared by the integration, e2e tests and benchmarks.
import { setTimeout as sleep } from "node:timers/promises";

export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${what}${last instanceof Error ? ` (last error: ${last.message})` : ""}`);
    await sleep(everyMs);
  }
}

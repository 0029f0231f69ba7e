// Test seams injected into the runtime (instead of test-only methods on production classes).
import type { KubeConfigLike } from "../../operator/src/runtime/kubeconfig.ts";
import { ApiClient, ApiError } from "../../operator/src/runtime/client.ts";
import type { InformerClient } from "../../operator/src/runtime/informer.ts";
import type { LeaseClient } from "../../operator/src/runtime/leader.ts";

/**
 * A Lease client that can be "hung": while paused every request fails as a dead connection would,
 * so the elector can neither renew nor acquire (a frozen or partitioned leader). Pass `client` as
 * `seams.leaseClient` to the Manager.
 */
export function pausableLeaseClient(kubeConfig: KubeConfigLike): { client: LeaseClient; pause: (paused?: boolean) => void; close: () => void } {
  const real = new ApiClient(kubeConfig);
  let paused = false;
  const client: LeaseClient = {
    request: <T,>(...args: Parameters<ApiClient["request"]>): Promise<T> =>
      paused ? Promise.reject(new ApiError(0, "lease requests paused by the test", "Transport")) : real.request<T>(...args),
  };
  return { client, pause: (p = true) => (paused = p), close: () => real.close() };
}

/**
 * An informer client whose watch streams the test can end: `breakWatch()` fails the open stream as
 * a dropped connection would (→ error, backoff, relist); `rewatchFrom(rv)` ends it cleanly, as the
 * server does at timeoutSeconds, and makes the next watch start from `rv` (an old rv → 410 Gone).
 */
export function controllableWatches(real: ApiClient): { client: InformerClient; breakWatch: () => void; rewatchFrom: (rv: string) => void } {
  let current: ((clean: boolean) => void) | undefined;
  let forced: string | undefined;
  const client: InformerClient = {
    list: (...args) => real.list(...args),
    stream: async (path, query, signal) => {
      if (forced !== undefined) {
        query = { ...query, resourceVersion: forced };
        forced = undefined;
      }
      const reader = (await real.stream(path, query, signal)).getReader();
      let ctl!: ReadableStreamDefaultController<Uint8Array>;
      let ended = false;
      const out = new ReadableStream<Uint8Array>({
        start: (c) => void (ctl = c),
        pull: async (c) => {
          const { value, done } = await reader.read();
          if (ended) return;
          if (done) {
            ended = true;
            c.close();
          } else c.enqueue(value);
        },
        cancel: (r) => reader.cancel(r),
      });
      current = (clean) => {
        if (ended) return;
        ended = true;
        if (clean) ctl.close();
        else ctl.error(new Error("watch broken by the test"));
        reader.cancel().catch(() => undefined);
      };
      return out;
    },
  };
  return {
    client,
    breakWatch: () => current?.(false),
    rewatchFrom: (rv) => {
      forced = rv;
      current?.(true);
    },
  };
}

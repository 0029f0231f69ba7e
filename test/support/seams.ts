// Test seams injected into the runtime (instead of test-only methods on production classes).
import type { KubeConfigLike } from "../../operator/src/runtime/kubeconfig.ts";
import { ApiClient, ApiError } from "../../operator/src/runtime/client.ts";
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

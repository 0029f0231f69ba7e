// Test helper: one real control plane per test file.
//
//   const cluster = await startTestCluster();   // in before()
//   await cluster.stop();                        // in after()
//
// Set PASV_USE_EXISTING_CLUSTER=1 to run against the cluster in $KUBECONFIG instead
// (e.g. kind, or `make cluster-up`); stop() then leaves it alone. Tests name what they create
// with uniqueName() (a rerun against the same cluster must not collide with the last run), and a
// test that needs a cluster the harness started says so with ownClusterOnly() (skipped, with why).
import { KubeConfig } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, stopCluster, type ClusterOptions, type ClusterState } from "./cluster.ts";

export interface TestCluster {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** State directory (logs under logs/); empty for an existing cluster. */
  dir: string;
  /** Present for clusters this helper started. */
  state: ClusterState | null;
  stop(): Promise<void>;
}

const live = new Set<ClusterState>();
function killLive(): void {
  for (const s of live) {
    for (const pid of Object.values(s.pids)) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    rmSync(s.dir, { recursive: true, force: true });
  }
}
// If the test process ends without running after() - an uncaught error, or the runner
// cancelling it with a signal - don't leave apiservers behind (they outlive us otherwise:
// they run in their own process groups).
process.once("exit", killLive);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    killLive();
    process.kill(process.pid, sig);
  });
}

/** True when the tests run against the cluster in $KUBECONFIG (PASV_USE_EXISTING_CLUSTER=1). */
export function usingExistingCluster(): boolean {
  return process.env.PASV_USE_EXISTING_CLUSTER === "1";
}

/**
 * A name for something a test creates (a namespace, a CRD group): `base` in a cluster the harness
 * started (fresh each time), `base-<random>` in an existing cluster, where the last run's objects
 * may still exist (a fixed name would answer 409 AlreadyExists on the second run).
 */
export function uniqueName(base: string): string {
  return usingExistingCluster() ? `${base}-${randomBytes(3).toString("hex")}` : base;
}

/**
 * For `describe(name, { skip: ownClusterOnly("why") }, …)`: false normally; with
 * PASV_USE_EXISTING_CLUSTER=1, the reason the runner prints for skipping.
 */
export function ownClusterOnly(why: string): string | false {
  return usingExistingCluster() ? `needs a cluster the harness starts (${why}); PASV_USE_EXISTING_CLUSTER=1 is set` : false;
}

export async function startTestCluster(opts: Partial<ClusterOptions> = {}): Promise<TestCluster> {
  if (usingExistingCluster()) {
    const path = process.env.KUBECONFIG;
    if (!path) throw new Error("PASV_USE_EXISTING_CLUSTER=1 needs KUBECONFIG");
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(path);
    return { kubeconfigPath: path, kubeConfig, dir: "", state: null, stop: async () => {} };
  }
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "pasv-cluster-"));
  const state = await startCluster({ ...opts, dir });
  live.add(state);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(state.kubeconfig);
  return {
    kubeconfigPath: state.kubeconfig,
    kubeConfig,
    dir,
    state,
    stop: async () => {
      live.delete(state);
      await stopCluster(state);
    },
  };
}

// Shared by the replica e2e tests (replicas-storage, replicas-scaling): the demo's FtpServer on a
// real ReadWriteMany volume, and "which pod is this session on" from the pods' own metrics.
import assert from "node:assert/strict";
import { join } from "node:path";
import { sharedVolume } from "../cluster/shared-volume.ts";
import { NS, Session, log, podMetrics, pods, sumMetric, waitFor, type Env, type PodInfo } from "./lib.ts";

/** The demo's passive layout (test/cluster/demo.sh): 40 ports from 31000, fixed blocks of 10 (up to 4 pods). */
export const DEMO_BASE_PORT = 31000;
export const DEMO_PORTS = 40;
export const DEMO_PORTS_PER_REPLICA = 10;

/** A hostPath PV declared ReadWriteMany on the node + its claim (test/cluster/shared-volume.ts). */
export function createSharedClaim(env: Env, claimName: string, subDirs: string[] = []): string {
  const v = sharedVolume({ hostDir: join(env.cluster.dir, "shared", claimName), claimName, namespace: NS, subDirs });
  env.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: v.manifests }));
  return v.hostDir;
}

export async function waitClaimBound(env: Env, claimName: string): Promise<void> {
  await waitFor(`PVC ${claimName} Bound`, 60_000, () => env.kubectl(["get", "pvc", claimName, "-n", NS, "-o", "jsonpath={.status.phase}"]) === "Bound");
}

/**
 * The demo's FtpServer at default pool settings (no quarantine or accept-timeout overrides), on the
 * shared claim. `subPath` exercises storage.subPath.
 */
export function demoServer(name: string, claimName: string, extra: { replicas?: number; subPath?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: "ftp.pasv.dev/v1alpha1",
    kind: "FtpServer",
    metadata: { name, namespace: NS },
    spec: {
      replicas: extra.replicas ?? 3,
      // No image: the operator's default (--ftp-server-image), imported under its published name.
      routing: { mode: "PortPartitioned" },
      passive: {
        basePort: DEMO_BASE_PORT,
        numberOfPorts: DEMO_PORTS,
        portsPerReplica: DEMO_PORTS_PER_REPLICA,
        addressRules: [{ userClass: "*", address: "auto", enabled: true }],
      },
      users: { secretName: "ftp-users" },
      storage: { type: "SharedClaim", claimName, ...(extra.subPath ? { subPath: extra.subPath } : {}) },
    },
  };
}

/** Successful logins per pod (the kubelet's TCP readiness probes open control connections but never log in). */
export async function loginsByPod(ps: PodInfo[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const p of ps) out.set(p.name, sumMetric(await podMetrics(p.ip), "ftp_logins_total", { result: "success" }));
  return out;
}

/**
 * Opens a long-lived session and proves which pod holds it: the one pod whose successful-login
 * counter went up by exactly one across the login (nothing else logs in meanwhile: callers run
 * sessions one at a time). With `want`, sessions that land elsewhere are closed and retried
 * (kube-proxy picks a pod at random; bounded attempts).
 */
export async function sessionOn(env: Env, name: string, host: string, user: string, want?: string, attempts = 40): Promise<{ session: Session; pod: string }> {
  for (let i = 1; i <= attempts; i++) {
    const ps = pods(env, name).filter((p) => p.ready && !p.deleting);
    const before = await loginsByPod(ps);
    const session = new Session(env, host, user);
    try {
      const g = await session.greeting;
      if (!/^220/.test(String(g.greeting))) throw new Error(`greeting: ${JSON.stringify(g)}`);
      const afterL = await loginsByPod(ps);
      const moved = ps.filter((p) => (afterL.get(p.name) ?? 0) - (before.get(p.name) ?? 0) !== 0);
      if (moved.length !== 1 || (afterL.get(moved[0]!.name) ?? 0) - (before.get(moved[0]!.name) ?? 0) !== 1) {
        throw new Error(`expected exactly one pod with one new login, got ${JSON.stringify(ps.map((p) => [p.name, before.get(p.name), afterL.get(p.name)]))}`);
      }
      const pod = moved[0]!.name;
      if (want === undefined || pod === want) return { session, pod };
      session.close();
    } catch (err) {
      session.close();
      throw err;
    }
  }
  throw new Error(`no session landed on ${want} in ${attempts} attempts`);
}

/** Each pod but `writer` lists `file` in `user`'s home and returns bytes whose checksum is `sha` (shared storage). */
export async function assertReadableThroughOthers(
  env: Env, name: string, host: string, user: string, podNames: string[], writer: string, file: string, sha: unknown,
): Promise<void> {
  for (const p of podNames.filter((n) => n !== writer)) {
    const { session } = await sessionOn(env, name, host, user, p);
    try {
      const list = await session.op({ op: "list" });
      assert.equal(list.ok, true, JSON.stringify(list));
      assert.ok((list.lines as string[]).some((l) => l.endsWith(` ${file}`)), `${p} lists ${file}: ${JSON.stringify(list.lines)}`);
      const get = await session.op({ op: "get", name: file });
      assert.equal(get.ok, true, JSON.stringify(get));
      assert.equal(get.sha, sha, `${p} returns the bytes stored through ${writer}`);
    } finally {
      session.close();
    }
  }
}

export { log };

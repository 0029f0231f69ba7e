// The operator as a real process (node operator/src/main.ts) on a real control plane:
// SIGKILL in the middle of reconciling many FtpServers, restart, converge with no duplicates;
// two replicas with leader election: one leader, failover when it is killed.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return -- plain JSON objects */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources } from "../../operator/src/runtime/types.ts";
import { uniqueName } from "../cluster/harness.ts";
import { FtpServers, condition, eventually, ftpServerObject, signalAndWait, startTestEnv, type TestEnv } from "./operator-helpers.ts";

const ns = uniqueName("ftp-ha");

describe("operator process: crash recovery and leader election", () => {
  let env: TestEnv;
  let client: ApiClient;

  /** An operator process watching `ns`, its identity (POD_NAME) `id`. */
  const run = (id: string, extra: string[] = []) => env.spawnOperator(id, ["--namespace", ns, ...extra]);
  /** Signals the process and waits (15 s) for its exit; one that ignores the signal is SIGKILLed and the wait fails. */
  const kill = signalAndWait;

  before(async () => {
    env = await startTestEnv({ namespace: ns, usersSecrets: ["users"] });
    ({ client } = env);
  });
  after(() => env?.stop());

  const spec = (i: number) => ({
    replicas: 2,
    passive: { basePort: 30000 + i * 10, numberOfPorts: 10 },
    users: { secretName: "users" },
    service: { type: "ClusterIP" },
  });

  test("SIGKILL mid-reconcile, restart → converges, no duplicates", async () => {
    const N = 40;
    await Promise.all(Array.from({ length: N }, (_, i) => client.create(FtpServers, ftpServerObject(`s${i}`, ns, spec(i)))));
    const p1 = run("crash-1", ["--no-leader-elect"]);
    // Kill as soon as the first children appear: most FtpServers are half done (children, no status).
    await eventually("first child written", async () => (await client.list(Resources.Service, { namespace: ns })).items.length > 0, 30_000, 20);
    await kill(p1);
    const half = await client.list<any>(FtpServers, { namespace: ns });
    const readyAtKill = half.items.filter((f) => condition(f, "Ready")?.status === "True").length;
    assert.ok(readyAtKill < N, `killed mid-way (${readyAtKill}/${N} Ready at kill time)`);

    run("crash-2", ["--no-leader-elect"]);
    await eventually(
      "all Ready after restart",
      async () => {
        const l = await client.list<any>(FtpServers, { namespace: ns });
        return l.items.filter((f) => condition(f, "Ready")?.status === "True" && f.status.observedGeneration === f.metadata.generation).length === N;
      },
      90_000,
      500,
    );
    const count = async (type: typeof Resources.Service | typeof Resources.ConfigMap | typeof Resources.StatefulSet | typeof Resources.EndpointSlice) =>
      (await client.list<any>(type, { namespace: ns, labelSelector: "ftp.pasv.dev/server" })).items;
    const svcs = await count(Resources.Service);
    const cms = await count(Resources.ConfigMap);
    const stss = await count(Resources.StatefulSet);
    const slices = await count(Resources.EndpointSlice);
    assert.equal(svcs.length, N);
    assert.equal(cms.length, N);
    assert.equal(stss.length, N);
    assert.equal(slices.length, N * 3, "control + 2 slots each");
    // every child has exactly one controller owner, and names are unique
    for (const o of [...svcs, ...cms, ...stss, ...slices]) assert.equal(o.metadata.ownerReferences.filter((r: any) => r.controller).length, 1);
    assert.equal(new Set(slices.map((s: any) => s.metadata.name)).size, slices.length);
    for (const p of env.runningProcesses()) await kill(p, "SIGTERM");
  });

  test("two replicas: one leader; SIGKILL the leader → the standby takes over and reconciles", async () => {
    const lease = () => client.get<any>(Resources.Lease, "pasv-operator", ns);
    const leaseMs = 3000;
    const retryMs = 500;
    const flags = ["--leader-elect", "--leader-election-namespace", ns, "--lease-duration", String(leaseMs / 1000), "--renew-deadline", "2", "--retry-period", String(retryMs / 1000)];
    const a = run("op-a", flags);
    await eventually("op-a leads", async () => (await lease())?.spec?.holderIdentity === "op-a", 30_000);
    const b = run("op-b", flags);
    // b is a standby: a new FtpServer is reconciled (by a) while the Lease stays with a.
    await client.create(FtpServers, ftpServerObject("ha-1", ns, spec(100)));
    await eventually("ha-1 Ready", async () => condition(await client.get(FtpServers, "ha-1", ns), "Ready")?.status === "True", 30_000);
    assert.equal((await lease())?.spec?.holderIdentity, "op-a");
    assert.equal(b.exitCode, null, "standby keeps running");

    await kill(a); // no graceful release: b must wait for the lease to expire
    const t0 = Date.now();
    await eventually("op-b leads", async () => (await lease())?.spec?.holderIdentity === "op-b", 30_000, 200);
    const failoverMs = Date.now() - t0;
    // docs/operator.md: the standby leads once the lease expires, i.e. within the lease duration of
    // the leader's last renewal (at most one retry period before the kill), and it notices within
    // one more retry period. Allowed: that, plus 2 s for the apiserver round trips and this poll
    // on a loaded machine (measured: 4.1 s with a 3 s lease and a 0.5 s retry period).
    assert.ok(failoverMs >= leaseMs - retryMs - 300, `not before the lease expired (${failoverMs} ms, lease ${leaseMs} ms)`);
    assert.ok(failoverMs <= leaseMs + 2 * retryMs + 2000, `failover within the lease duration + 2 retry periods + 2 s (${failoverMs} ms, lease ${leaseMs} ms)`);
    console.error(`# failover after SIGKILL: ${failoverMs} ms (lease ${leaseMs} ms, retry ${retryMs} ms)`);
    await client.create(FtpServers, ftpServerObject("ha-2", ns, spec(101)));
    await eventually("ha-2 Ready (reconciled by the new leader)", async () => condition(await client.get(FtpServers, "ha-2", ns), "Ready")?.status === "True", 30_000);
    await kill(b, "SIGTERM");
  });
});

// What a cold start costs in reconciles, on a control plane without controllers (etcd +
// kube-apiserver only: no StatefulSet controller, no scheduler, no pods), so every reconcile is the
// operator's own doing: the watch echo of its own writes is no reason to reconcile again, and
// nothing polls before the StatefulSet controller has seen the StatefulSet (its status update is
// a watched event). At 1,000 FtpServers each of these was one reconcile per FtpServer.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { createOperator, type Operator } from "../../operator/src/controller/operator.ts";
import type { ApiClient } from "../../operator/src/runtime/client.ts";
import { startTestCluster, uniqueName, type TestCluster } from "../cluster/harness.ts";
import { FtpServers, condition, ensureNamespace, ensureUsersSecrets, eventually, ftpServerObject, installCrd, newClient } from "./operator-helpers.ts";

const ns = uniqueName("ftp-quiet");
const N = 4;

describe("FtpServer operator: reconciles of a cold start", () => {
  let cluster: TestCluster;
  let client: ApiClient;
  let op: Operator;

  before(async () => {
    cluster = await startTestCluster({ controllerManager: false, scheduler: false });
    client = newClient(cluster.kubeConfig);
    await installCrd(client);
    await ensureNamespace(client, ns);
    await ensureUsersSecrets(client, ns, "users");
    op = createOperator({
      kubeConfig: cluster.kubeConfig, logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }), http: { host: "127.0.0.1", port: 0 },
      leaderElection: false, workloadReadiness: "applied", workers: 4,
    });
    await op.start();
  });
  after(async () => {
    await op?.stop();
    await cluster?.stop();
  });

  const reconciles = async () =>
    (await op.manager.metrics.reconcileTotal.get()).values.filter((v) => v.labels.controller === "ftpserver").reduce((a, v) => a + v.value, 0);

  test(`${N} new FtpServers: one reconcile each (not one more per echo of our writes), none while the StatefulSets are not observed`, async () => {
    const before = await reconciles();
    for (let i = 0; i < N; i++) {
      await client.create(FtpServers, ftpServerObject(`q${i}`, ns, {
        replicas: 3, passive: { basePort: 30000, numberOfPorts: 12 }, users: { secretName: "users" }, service: { type: "ClusterIP" },
      }));
    }
    for (let i = 0; i < N; i++) {
      await eventually(`q${i} Ready`, async () => condition(await client.get(FtpServers, `q${i}`, ns), "Ready")?.status === "True", 30_000, 50);
    }
    await sleep(500); // the echoes of the last writes are in
    const cold = (await reconciles()) - before;
    // Each FtpServer's children are created in its first reconcile; without the echo rule every
    // one of them gets at least one more (the created children's watch events). A response that
    // loses the race against its own watch event may still cost one: allow N / 2 of those.
    assert.ok(cold <= N + N / 2, `${cold} reconciles for ${N} new FtpServers`);
    // The StatefulSets are never observed here (no controller): no look-again timer may fire
    // (it was 5 s after each reconcile).
    await sleep(6_000);
    assert.equal((await reconciles()) - before, cold, "no reconcile while nothing changed");
  });
});

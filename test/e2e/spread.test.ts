// Pod settings on the real node (kube-scheduler, kubelet, kube-proxy):
// - a 3-replica FtpServer without spread settings: every pod carries the default topology spread
//   constraint (kubernetes.io/hostname, maxSkew 1, ScheduleAnyway) and the node really has that
//   label; all 3 pods are scheduled and Ready on the one node (a soft constraint);
// - a pod-template change (an annotation) rolls the pods under load with zero failed sessions
//   (the same load and definition as lifecycle.test.ts's image roll);
// - a nodeSelector no node matches: Ready=False with reason PodUnschedulable and the scheduler's
//   message; removed again → Ready.
// Run under `flock /tmp/pasv-full-node.lock` (one full node per machine).
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { defaultTopologySpread } from "../../operator/src/controller/statefulset.ts";
import { applyFtpServer, cond, ftpServer, getJson, log, pods, runClient, setup, waitFor, waitReady, waitReadyAndServing, type Env, type FtpServerObj } from "./lib.ts";

const NAME = "ftp-spread";

let env: Env;
let lb = "";
before(async () => {
  env = await setup();
  await applyFtpServer(env, ftpServer(NAME, "PortPartitioned", 31000));
  lb = await waitReadyAndServing(env, NAME, 3, 120_000);
});
after(async () => {
  await env?.stop();
});

interface PodObj {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { nodeName?: string; topologySpreadConstraints?: unknown[] };
  status?: { conditions?: { type: string; status: string }[] };
}
const podObjs = (): PodObj[] =>
  (JSON.parse(env.kubectl(["get", "pods", "-n", "default", "-l", `app.kubernetes.io/instance=${NAME}`, "-o", "json"])) as { items: PodObj[] }).items;

describe("pod settings on the node", () => {
  test("no spread settings: the default constraint on every pod, with the node's real hostname label; 3 pods Ready on the one node", () => {
    const ps = podObjs();
    assert.equal(ps.length, 3);
    for (const p of ps) assert.deepEqual(p.spec.topologySpreadConstraints, defaultTopologySpread(NAME), `${p.metadata.name} carries the default spread`);
    const nodes = new Set(ps.map((p) => p.spec.nodeName));
    assert.equal(nodes.size, 1, "one node: all 3 on it");
    const nodeName = [...nodes][0] ?? "";
    const node = getJson<{ metadata: { labels?: Record<string, string> } }>(env, "node", nodeName);
    const hostname = node.metadata.labels?.["kubernetes.io/hostname"];
    assert.ok(hostname, `node ${nodeName} has the kubernetes.io/hostname label the constraint spreads over`);
    log(`3 pods on node ${nodeName} (kubernetes.io/hostname=${hostname}, zone=${node.metadata.labels?.["topology.kubernetes.io/zone"] ?? "(none)"})`);
    for (const p of ps) assert.ok(p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"), `${p.metadata.name} Ready`);
  });

  test("a pod-template change (an annotation) rolls the pods under load: zero failed sessions", async () => {
    const stopFile = join(env.logDir, "stop-load");
    rmSync(stopFile, { force: true });
    const load = runClient(env, { host: lb, user: "alice", sessions: 20000, parallel: 4, pause: 0.1, retries: 8, deadline: 120, tag: "tpl-roll", noWhoami: true, stopFile });
    load.catch(() => undefined); // awaited below
    const before = pods(env, NAME);
    let rollMs = 0;
    try {
      await sleep(2000);
      const t0 = Date.now();
      env.kubectl(["patch", "ftpserver", NAME, "--type", "merge", "-p", JSON.stringify({ spec: { podTemplate: { metadata: { annotations: { "example.com/rev": "2" } } } } })]);
      await waitFor("all 3 pods replaced, annotated and ready", 90_000, () => {
        const ps = podObjs();
        const sts = getJson<{ status?: { readyReplicas?: number; currentRevision?: string; updateRevision?: string } }>(env, "statefulset", NAME);
        return ps.length === 3 && ps.every((p) => p.metadata.annotations?.["example.com/rev"] === "2") &&
          pods(env, NAME).every((p) => p.ready && !p.deleting) &&
          sts.status?.updateRevision === sts.status?.currentRevision && sts.status?.readyReplicas === 3;
      }, 1000);
      rollMs = Date.now() - t0;
      await sleep(2000);
    } finally {
      writeFileSync(stopFile, "");
    }
    const { records, summary } = await load;
    for (const p of pods(env, NAME)) assert.ok(!before.some((b) => b.uid === p.uid), `${p.name} was replaced`);
    const failed = records.filter((r) => !r.ok);
    log(`template roll: ${rollMs} ms for 3 pods; ${summary.sessions} sessions during it, ${summary.failed} failed, ${summary.retried} retried before the greeting`);
    assert.ok(summary.sessions > 20, "the load ran throughout the roll");
    assert.equal(failed.length, 0, `failed sessions during the roll: ${JSON.stringify(failed.slice(0, 5))}`);
  });

  test("a nodeSelector no node matches → Ready=False, PodUnschedulable with the scheduler's message; removed → Ready", async () => {
    env.kubectl(["patch", "ftpserver", NAME, "--type", "merge", "-p", JSON.stringify({ spec: { podTemplate: { spec: { nodeSelector: { "example.com/pool": "nowhere" } } } } })]);
    const fs = await waitFor("Ready=False with PodUnschedulable", 60_000, () => {
      const f = getJson<FtpServerObj>(env, "ftpserver", NAME);
      return cond(f, "Ready")?.reason === "PodUnschedulable" ? f : undefined;
    });
    const ready = cond(fs, "Ready");
    log(`Ready: ${ready?.status} ${ready?.reason}: ${ready?.message}`);
    assert.equal(ready?.status, "False");
    assert.match(ready?.message ?? "", /pod default\/ftp-spread-\d cannot be scheduled: 0\/1 nodes are available: .*node affinity\/selector/);
    assert.equal(cond(fs, "Reconciling")?.reason, "PodUnschedulable");
    // The roll stops at the unschedulable pod (maxUnavailable 1): the other two keep serving.
    assert.ok(pods(env, NAME).filter((p) => p.ready).length >= 2, "two pods still serve");
    env.kubectl(["patch", "ftpserver", NAME, "--type", "merge", "-p", JSON.stringify({ spec: { podTemplate: { spec: { nodeSelector: null } } } })]);
    await waitReady(env, NAME, 3, 90_000);
  });
});

// Compact caches of owned children (runtime/compact.ts) on a real kube-apiserver: what an entry
// keeps, that a no-op apply writes nothing, that out-of-band drift of a field we own is still
// repaired, and that a restarted operator (empty memo) over existing objects writes nothing.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { uniqueName } from "../cluster/harness.ts";
import type { TestCluster } from "../cluster/harness.ts";
import { Applier } from "../../operator/src/runtime/apply.ts";
import { ApiClient } from "../../operator/src/runtime/client.ts";
import { fingerprintOf } from "../../operator/src/runtime/compact.ts";
import { Informer } from "../../operator/src/runtime/informer.ts";
import { Resources } from "../../operator/src/runtime/types.ts";
import type { KubeObject } from "../../operator/src/runtime/types.ts";
import { eventually } from "../support/eventually.ts";
import { startTestEnv, type TestEnv } from "./operator-helpers.ts";

const ns = uniqueName("rt-compact");
const KEEP = [["spec", "clusterIP"], ["spec", "selector"]];

function service(name: string, ports: number): KubeObject {
  return {
    apiVersion: "v1", kind: "Service",
    metadata: { name, namespace: ns, labels: { app: "compact" } },
    spec: {
      type: "ClusterIP",
      ports: Array.from({ length: ports }, (_, i) => ({ name: `p-${30000 + i}`, port: 30000 + i, targetPort: 30000 + i, protocol: "TCP" })),
    },
  };
}

/** An applier with a compact Service cache (a fresh one = an operator after a restart). */
async function operatorParts(cluster: TestCluster) {
  const client = new ApiClient(cluster.kubeConfig);
  const applier = new Applier(client);
  const services = new Informer(client, Resources.Service, { namespace: ns, labelSelector: { app: "compact" }, transform: applier.compactTransform(Resources.Service, { keep: KEEP }) });
  services.start();
  await services.waitForSync();
  return { client, applier, services, stop: async () => { await services.stop(); client.close(); } };
}

describe("compact caches of owned children on a real apiserver", () => {
  let env: TestEnv;
  let cluster: TestCluster;
  let admin: ApiClient;

  before(async () => {
    env = await startTestEnv({ cluster: { controllerManager: false, scheduler: false }, crds: [], namespace: ns });
    ({ cluster, client: admin } = env);
  });
  after(() => env?.stop());

  test("an entry keeps metadata, keep paths and a fingerprint, not the ports; a repeated apply writes nothing", async (t) => {
    const op = await operatorParts(cluster);
    t.after(op.stop);
    const desired = service("keep", 200);
    assert.equal((await op.applier.apply(Resources.Service, desired, op.services.get("keep", ns))).changed, true);
    const cached = await eventually("the cache has the Service", () => op.services.get("keep", ns), 10_000, 20);
    const spec = cached.spec as { clusterIP?: string; ports?: unknown[] };
    assert.ok(spec.clusterIP, "the cluster IP is kept (the reconciler reads it)");
    assert.equal(spec.ports, undefined, "the port list is not cached");
    assert.equal(cached.metadata?.managedFields, undefined);
    assert.equal(cached.metadata?.labels?.app, "compact");
    assert.ok(cached.metadata?.uid && cached.metadata.resourceVersion);
    const fp = fingerprintOf(cached);
    assert.ok(fp?.hash);
    const writes = op.client.writes.count();
    for (let i = 0; i < 3; i++) assert.equal((await op.applier.apply(Resources.Service, service("keep", 200), op.services.get("keep", ns))).changed, false);
    assert.equal(op.client.writes.count(), writes, "no-op applies write nothing");
    // (the watch event may be transformed before the apply's answer is remembered; a check drops it at the latest)
    assert.equal(fingerprintOf(op.services.get("keep", ns))?.view, undefined, "our own write's fingerprint is known: no view string kept");
    // a changed desired body is applied
    assert.equal((await op.applier.apply(Resources.Service, service("keep", 201), op.services.get("keep", ns))).changed, true);
  });

  test("out-of-band drift of a field we own (another manager edits a port) is repaired", async (t) => {
    const op = await operatorParts(cluster);
    t.after(op.stop);
    const desired = service("drift", 50);
    await op.applier.apply(Resources.Service, desired, undefined);
    const first = await eventually("cached", () => op.services.get("drift", ns), 10_000, 20);
    const hash0 = fingerprintOf(first)!.hash;
    // like `kubectl edit`: an Update by another manager takes the field over and changes it
    const live = (await admin.get<KubeObject>(Resources.Service, "drift", ns))!;
    const ports = (live.spec as { ports: { port: number; targetPort: number }[] }).ports;
    ports[7]!.targetPort = 9999;
    await admin.request("PUT", `/api/v1/namespaces/${ns}/services/drift`, { body: live, query: { fieldManager: "kubectl-edit" } });
    const drifted = await eventually("the cache saw the edit", () => {
      const o = op.services.get("drift", ns);
      return o && fingerprintOf(o)!.hash !== hash0 ? o : undefined;
    }, 10_000, 20);
    assert.ok(fingerprintOf(drifted)!.view, "an unknown fingerprint keeps its view for the full rule");
    const res = await op.applier.apply(Resources.Service, service("drift", 50), drifted);
    assert.equal(res.changed, true, "the drift is applied over");
    const repaired = (await admin.get<KubeObject>(Resources.Service, "drift", ns))!;
    assert.equal((repaired.spec as { ports: { targetPort: number }[] }).ports[7]!.targetPort, 30007);
    // and then it is quiet again
    const again = await eventually("the cache saw the repair", () => {
      const o = op.services.get("drift", ns);
      return o && o.metadata?.resourceVersion === repaired.metadata?.resourceVersion ? o : undefined;
    }, 10_000, 20);
    assert.equal((await op.applier.apply(Resources.Service, service("drift", 50), again)).changed, false);
  });

  test("a restarted operator (empty memo) over existing objects writes nothing, and repairs what changed while it was down", async (t) => {
    const first = await operatorParts(cluster);
    await first.applier.apply(Resources.Service, service("restart-same", 100), undefined);
    await first.applier.apply(Resources.Service, service("restart-changed", 100), undefined);
    await first.stop();
    // while no operator runs, someone removes a port we own (a JSON patch: an Update by another manager)
    await admin.request("PATCH", `/api/v1/namespaces/${ns}/services/restart-changed`, {
      body: [{ op: "remove", path: "/spec/ports/3" }], contentType: "application/json-patch+json", query: { fieldManager: "kubectl-patch" },
    });
    const op = await operatorParts(cluster);
    t.after(op.stop);
    const same = op.services.get("restart-same", ns)!;
    assert.ok(fingerprintOf(same)?.view, "after a restart the memo is empty: the entry keeps its view");
    const writes = op.client.writes.count();
    assert.equal((await op.applier.apply(Resources.Service, service("restart-same", 100), same)).changed, false);
    assert.equal(op.client.writes.count(), writes, "restart over a converged object: 0 writes");
    assert.equal(fingerprintOf(same)?.view, undefined, "verified: the view string is dropped");
    assert.equal((await op.applier.apply(Resources.Service, service("restart-same", 100), op.services.get("restart-same", ns))).changed, false);
    const changed = op.services.get("restart-changed", ns)!;
    assert.equal((await op.applier.apply(Resources.Service, service("restart-changed", 100), changed)).changed, true, "the removed port is put back");
    const svc = (await admin.get<KubeObject>(Resources.Service, "restart-changed", ns))!;
    assert.equal((svc.spec as { ports: unknown[] }).ports.length, 100);
  });
});

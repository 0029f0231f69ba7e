// Server-side apply, status on the status subresource, no-op detection (zero writes), Events, and a
// Manager running a small controller end to end — on a real kube-apiserver.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { uniqueName } from "../cluster/harness.ts";
import type { TestCluster } from "../cluster/harness.ts";
import { Applier, ownerReference } from "../../operator/src/runtime/apply.ts";
import { ApiClient, FIELD_MANAGER } from "../../operator/src/runtime/client.ts";
import { enqueueOwner, enqueueSelf } from "../../operator/src/runtime/controller.ts";
import { EventRecorder } from "../../operator/src/runtime/events.ts";
import { Informer } from "../../operator/src/runtime/informer.ts";
import { Manager } from "../../operator/src/runtime/manager.ts";
import { needsApply } from "../../operator/src/runtime/ssa.ts";
import { Resources } from "../../operator/src/runtime/types.ts";
import type { KubeObject, ResourceType } from "../../operator/src/runtime/types.ts";
import { eventually as pollUntil } from "../support/eventually.ts";
import { startTestEnv, type TestEnv } from "./operator-helpers.ts";

const eventually = <T,>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> =>
  pollUntil(what, fn, timeoutMs, 50);

const Widgets: ResourceType = { apiVersion: "rt.pasv.dev/v1", kind: "Widget", plural: "widgets", namespaced: true };
const ns = uniqueName("rt-apply");

const widgetCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.rt.pasv.dev" },
  spec: {
    group: "rt.pasv.dev",
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget" },
    versions: [{
      name: "v1", served: true, storage: true,
      subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: "object",
          properties: {
            spec: { type: "object", properties: { size: { type: "integer" }, color: { type: "string" } } },
            status: {
              type: "object",
              properties: {
                observedGeneration: { type: "integer" },
                phase: { type: "string" },
                conditions: {
                  type: "array",
                  "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["type"],
                  items: {
                    type: "object", required: ["type", "status"],
                    properties: { type: { type: "string" }, status: { type: "string" }, reason: { type: "string" } },
                  },
                },
              },
            },
          },
        },
      },
    }],
  },
};

function widget(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: Widgets.apiVersion, kind: "Widget", metadata: { name, namespace: ns }, spec };
}

const quiet = pino({ level: process.env.LOG_LEVEL ?? "silent" });

describe("runtime apply, status, events and manager on a real apiserver", () => {
  let env: TestEnv;
  let cluster: TestCluster;
  let admin: ApiClient;

  before(async () => {
    // The CRD is cluster-wide and the same every run: on an existing cluster the last run's may be there (kept).
    env = await startTestEnv({
      cluster: { controllerManager: false, scheduler: false },
      crds: [{ crd: widgetCrd, served: Widgets }],
      crdWait: { timeoutMs: 20_000, everyMs: 50 },
      namespace: ns,
    });
    ({ cluster, client: admin } = env);
  });
  after(() => env?.stop());

  test("SSA apply + status apply on a CRD; no-op applies are skipped and write nothing", async (t) => {
    const client = new ApiClient(cluster.kubeConfig);
    const applier = new Applier(client);
    const inf = new Informer(client, Widgets, { namespace: ns });
    t.after(() => inf.stop());
    inf.start();
    await inf.waitForSync();

    // create by apply
    const desired = widget("w1", { size: 3, color: "blue" });
    const r1 = await applier.apply(Widgets, desired, inf.get("w1", ns));
    assert.equal(r1.changed, true);
    assert.equal(client.writes.count(), 1);
    const w = await eventually("w1 cached", () => inf.get("w1", ns));
    const entry = w.metadata?.managedFields?.find((e) => e.manager === FIELD_MANAGER);
    assert.equal(entry?.operation, "Apply", "owned by our field manager through Apply");

    // status on the subresource
    const st = { ...desired, status: { observedGeneration: 1, phase: "Ready", conditions: [{ type: "Ready", status: "True", reason: "Fine" }] } };
    const r2 = await applier.applyStatus(Widgets, st, inf.get("w1", ns));
    assert.equal(r2.changed, true);
    assert.equal((r2.object?.status as { phase: string }).phase, "Ready");
    assert.equal(client.writes.records.at(-1)?.subresource, "status");
    await eventually("status cached", () => (inf.get("w1", ns)?.status as { phase?: string } | undefined)?.phase === "Ready");
    const cached = inf.get("w1", ns)!;
    assert.ok(cached.metadata?.managedFields?.some((e) => e.manager === FIELD_MANAGER && e.subresource === "status"));
    assert.deepEqual(cached.spec, { size: 3, color: "blue" }, "status apply did not touch spec");

    // a no-op resync: both applies skipped, zero writes
    const before = client.writes.count();
    assert.equal((await applier.apply(Widgets, desired, cached)).changed, false);
    assert.equal((await applier.applyStatus(Widgets, st, cached)).changed, false);
    assert.equal(client.writes.count(), before, "a no-op resync performs zero writes");
    assert.deepEqual(applier.stats, { applied: 2, skipped: 2 });

    // proof that the skip is right: a real apply of the same content leaves the object unchanged
    const same = await client.apply<KubeObject>(Widgets, desired);
    assert.equal(same.metadata?.resourceVersion, cached.metadata?.resourceVersion, "server agrees: nothing to change");

    // a change → applied; a dropped field → applied (and removed on the server)
    const rv0 = cached.metadata?.resourceVersion;
    assert.equal((await applier.apply(Widgets, widget("w1", { size: 4, color: "blue" }), cached)).changed, true);
    await eventually("size 4 cached", () => (inf.get("w1", ns)?.spec as { size?: number }).size === 4);
    const dropped = await applier.apply(Widgets, widget("w1", { size: 4 }), inf.get("w1", ns));
    assert.equal(dropped.changed, true);
    assert.equal((dropped.object?.spec as { color?: string }).color, undefined, "color removed by the apply");
    await eventually("color gone from cache", () => (inf.get("w1", ns)?.spec as { color?: string }).color === undefined);
    assert.ok(!needsApply(widget("w1", { size: 4 }), inf.get("w1", ns), FIELD_MANAGER));
    assert.notEqual(inf.get("w1", ns)?.metadata?.resourceVersion, rv0);

    // status: changed value → applied; dropped condition → applied
    const st2 = { ...desired, status: { observedGeneration: 2, phase: "Ready" } };
    const r3 = await applier.applyStatus(Widgets, st2, inf.get("w1", ns));
    assert.equal(r3.changed, true);
    assert.equal((r3.object?.status as { conditions?: unknown[] }).conditions, undefined, "conditions we stopped setting are removed");
    await eventually("status cached", () => (inf.get("w1", ns)?.status as { observedGeneration?: number }).observedGeneration === 2);
    assert.equal((await applier.applyStatus(Widgets, st2, inf.get("w1", ns))).changed, false);
  });

  test("no-op detection on built-in kinds with server defaults (Service, ConfigMap)", async () => {
    const client = new ApiClient(cluster.kubeConfig);
    const applier = new Applier(client);
    const svc: KubeObject = {
      apiVersion: "v1", kind: "Service",
      metadata: { name: "ftp", namespace: ns, labels: { "app.kubernetes.io/managed-by": "pasv-operator" } },
      spec: {
        type: "ClusterIP",
        selector: { app: "ftp" },
        ports: [
          { name: "ftp", port: 21, targetPort: 21, protocol: "TCP" },
          { name: "pasv-30000", port: 30000, targetPort: 30000, protocol: "TCP" },
        ],
      },
    };
    const created = await applier.apply(Resources.Service, svc, undefined);
    // the server added clusterIP, sessionAffinity, ipFamilies, … — not ours, not compared
    assert.ok((created.object?.spec as { clusterIP?: string }).clusterIP);
    const observed = await client.get(Resources.Service, "ftp", ns);
    const before = client.writes.count();
    assert.equal((await applier.apply(Resources.Service, svc, observed)).changed, false);
    assert.equal(client.writes.count(), before);
    // removing a port must apply
    const fewer = { ...svc, spec: { ...(svc.spec as object), ports: [{ name: "ftp", port: 21, targetPort: 21, protocol: "TCP" }] } };
    assert.equal(needsApply(fewer, observed, FIELD_MANAGER), true);
    const cmObj: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cfg", namespace: ns }, data: { "a.json": "{}" } };
    await applier.apply(Resources.ConfigMap, cmObj, undefined);
    assert.equal(needsApply(cmObj, await client.get(Resources.ConfigMap, "cfg", ns), FIELD_MANAGER), false);
  });

  test("Events: recorded with reason/message/type, repeats bump count instead of new objects", async () => {
    const client = new ApiClient(cluster.kubeConfig);
    const w = await client.apply<KubeObject>(Widgets, widget("ev", { size: 1 }));
    const rec = new EventRecorder(client, { repeatIntervalMs: 0, instance: "test" });
    await rec.record(w, "Warning", "PassiveRangeTooSmall", "100 ports for 40 connections: need 200");
    await rec.record(w, "Warning", "PassiveRangeTooSmall", "100 ports for 40 connections: need 200");
    await rec.record(w, "Normal", "Applied", "children applied");
    const list = await client.list<KubeObject & { reason: string; type: string; count: number; message: string; involvedObject: { uid: string; kind: string } }>(
      Resources.Event, { namespace: ns, fieldSelector: `involvedObject.uid=${w.metadata?.uid}` });
    const warn = list.items.filter((e) => e.reason === "PassiveRangeTooSmall");
    assert.equal(warn.length, 1, "one Event object for the repeated warning");
    assert.equal(warn[0]!.count, 2);
    assert.equal(warn[0]!.type, "Warning");
    assert.equal(warn[0]!.message, "100 ports for 40 connections: need 200");
    assert.equal(warn[0]!.involvedObject.kind, "Widget");
    assert.equal(list.items.filter((e) => e.reason === "Applied").length, 1);
    assert.deepEqual(rec.stats, { created: 2, updated: 1, suppressed: 0, failed: 0 });
    // with a repeat interval, a hot loop writes nothing more
    const rec2 = new EventRecorder(client, { repeatIntervalMs: 60_000 });
    await rec2.record(w, "Normal", "Hot", "x");
    const n = client.writes.count({ resource: "events" });
    for (let i = 0; i < 5; i++) await rec2.record(w, "Normal", "Hot", "x");
    assert.equal(client.writes.count({ resource: "events" }), n);
    assert.equal(rec2.stats.suppressed, 5);
  });

  test("Manager: controller reconciles, owns children, resync writes nothing; /healthz /readyz /metrics", async (t) => {
    const mgr = new Manager({ kubeConfig: cluster.kubeConfig, logger: quiet, http: { host: "127.0.0.1", port: 0 } });
    t.after(() => mgr.stop());
    const widgets = mgr.informer(Widgets, { namespace: ns });
    const cms = mgr.informer(Resources.ConfigMap, { namespace: ns, labelSelector: "rt.pasv.dev/widget" });
    let reconciles = 0;
    const ctrl = mgr.controller({
      name: "widget",
      workers: 2,
      reconcile: async ({ namespace, name }) => {
        reconciles++;
        const w = widgets.get(name, namespace);
        if (!w) return;
        const desired: KubeObject = {
          apiVersion: "v1", kind: "ConfigMap",
          metadata: { name: `${name}-cfg`, namespace, labels: { "rt.pasv.dev/widget": name }, ownerReferences: [ownerReference(w)] },
          data: { size: String((w.spec as { size: number }).size) },
        };
        await mgr.applier.apply(Resources.ConfigMap, desired, cms.get(`${name}-cfg`, namespace));
        await mgr.applier.applyStatus(Widgets, { ...w, status: { observedGeneration: w.metadata?.generation, phase: "Ready" } }, w);
      },
    });
    ctrl.watch(widgets, enqueueSelf);
    ctrl.watch(cms, enqueueOwner({ kind: "Widget", apiVersion: Widgets.apiVersion }));
    const base = () => `http://127.0.0.1:${mgr.port}`;
    await mgr.start();
    assert.equal((await fetch(`${base()}/healthz`)).status, 200);
    assert.equal((await fetch(`${base()}/readyz`)).status, 200);
    await mgr.waitForLeadership();

    await admin.apply(Widgets, widget("m1", { size: 7 }));
    const child = await eventually("child ConfigMap", () => cms.get("m1-cfg", ns));
    assert.equal((child.data as { size: string }).size, "7");
    assert.equal(child.metadata?.ownerReferences?.[0]?.kind, "Widget");
    await eventually("status Ready", () => (widgets.get("m1", ns)?.status as { phase?: string } | undefined)?.phase === "Ready");

    // someone edits the child: the owner is reconciled and the child restored
    await admin.mergePatch(Resources.ConfigMap, "m1-cfg", ns, { data: { size: "999" } });
    await eventually("child restored", () => (cms.get("m1-cfg", ns)?.data as { size?: string }).size === "7");

    // quiet down, then a full resync of everything: reconciles happen, writes don't
    await sleep(500);
    const writes0 = mgr.client.writes.count({ exclude: ["events", "leases"] });
    const reconciles0 = reconciles;
    await ctrl.stop();
    ctrl.start(); // start enqueues every watched object
    await eventually("resync reconciled", () => reconciles > reconciles0 && ctrl.queue.length === 0 && ctrl.queue.inFlight === 0);
    await sleep(300);
    assert.equal(mgr.client.writes.count({ exclude: ["events", "leases"] }), writes0, "a no-op resync performs zero writes");

    const metrics = await (await fetch(`${base()}/metrics`)).text();
    assert.match(metrics, /controller_runtime_reconcile_total\{controller="widget",result="success"\} \d+/);
    assert.match(metrics, /controller_runtime_reconcile_time_seconds_bucket\{le="0.005",controller="widget"\}/);
    assert.match(metrics, /workqueue_adds_total\{name="widget"\} \d+/);
    assert.match(metrics, /workqueue_queue_duration_seconds_count\{name="widget"\} \d+/);
    assert.match(metrics, /rest_client_requests_total\{method="PATCH",code="200"\} \d+/);
    assert.match(metrics, /pasv_operator_api_writes_total\{verb="apply",resource="configmaps"\} \d+/);
    assert.match(metrics, /process_resident_memory_bytes/);

    await mgr.stop();
    assert.equal(ctrl.isRunning, false);
  });
});

// The FtpServer operator on a real control plane (etcd + kube-apiserver + kube-controller-manager,
// no kubelet): children and their shape, config following rule and address changes without
// touching the pod template, pod IPs → EndpointSlices, admission rejecting invalid objects,
// zero writes on a no-op resync, garbage collection on delete.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return -- plain JSON objects */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parse } from "yaml";
import { serverConfigSchema } from "../../server-image/src/config/schema.ts";
import type { Operator } from "../../operator/src/controller/operator.ts";
import { ENDPOINTSLICE_MANAGED_BY } from "../../operator/src/controller/model.ts";
import { canonicalQuantity } from "../../operator/src/controller/quantity.ts";
import type { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources, type ResourceType } from "../../operator/src/runtime/types.ts";
import { uniqueName } from "../cluster/harness.ts";
import { INVALID, validBase } from "../unit/operator/fixtures.ts";
import { FtpServers, condition, eventually, ftpServerObject, startTestEnv, type TestEnv } from "./operator-helpers.ts";

const ns = uniqueName("ftp-it");

async function reconcileCount(op: Operator): Promise<number> {
  const m = await op.manager.metrics.reconcileTotal.get();
  return m.values.reduce((a, v) => a + v.value, 0);
}

/** Wait until the queue is empty and no reconcile happened for `quietMs`. */
// Idle: nothing queued, and neither a reconcile nor a write (other than leases and events) across
// quietMs. Writes count too: the StatefulSet controller's late status update (status.replicas)
// makes one legitimate status write after Ready, which must not land inside a no-op measurement.
async function waitIdle(op: Operator, quietMs = 1_000): Promise<void> {
  let last = "";
  await eventually(
    "operator idle",
    async () => {
      const now = `${await reconcileCount(op)}/${op.manager.client.writes.count({ exclude: ["leases", "events"] })}`;
      const idle = now === last && op.controller.queue.length === 0;
      last = now;
      return idle;
    },
    60_000,
    quietMs,
  );
}

describe("FtpServer operator", () => {
  let env: TestEnv;
  let client: ApiClient;
  let op: Operator;

  before(async () => {
    env = await startTestEnv({ namespace: ns, usersSecrets: ["u", "users", "files-users"], operator: { workers: 4 } });
    ({ client, operator: op } = env);
  });
  after(() => env?.stop());

  const get = (type: ResourceType, name: string) => client.get<any>(type, name, ns);
  const getFs = (name: string) => client.get<any>(FtpServers, name, ns);
  const configOf = async (name: string) => {
    const cm = await get(Resources.ConfigMap, `${name}-config`);
    return cm ? serverConfigSchema.parse(parse(cm.data["config.yaml"])) : undefined;
  };

  test("create → Service, EndpointSlices, ConfigMap, StatefulSet with the right shape and owner references", async () => {
    const fs = await client.create<any>(
      FtpServers,
      ftpServerObject("files", ns, {
        replicas: 2,
        passive: {
          basePort: 30000,
          numberOfPorts: 10,
          expectedConcurrentConnections: 2,
          addressRules: [
            { userClass: "partner*", address: "auto" },
            { userClass: "internal", address: "192.0.2.10" },
          ],
        },
        userClasses: [{ name: "partners", match: { groups: ["partners"] } }],
        users: { secretName: "files-users" },
      }),
    );
    const uid = fs.metadata.uid;
    const svc = await eventually("Service", () => get(Resources.Service, "files"));
    assert.equal(svc.spec.type, "LoadBalancer");
    assert.equal(svc.spec.selector, undefined, "PortPartitioned Service has no selector");
    assert.equal(svc.spec.ports.length, 11);
    assert.deepEqual(
      svc.spec.ports.map((p: any) => p.name),
      ["ftp", ...Array.from({ length: 10 }, (_, i) => `pasv-${30000 + i}`)],
    );
    const sts = await eventually("StatefulSet", () => get(Resources.StatefulSet, "files"));
    const env = sts.spec.template.spec.containers[0].env.find((v: any) => v.name === "PASV_SLOT");
    assert.equal(env.valueFrom.fieldRef.fieldPath, "metadata.labels['apps.kubernetes.io/pod-index']");
    const cfg = await eventually("ConfigMap", () => configOf("files"));
    assert.deepEqual(cfg.passive.slices, [
      { slot: 0, portStart: 30000, portEnd: 30004 },
      { slot: 1, portStart: 30005, portEnd: 30009 },
    ]);
    const slices = await eventually("3 EndpointSlices", async () => {
      const l = await client.list<any>(Resources.EndpointSlice, { namespace: ns, labelSelector: { "kubernetes.io/service-name": "files" } });
      return l.items.length === 3 ? l.items : undefined;
    });
    for (const s of slices) assert.equal(s.metadata.labels["endpointslice.kubernetes.io/managed-by"], ENDPOINTSLICE_MANAGED_BY);
    for (const obj of [svc, sts, ...slices, await get(Resources.ConfigMap, "files-config")]) {
      assert.equal(obj.metadata.ownerReferences?.[0]?.uid, uid, `${obj.kind} ${obj.metadata.name} owned by the FtpServer`);
      assert.equal(obj.metadata.ownerReferences?.[0]?.controller, true);
    }
    // No load-balancer controller here: the address is pending, so not Ready, and it says why.
    const st = await eventually("status", async () => {
      const f = await getFs("files");
      return condition(f, "AddressResolved") ? f : undefined;
    });
    assert.equal(st.status.observedGeneration, st.metadata.generation);
    assert.deepEqual(
      { b: st.status.passive.basePort, n: st.status.passive.numberOfPorts, e: st.status.passive.portEnd },
      { b: 30000, n: 10, e: 30009 },
    );
    assert.equal(condition(st, "AddressResolved")?.reason, "WaitingForLoadBalancer");
    assert.equal(condition(st, "Ready")?.status, "False");
    assert.equal(condition(st, "Reconciling")?.status, "True");
    assert.equal(condition(st, "RoutingSound")?.status, "True");
    assert.equal(condition(st, "PassiveRangeSized")?.status, "True");
    // every False condition comes with a Warning Event
    await eventually("Warning Event for AddressResolved", async () => {
      const evs = await client.list<any>(Resources.Event, { namespace: ns, fieldSelector: `involvedObject.uid=${uid}` });
      return evs.items.some((e: any) => e.type === "Warning" && e.reason === "WaitingForLoadBalancer");
    });
  });

  test("the Service's load-balancer status (as a cloud provider writes it) → status.passive.externalAddress, config, Ready", async () => {
    await client.mergePatch(Resources.Service, "files", ns, { status: { loadBalancer: { ingress: [{ ip: "203.0.113.7" }] } } }, "status");
    const f = await eventually("Ready", async () => {
      const x = await getFs("files");
      return condition(x, "Ready")?.status === "True" ? x : undefined;
    });
    assert.equal(f.status.passive.externalAddress, "203.0.113.7");
    assert.equal(condition(f, "AddressResolved")?.reason, "LoadBalancerIP");
    assert.equal((await configOf("files"))?.passive.externalAddress, "203.0.113.7");
    // a new address (LB replaced) follows too
    await client.mergePatch(Resources.Service, "files", ns, { status: { loadBalancer: { ingress: [{ ip: "198.51.100.7" }] } } }, "status");
    await eventually("config follows the new address", async () => (await configOf("files"))?.passive.externalAddress === "198.51.100.7");
    await eventually("status follows", async () => (await getFs("files"))?.status.passive.externalAddress === "198.51.100.7");
  });

  test("pod IPs and readiness → the slot's EndpointSlice (simulating the kubelet)", async () => {
    // The StatefulSet controller creates the pods; no kubelet runs, so write what it would.
    for (const i of [0, 1]) {
      const pod = await eventually(`pod files-${i}`, () => client.get<any>(Resources.Pod, `files-${i}`, ns));
      await client.mergePatch(Resources.Pod, pod.metadata.name, ns, {
        status: {
          phase: "Running",
          podIP: `10.244.0.${10 + i}`,
          podIPs: [{ ip: `10.244.0.${10 + i}` }],
          conditions: [{ type: "Ready", status: i === 0 ? "True" : "False", lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") }],
        },
      }, "status");
    }
    const s0 = await eventually("slot 0 slice has pod 0", async () => {
      const s = await get(Resources.EndpointSlice, "files-pasv-0-0");
      return s?.endpoints?.length === 1 ? s : undefined;
    });
    assert.deepEqual(s0.endpoints[0].addresses, ["10.244.0.10"]);
    assert.equal(s0.endpoints[0].conditions.ready, true);
    assert.equal(s0.endpoints[0].targetRef.name, "files-0");
    assert.deepEqual(s0.ports.map((p: any) => p.port).sort(), [30000, 30001, 30002, 30003, 30004]);
    const s1 = await eventually("slot 1 slice has pod 1 (not ready)", async () => {
      const s = await get(Resources.EndpointSlice, "files-pasv-1-0");
      return s?.endpoints?.length === 1 ? s : undefined;
    });
    assert.deepEqual(s1.endpoints[0].addresses, ["10.244.0.11"]);
    // Not Ready: its passive block is routed anyway (only its own sessions use it, and it must reach
    // kube-proxy before the first session does), but the control port sends it no session.
    assert.equal(s1.endpoints[0].conditions.ready, true);
    const control = await eventually("control slice has both pods", async () => {
      const s = await get(Resources.EndpointSlice, "files-control");
      return s?.endpoints?.length === 2 ? s : undefined;
    });
    assert.deepEqual(control.ports.map((p: any) => p.name), ["ftp"]);
    assert.deepEqual(control.endpoints.map((e: any) => [e.targetRef.name, e.conditions.ready]).sort(), [["files-0", true], ["files-1", false]]);
  });

  test("edit, disable, delete a rule → the ConfigMap follows; StatefulSet template and pods untouched", async () => {
    const sts0 = await get(Resources.StatefulSet, "files");
    const pods0 = (await client.list<any>(Resources.Pod, { namespace: ns })).items.map((p: any) => p.metadata.uid).sort();
    const rulesOf = async () => (await configOf("files"))?.passive.addressRules.map((r) => `${r.userClass}=${r.address}:${r.enabled}`).join(",");
    const patchRules = (rules: unknown[]) =>
      client.mergePatch(FtpServers, "files", ns, { spec: { passive: { addressRules: rules } } });

    await patchRules([{ userClass: "partner*", address: "auto" }, { userClass: "internal", address: "192.0.2.20" }]);
    await eventually("edited", async () => (await rulesOf()) === "partner*=auto:true,internal=192.0.2.20:true");
    await patchRules([{ userClass: "partner*", address: "auto", enabled: false }, { userClass: "internal", address: "192.0.2.20" }]);
    await eventually("disabled", async () => (await rulesOf()) === "partner*=auto:false,internal=192.0.2.20:true");
    await patchRules([{ userClass: "internal", address: "192.0.2.20" }]);
    await eventually("deleted", async () => (await rulesOf()) === "internal=192.0.2.20:true");

    await eventually("status caught up", async () => {
      const f = await getFs("files");
      return f.status.observedGeneration === f.metadata.generation && condition(f, "Ready")?.status === "True";
    });
    const sts1 = await get(Resources.StatefulSet, "files");
    assert.equal(sts1.metadata.generation, sts0.metadata.generation, "StatefulSet generation unchanged");
    assert.deepEqual(sts1.spec.template, sts0.spec.template, "pod template unchanged");
    const pods1 = (await client.list<any>(Resources.Pod, { namespace: ns })).items.map((p: any) => p.metadata.uid).sort();
    assert.deepEqual(pods1, pods0, "no pod recreated");
  });

  test("a no-op resync performs zero writes (operator restart and a full resync)", async () => {
    await waitIdle(op);
    // A full resync in the running operator: restart its controller (enqueues every object).
    const before = op.manager.client.writes.count({ exclude: ["leases", "events"] });
    const r0 = await reconcileCount(op);
    await op.controller.stop();
    op.controller.start();
    await eventually("resync reconciled", async () => (await reconcileCount(op)) > r0);
    await waitIdle(op);
    assert.equal(op.manager.client.writes.count({ exclude: ["leases", "events"] }) - before, 0, "writes during resync");
    // A fresh operator process state (cold caches) against the converged cluster: also zero writes.
    await op.stop();
    op = await env.startOperator();
    await eventually("cold-start reconciled", async () => (await reconcileCount(op)) > 0);
    await waitIdle(op);
    assert.deepEqual(op.manager.client.writes.records.filter((r) => r.resource !== "leases"), [], "writes after a cold start");
  });

  test("children edited out of band (Service port, ConfigMap, EndpointSlice, StatefulSet) are put back, then quiet", async () => {
    // The caches keep compact entries (fingerprints, runtime/compact.ts), not the children's
    // fields: an edit by another manager must still be seen and repaired.
    await client.create(FtpServers, ftpServerObject("drift", ns, {
      replicas: 2, passive: { basePort: 32000, numberOfPorts: 20 }, users: { secretName: "users" }, service: { type: "ClusterIP" },
    }));
    await eventually("Ready", async () => condition(await getFs("drift"), "Ready")?.status === "True");
    await waitIdle(op);
    const want = {
      svc: await get(Resources.Service, "drift"),
      cm: await get(Resources.ConfigMap, "drift-config"),
      sts: await get(Resources.StatefulSet, "drift"),
    };
    const slice = (await client.list<any>(Resources.EndpointSlice, { namespace: ns, labelSelector: { "kubernetes.io/service-name": "drift" } })).items
      .find((s: any) => s.metadata.labels["endpointslice.kubernetes.io/managed-by"] === ENDPOINTSLICE_MANAGED_BY);
    assert.ok(slice, "an operator slice");
    const edit = (type: ResourceType, name: string, patch: unknown) =>
      client.request("PATCH", `${type.apiVersion.includes("/") ? `/apis/${type.apiVersion}` : "/api/v1"}/namespaces/${ns}/${type.plural}/${name}`, {
        body: patch, contentType: "application/merge-patch+json", query: { fieldManager: "kubectl-edit" },
      });
    const ports = want.svc.spec.ports.map((p: any, i: number) => (i === 3 ? { ...p, targetPort: 9999 } : p));
    await edit(Resources.Service, "drift", { spec: { ports } });
    await edit(Resources.ConfigMap, "drift-config", { data: { [Object.keys(want.cm.data)[0]!]: "edited" } });
    await edit(Resources.StatefulSet, "drift", { spec: { replicas: 5 } });
    await edit(Resources.EndpointSlice, slice.metadata.name, { ports: slice.ports.slice(1) });
    await eventually("Service port repaired", async () => (await get(Resources.Service, "drift")).spec.ports[3].targetPort === want.svc.spec.ports[3].targetPort);
    await eventually("ConfigMap repaired", async () => JSON.stringify((await get(Resources.ConfigMap, "drift-config")).data) === JSON.stringify(want.cm.data));
    await eventually("StatefulSet replicas repaired", async () => (await get(Resources.StatefulSet, "drift")).spec.replicas === 2);
    await eventually("EndpointSlice ports repaired", async () => (await get(Resources.EndpointSlice, slice.metadata.name)).ports?.length === slice.ports.length);
    await waitIdle(op);
    const before = op.manager.client.writes.count({ exclude: ["leases", "events"] });
    await sleep(1500);
    await waitIdle(op);
    assert.equal(op.manager.client.writes.count({ exclude: ["leases", "events"] }) - before, 0, "no writes once repaired (no fight)");
    await client.delete(FtpServers, "drift", ns);
  });

  test("a pod event that changes no pod IP builds no children; an out-of-band edit after it is still repaired", async () => {
    await client.create(FtpServers, ftpServerObject("shortcut", ns, {
      replicas: 2, passive: { basePort: 32100, numberOfPorts: 20 }, users: { secretName: "users" }, service: { type: "ClusterIP" },
    }));
    await eventually("Ready", async () => condition(await getFs("shortcut"), "Ready")?.status === "True");
    const pod = await eventually("pod shortcut-0", () => client.get<any>(Resources.Pod, "shortcut-0", ns));
    await waitIdle(op);
    const writes0 = op.manager.client.writes.count({ exclude: ["leases", "events"] });
    const shortcuts0 = op.stats.childrenShortcuts;
    const r0 = await reconcileCount(op);
    // What a scheduler or kubelet writes before the pod has an IP: a reconcile, nothing for the slices.
    await client.mergePatch(Resources.Pod, pod.metadata.name, ns, {
      status: { conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") }] },
    }, "status");
    await eventually("the pod event reconciled", async () => (await reconcileCount(op)) > r0);
    await waitIdle(op);
    assert.ok(op.stats.childrenShortcuts > shortcuts0, "the reconcile took the shortcut (nothing built)");
    assert.equal(op.manager.client.writes.count({ exclude: ["leases", "events"] }) - writes0, 0, "and wrote nothing");
    // The shortcut holds only while every child is the version last decided on: drift is repaired.
    const cm = await get(Resources.ConfigMap, "shortcut-config");
    const key = Object.keys(cm.data)[0]!;
    await client.request("PATCH", `/api/v1/namespaces/${ns}/configmaps/shortcut-config`, {
      body: { data: { [key]: "edited" } }, contentType: "application/merge-patch+json", query: { fieldManager: "kubectl-edit" },
    });
    await eventually("ConfigMap repaired", async () => (await get(Resources.ConfigMap, "shortcut-config")).data[key] === cm.data[key]);
    // A pod IP is an input of the slices: no shortcut, the slot's slice gets the pod.
    await client.mergePatch(Resources.Pod, pod.metadata.name, ns, { status: { podIP: "10.244.1.10", podIPs: [{ ip: "10.244.1.10" }] } }, "status");
    await eventually("slot 0 slice has pod 0", async () => (await get(Resources.EndpointSlice, "shortcut-pasv-0-0"))?.endpoints?.[0]?.addresses?.[0] === "10.244.1.10");
    await client.delete(FtpServers, "shortcut", ns);
  });

  test("a pod's IP and readiness in one event: its passive slice is written before the control slice routes sessions to it", async () => {
    await client.create(FtpServers, ftpServerObject("order", ns, {
      replicas: 1, passive: { basePort: 32200, numberOfPorts: 10 }, users: { secretName: "users" }, service: { type: "ClusterIP" },
    }));
    const pod = await eventually("pod order-0", () => client.get<any>(Resources.Pod, "order-0", ns));
    await eventually("slices exist", async () => (await get(Resources.EndpointSlice, "order-control")) && (await get(Resources.EndpointSlice, "order-pasv-0-0")));
    const list = await client.list(Resources.EndpointSlice, { namespace: ns, labelSelector: "kubernetes.io/service-name=order" });
    // Every slice write in the order the API server committed it, as kube-proxy's watch sees them.
    const seen: { slice: string; ready: string[]; listed: string[] }[] = [];
    const stop = new AbortController();
    const body = await client.stream(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
      watch: "true", labelSelector: "kubernetes.io/service-name=order", resourceVersion: list.metadata.resourceVersion!, allowWatchBookmarks: "false",
    }, stop.signal);
    const reading = (async () => {
      let rest = "";
      const dec = new TextDecoder();
      try {
        for await (const chunk of body) {
          rest += dec.decode(chunk, { stream: true });
          for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n")) {
            const ev = JSON.parse(rest.slice(0, nl));
            rest = rest.slice(nl + 1);
            const eps: any[] = ev.object?.endpoints ?? [];
            seen.push({
              slice: ev.object?.metadata?.name,
              listed: eps.map((e) => e.addresses[0]),
              ready: eps.filter((e) => e.conditions?.ready).map((e) => e.addresses[0]),
            });
          }
        }
      } catch (err) {
        if (!stop.signal.aborted) throw err;
      }
    })();
    try {
      // Each round: a new IP and Ready in one status write, as the kubelet often reports a fast-starting pod.
      const rounds = 6;
      for (let r = 1; r <= rounds; r++) {
        const ip = `10.244.3.${r}`;
        await client.mergePatch(Resources.Pod, pod.metadata.name, ns, {
          status: {
            phase: "Running", podIP: ip, podIPs: [{ ip }],
            conditions: [{ type: "Ready", status: "True", lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z") }],
          },
        }, "status");
        await eventually(`control slice routes to ${ip}`, () => seen.some((s) => s.slice === "order-control" && s.ready.includes(ip)));
      }
      for (let r = 1; r <= rounds; r++) {
        const ip = `10.244.3.${r}`;
        const control = seen.findIndex((s) => s.slice === "order-control" && s.ready.includes(ip));
        const passive = seen.findIndex((s) => s.slice === "order-pasv-0-0" && s.listed.includes(ip));
        assert.ok(passive >= 0 && passive < control, `round ${r}: passive slice with ${ip} at event ${passive}, control slice ready at event ${control}: ${JSON.stringify(seen)}`);
      }
    } finally {
      stop.abort();
      await reading;
      await client.delete(FtpServers, "order", ns);
    }
  });

  test("quantities in any form → the server's canonical form in the StatefulSet, and a resync writes nothing", async () => {
    const requests = { cpu: "1000m", memory: "1024Mi", "ephemeral-storage": "0.5Gi" };
    const limits = { cpu: "1.5", memory: "2048Mi" };
    await client.create(FtpServers, ftpServerObject("quant", ns, {
      replicas: 1,
      passive: { basePort: 31000, numberOfPorts: 5 },
      users: { secretName: "users" },
      service: { type: "ClusterIP" },
      resources: { requests, limits },
      storage: { type: "EmptyDir", size: "1000Mi" },
    }));
    const sts = await eventually("StatefulSet", () => get(Resources.StatefulSet, "quant"));
    const stored = sts.spec.template.spec.containers[0].resources as { requests: Record<string, string>; limits: Record<string, string> };
    // what the API server stores is what canonicalQuantity computes (and what we applied)
    assert.deepEqual({ ...stored }, { requests: { cpu: "1", memory: "1Gi", "ephemeral-storage": "512Mi" }, limits: { cpu: "1500m", memory: "2Gi" } });
    for (const [k, v] of Object.entries(requests)) assert.equal(canonicalQuantity(v), stored.requests[k], `requests.${k}: ${v}`);
    for (const [k, v] of Object.entries(limits)) assert.equal(canonicalQuantity(v), stored.limits[k], `limits.${k}: ${v}`);
    const data = sts.spec.template.spec.volumes.find((v: any) => v.name === "data");
    assert.equal(data.emptyDir.sizeLimit, canonicalQuantity("1000Mi"));
    await eventually("Ready", async () => condition(await getFs("quant"), "Ready")?.status === "True");
    await waitIdle(op);
    const before = op.manager.client.writes.count({ exclude: ["leases", "events"] });
    const r0 = await reconcileCount(op);
    await op.controller.stop();
    op.controller.start();
    await eventually("resync reconciled", async () => (await reconcileCount(op)) > r0);
    await waitIdle(op);
    assert.equal(op.manager.client.writes.count({ exclude: ["leases", "events"] }) - before, 0, "writes during resync");
    await client.delete(FtpServers, "quant", ns);
  });

  test(`${INVALID.length} invalid FtpServers are rejected at admission with clear messages`, async () => {
    const failures: string[] = [];
    for (const [i, [name, spec, tsMsg, apiMsg]] of INVALID.entries()) {
      try {
        await client.create(FtpServers, ftpServerObject(`bad-${i}`, ns, spec));
        failures.push(`${name}: accepted`);
      } catch (err) {
        const e = err as { statusCode?: number; message: string };
        if (e.statusCode !== 422) failures.push(`${name}: ${e.statusCode} ${e.message}`);
        else if (!(apiMsg ?? tsMsg).test(e.message)) failures.push(`${name}: unclear message: ${e.message}`);
      }
    }
    assert.deepEqual(failures, []);
    // and the valid base is accepted (the table's objects differ from it in one thing each)
    await client.create(FtpServers, ftpServerObject("valid-base", ns, validBase));
    await client.delete(FtpServers, "valid-base", ns);
  });

  test("passive.sharePorts is admitted where the pod sees client IPs (CEL agrees with the TypeScript twin)", async () => {
    const share = { ...validBase.passive, sharePorts: true };
    const admitted: Record<string, unknown>[] = [
      { ...validBase, passive: share, dataConnectionCheck: "Strict" },
      { ...validBase, passive: share, proxyProtocol: { enabled: true, onData: true } },
      { ...validBase, passive: share, service: { type: "LoadBalancer", externalTrafficPolicy: "Local" } },
      { ...validBase, passive: share, routing: { mode: "ClientIPAffinity" } },
      { ...validBase, passive: share, service: { type: "ClusterIP" } },
    ];
    for (const [i, spec] of admitted.entries()) {
      await client.create(FtpServers, ftpServerObject(`share-${i}`, ns, spec));
      await client.delete(FtpServers, `share-${i}`, ns);
    }
  });

  test("storage is immutable (CEL transition rule)", async () => {
    await client.create(FtpServers, ftpServerObject("store", ns, { ...validBase, service: { type: "ClusterIP" }, storage: { type: "EmptyDir" } }));
    await assert.rejects(
      client.mergePatch(FtpServers, "store", ns, { spec: { storage: { type: "PersistentVolumeClaim", size: "1Gi" } } }),
      /storage is immutable/,
    );
    // ClusterIP: the address is the cluster IP, so it is Ready without a load balancer
    const f = await eventually("ClusterIP FtpServer Ready", async () => {
      const x = await getFs("store");
      return condition(x, "Ready")?.status === "True" ? x : undefined;
    });
    const svc = await get(Resources.Service, "store");
    assert.equal(f.status.passive.externalAddress, svc.spec.clusterIP);
  });

  test("storage.type S3 is admitted and rendered: bucket prefix in the ConfigMap, credentials only as Secret refs in the pod env", async () => {
    const storage = { type: "S3", s3: { endpoint: "http://s3.example.net:8333", bucket: "ftp-files", prefix: "prod/", forcePathStyle: true, credentialsSecret: { name: "s3-creds" } } };
    await client.create(FtpServers, ftpServerObject("objects", ns, { ...validBase, service: { type: "ClusterIP" }, storage }));
    const cfg = await eventually("ConfigMap", () => configOf("objects"));
    assert.deepEqual(cfg.storage, {
      type: "s3",
      root: "/data",
      s3: { endpoint: "http://s3.example.net:8333", region: "us-east-1", bucket: "ftp-files", prefix: "prod/", forcePathStyle: true, partSizeMiB: 8, partBuffers: 2 },
    });
    const sts = await eventually("StatefulSet", () => get(Resources.StatefulSet, "objects"));
    const env = sts.spec.template.spec.containers[0].env as { name: string; valueFrom?: unknown }[];
    assert.deepEqual(env.find((e) => e.name === "AWS_SECRET_ACCESS_KEY")?.valueFrom, { secretKeyRef: { name: "s3-creds", key: "secretAccessKey" } });
    await client.delete(FtpServers, "objects", ns);
  });

  test("ClientIPAffinity with 2 replicas and no 2-tuple LB → RoutingSound False, with a reason and an Event", async () => {
    await client.create(FtpServers, ftpServerObject("sticky", ns, { ...validBase, routing: { mode: "ClientIPAffinity" } }));
    const f = await eventually("RoutingSound False", async () => {
      const x = await getFs("sticky");
      return condition(x, "RoutingSound")?.status === "False" ? x : undefined;
    });
    assert.equal(condition(f, "RoutingSound")?.reason, "PerPortAffinity");
    assert.match(condition(f, "RoutingSound")!.message, /per port/);
    const svc = await get(Resources.Service, "sticky");
    assert.equal(svc.spec.sessionAffinity, "ClientIP");
    assert.equal(svc.spec.externalTrafficPolicy, "Local");
    assert.ok(svc.spec.selector);
    const slices = await client.list<any>(Resources.EndpointSlice, { namespace: ns, labelSelector: { "endpointslice.kubernetes.io/managed-by": ENDPOINTSLICE_MANAGED_BY, "kubernetes.io/service-name": "sticky" } });
    assert.equal(slices.items.length, 0, "no operator EndpointSlices for a selector Service");
    await eventually("Warning Event PerPortAffinity", async () => {
      const evs = await client.list<any>(Resources.Event, { namespace: ns, fieldSelector: `involvedObject.uid=${f.metadata.uid}` });
      return evs.items.some((e: any) => e.type === "Warning" && e.reason === "PerPortAffinity");
    });
  });

  test("scaling down removes the extra slot's EndpointSlices and re-slices the range", async () => {
    await client.mergePatch(FtpServers, "files", ns, { spec: { replicas: 1 } });
    await eventually("slot 1 slice gone", async () => !(await get(Resources.EndpointSlice, "files-pasv-1-0")));
    const s0 = await eventually("slot 0 has the whole range", async () => {
      const s = await get(Resources.EndpointSlice, "files-pasv-0-0");
      return s?.ports.length === 10 ? s : undefined;
    });
    assert.equal(s0.ports.length, 10);
    assert.deepEqual((await configOf("files"))?.passive.slices, [{ slot: 0, portStart: 30000, portEnd: 30009 }]);
  });

  test("delete → children garbage-collected", async () => {
    await client.delete(FtpServers, "files", ns);
    await eventually(
      "children gone",
      async () => {
        const left = await Promise.all([
          get(Resources.Service, "files"),
          get(Resources.ConfigMap, "files-config"),
          get(Resources.StatefulSet, "files"),
          client.list<any>(Resources.EndpointSlice, { namespace: ns, labelSelector: { "kubernetes.io/service-name": "files" } }).then((l) => l.items[0]),
        ]);
        return left.every((x) => x === undefined);
      },
      60_000,
    );
    await sleep(100);
  });
});


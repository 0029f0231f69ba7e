// The operator under ordinary mistakes and failures, on a real control plane (etcd +
// kube-apiserver + kube-controller-manager, no kubelet): for each cause the FtpServer says
// Ready=False with the specific reason and a message naming the object within 15 s, nothing of the
// new spec is half-applied (the objects are asserted), and once the user corrects it Ready=True
// again with no manual step. Also: admission refuses adding/removing storage, a child deleted right
// after our write is re-created at once, Pod Security `restricted` admits the pods, and a deposed
// leader's in-flight write never lands.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return -- plain JSON objects */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { parse } from "yaml";
import { serverConfigSchema } from "../../server-image/src/config/schema.ts";
import { createOperator, type Operator } from "../../operator/src/controller/operator.ts";
import { ENDPOINTSLICE_MANAGED_BY } from "../../operator/src/controller/model.ts";
import { ApiError, type ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources, type ResourceType } from "../../operator/src/runtime/types.ts";
import type { TestCluster } from "../cluster/harness.ts";
import { pausableLeaseClient } from "../support/seams.ts";
import {
  FtpServers, VALID_USERS_JSON, condition, ensureNamespace, ensureUsersSecrets, eventually, ftpServerObject, startTestEnv, usersSecretObject, type TestEnv,
} from "./operator-helpers.ts";

const ns = "ftp-fail";
/** The bar: the cause is in the status within this long. */
const REPORT_MS = 15_000;
/** The apiserver's NodePort range here: small, so a LoadBalancer with many ports exhausts it. */
const NODE_PORT_RANGE = "30000-30099";

const ResourceQuotas: ResourceType = { apiVersion: "v1", kind: "ResourceQuota", plural: "resourcequotas", namespaced: true };
const b64 = (s: string) => Buffer.from(s).toString("base64");

function selfSignedPair(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "pasv-tls-"));
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=ftp.example", "-days", "2",
      "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")], { stdio: "ignore" });
    return { cert: readFileSync(join(dir, "c.pem"), "utf8"), key: readFileSync(join(dir, "k.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("FtpServer operator under change and failure", () => {
  let env: TestEnv;
  let client: ApiClient;
  let op: Operator;
  /** per-test seam: runs before each write of the shared operator's reconciles */
  const hooks: { beforeWrite?: (key: string, what: string) => Promise<void> } = {};

  before(async () => {
    env = await startTestEnv({
      cluster: { extraApiserverArgs: [`--service-node-port-range=${NODE_PORT_RANGE}`] },
      namespace: ns,
      usersSecrets: ["users"],
      operator: { workers: 4, seams: { beforeWrite: (key, what) => hooks.beforeWrite?.(key, what) ?? Promise.resolve() } },
    });
    ({ client, operator: op } = env);
  });
  after(() => env?.stop());

  const get = (type: ResourceType, name: string, namespace = ns) => client.get<any>(type, name, namespace);
  const getFs = (name: string, namespace = ns) => client.get<any>(FtpServers, name, namespace);
  const configOf = async (name: string) => {
    const cm = await get(Resources.ConfigMap, `${name}-config`);
    return cm ? serverConfigSchema.parse(parse(cm.data["config.yaml"])) : undefined;
  };
  const clusterIp = (extra: Record<string, unknown> = {}) => ({
    replicas: 1, passive: { basePort: 30000, numberOfPorts: 4 }, users: { secretName: "users" }, service: { type: "ClusterIP" }, ...extra,
  });
  const mergePatch = (type: ResourceType, name: string, patch: unknown, manager = "a-user") =>
    client.request<any>("PATCH", `${type.namespaced ? `/${type.apiVersion.includes("/") ? "apis" : "api"}/${type.apiVersion}/namespaces/${ns}` : ""}/${type.plural}/${name}`, {
      body: patch, contentType: "application/merge-patch+json", query: { fieldManager: manager },
    });
  const patchFsSpec = (name: string, spec: unknown) => mergePatch(FtpServers, name, { spec });

  /** Ready=False with `reason` and a message matching `names` within REPORT_MS; also a Warning Event. */
  async function reports(name: string, reason: string, names: RegExp, namespace = ns): Promise<any> {
    const t0 = Date.now();
    const fs = await eventually(`${name}: Ready=False ${reason}`, async () => {
      const f = await getFs(name, namespace);
      const r = condition(f, "Ready");
      return r?.status === "False" && r.reason === reason && f.status.observedGeneration === f.metadata.generation ? f : undefined;
    }, REPORT_MS, 100);
    assert.ok(Date.now() - t0 <= REPORT_MS);
    assert.match(condition(fs, "Ready")!.message, names);
    await eventually(`${name}: Warning Event ${reason}`, async () => {
      const evs = await client.list<any>(Resources.Event, { namespace, fieldSelector: `involvedObject.name=${name},reason=${reason}` });
      return evs.items.some((e) => e.type === "Warning");
    }, 10_000);
    return fs;
  }

  async function readyAgain(name: string, timeoutMs = 30_000, namespace = ns): Promise<any> {
    return eventually(`${name}: Ready=True`, async () => {
      const f = await getFs(name, namespace);
      return condition(f, "Ready")?.status === "True" && f.status.observedGeneration === f.metadata.generation ? f : undefined;
    }, timeoutMs, 100);
  }

  async function absent(name: string): Promise<void> {
    for (const [type, n] of [[Resources.Service, name], [Resources.ConfigMap, `${name}-config`], [Resources.StatefulSet, name]] as const) {
      assert.equal(await get(type, n), undefined, `${type.kind} ${n} must not be applied`);
    }
  }

  test("users Secret missing → UsersSecretNotFound, nothing applied; created → Ready", async () => {
    await client.create(FtpServers, ftpServerObject("nosecret", ns, clusterIp({ users: { secretName: "nosecret-users" } })));
    await reports("nosecret", "UsersSecretNotFound", /Secret ftp-fail\/nosecret-users/);
    await absent("nosecret");
    await client.create(Resources.Secret, usersSecretObject(ns, "nosecret-users"));
    await readyAgain("nosecret");
  });

  test("users file with a plain password → UsersFileInvalid (the server's own message), the running spec kept; fixed → Ready", async () => {
    await client.create(FtpServers, ftpServerObject("badusers", ns, clusterIp()));
    await readyAgain("badusers");
    const sts0 = await get(Resources.StatefulSet, "badusers");
    await client.create(Resources.Secret, usersSecretObject(ns, "plain-users", JSON.stringify({ users: [{ name: "a", password: "hunter2" }] })));
    await patchFsSpec("badusers", { users: { secretName: "plain-users" } });
    await reports("badusers", "UsersFileInvalid", /Secret ftp-fail\/plain-users.*password must be an scrypt hash/);
    const sts1 = await get(Resources.StatefulSet, "badusers");
    assert.equal(sts1.metadata.generation, sts0.metadata.generation, "the StatefulSet was not changed for the bad spec");
    // The pods mount the operator's merge (ftpusers.ts), which keeps the last good file while the new one is refused.
    assert.equal(sts1.spec.template.spec.volumes.find((v: any) => v.name === "users").secret.secretName, "badusers-users-effective");
    const merged = await get(Resources.Secret, "badusers-users-effective");
    assert.doesNotMatch(Buffer.from(merged.data["users.json"], "base64").toString("utf8"), /hunter2/, "the refused file never reaches the pods");
    await mergePatch(Resources.Secret, "plain-users", { data: { "users.json": b64(VALID_USERS_JSON) } });
    await readyAgain("badusers");
    const sts2 = await get(Resources.StatefulSet, "badusers");
    assert.equal(sts2.spec.template.spec.volumes.find((v: any) => v.name === "users").secret.secretName, "badusers-users-effective");
  });

  test("TLS Secret that is not a key pair → TLSSecretInvalid, nothing applied; fixed → Ready", async () => {
    await client.create(Resources.Secret, { apiVersion: "v1", kind: "Secret", metadata: { name: "tls-bad", namespace: ns }, data: { "tls.crt": b64("not a cert"), "tls.key": b64("not a key") } });
    await client.create(FtpServers, ftpServerObject("badtls", ns, clusterIp({ tls: { mode: "Explicit", secretName: "tls-bad" } })));
    await reports("badtls", "TLSSecretInvalid", /Secret ftp-fail\/tls-bad/);
    await absent("badtls");
    const pair = selfSignedPair();
    await mergePatch(Resources.Secret, "tls-bad", { data: { "tls.crt": b64(pair.cert), "tls.key": b64(pair.key) } });
    await readyAgain("badtls");
  });

  test("nodePort taken by another Service → NodePortConflict, the old range stays applied everywhere; freed → Ready", async () => {
    const np = (basePort: number) => ({
      replicas: 1, passive: { basePort, numberOfPorts: 5 }, users: { secretName: "users" }, service: { type: "NodePort", controlNodePort: 30090 },
    });
    await client.create(FtpServers, ftpServerObject("np", ns, np(30010)));
    await readyAgain("np");
    const sts0 = await get(Resources.StatefulSet, "np");
    await client.create(Resources.Service, {
      apiVersion: "v1", kind: "Service", metadata: { name: "squatter", namespace: ns },
      spec: { type: "NodePort", ports: [{ name: "x", port: 30019, targetPort: 30019, nodePort: 30019 }] },
    });
    await patchFsSpec("np", { passive: { basePort: 30015 } }); // 30015-30019: 30019 is taken
    await reports("np", "NodePortConflict", /Service ftp-fail\/np.*30019/);
    // nothing of the new range anywhere
    assert.equal((await configOf("np"))?.passive.portStart, 30010);
    const svc = await get(Resources.Service, "np");
    assert.deepEqual(svc.spec.ports.filter((p: any) => p.name.startsWith("pasv-")).map((p: any) => p.port), [30010, 30011, 30012, 30013, 30014]);
    const slices = await client.list<any>(Resources.EndpointSlice, { namespace: ns, labelSelector: { "kubernetes.io/service-name": "np", "ftp.pasv.dev/role": "passive" } });
    assert.deepEqual(slices.items.flatMap((s) => s.ports.map((p: any) => p.port)).sort(), [30010, 30011, 30012, 30013, 30014]);
    assert.equal((await get(Resources.StatefulSet, "np")).metadata.generation, sts0.metadata.generation);
    await client.delete(Resources.Service, "squatter", ns);
    await readyAgain("np");
    assert.equal((await configOf("np"))?.passive.portStart, 30015);
  });

  test("NodePort range exhausted (HTTP 500 from the apiserver) → NodePortsExhausted in status; fixed → Ready", async () => {
    // 120 ports of a LoadBalancer need 121 NodePorts; the apiserver's range has 100 (minus those in use).
    await client.create(FtpServers, ftpServerObject("many", ns, {
      replicas: 1, passive: { basePort: 40000, numberOfPorts: 120 }, users: { secretName: "users" }, service: { type: "LoadBalancer" },
    }));
    await reports("many", "NodePortsExhausted", /Service ftp-fail\/many/);
    await absent("many");
    await patchFsSpec("many", { service: { allocateLoadBalancerNodePorts: false } });
    // as a cloud controller would: an address for the load balancer
    await eventually("Service many", () => get(Resources.Service, "many"));
    await client.request("PATCH", `/api/v1/namespaces/${ns}/services/many/status`, {
      body: { status: { loadBalancer: { ingress: [{ ip: "198.51.100.9" }] } } }, contentType: "application/merge-patch+json",
    });
    await readyAgain("many");
  });

  test("an unlabelled ConfigMap with a child's name → NameConflict, not adopted, nothing applied; removed → Ready", async () => {
    await client.create(Resources.ConfigMap, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "nc-config", namespace: ns }, data: { mine: "1" } });
    await client.create(FtpServers, ftpServerObject("nc", ns, clusterIp()));
    await reports("nc", "NameConflict", /ConfigMap ftp-fail\/nc-config/);
    const cm = await get(Resources.ConfigMap, "nc-config");
    assert.deepEqual(cm.data, { mine: "1" });
    assert.equal(cm.metadata.ownerReferences, undefined, "not adopted");
    assert.equal(await get(Resources.Service, "nc"), undefined);
    assert.equal(await get(Resources.StatefulSet, "nc"), undefined);
    await client.delete(Resources.ConfigMap, "nc-config", ns);
    await readyAgain("nc");
    assert.ok((await get(Resources.ConfigMap, "nc-config")).metadata.ownerReferences?.length);
  });

  const sliceManagers = async (svc: string) =>
    (await client.list<any>(Resources.EndpointSlice, { namespace: ns, labelSelector: { "kubernetes.io/service-name": svc } })).items.map(
      (s) => s.metadata.labels["endpointslice.kubernetes.io/managed-by"] as string,
    );

  test("ClientIPAffinity → PortPartitioned: the EndpointSlice controller's slices are removed", async () => {
    await client.create(FtpServers, ftpServerObject("sw", ns, clusterIp({ routing: { mode: "ClientIPAffinity" } })));
    await readyAgain("sw");
    await eventually("the EndpointSlice controller's slice for the selector Service", async () =>
      (await sliceManagers("sw")).some((m) => m !== ENDPOINTSLICE_MANAGED_BY));
    await patchFsSpec("sw", { routing: { mode: "PortPartitioned" } });
    await readyAgain("sw");
    await eventually("only our slices", async () => {
      const m = await sliceManagers("sw");
      return m.length === 2 && m.every((x) => x === ENDPOINTSLICE_MANAGED_BY);
    }, REPORT_MS);
    assert.equal((await get(Resources.Service, "sw")).spec.selector, undefined);
  });

  test("a selector added to the Service by hand → UnexpectedSelector; removed → foreign slices gone, Ready", async () => {
    await client.create(FtpServers, ftpServerObject("sel", ns, clusterIp()));
    await readyAgain("sel");
    await mergePatch(Resources.Service, "sel", { spec: { selector: { "app.kubernetes.io/instance": "sel" } } }, "kubectl-patch");
    await reports("sel", "UnexpectedSelector", /Service ftp-fail\/sel/);
    await eventually("the EndpointSlice controller reacted to the selector", async () => (await sliceManagers("sel")).some((m) => m !== ENDPOINTSLICE_MANAGED_BY));
    await mergePatch(Resources.Service, "sel", { spec: { selector: null } }, "kubectl-patch");
    await readyAgain("sel");
    await eventually("only our slices", async () => (await sliceManagers("sel")).every((x) => x === ENDPOINTSLICE_MANAGED_BY), REPORT_MS);
  });

  test("a child deleted right after the operator wrote it (its reconcile still running) is re-created at once", async () => {
    // Hold the reconcile that created the ConfigMap before its status write; delete the ConfigMap
    // meanwhile. The next reconcile must not trust the remembered write (recent-writes) over the
    // informer's delete.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const atStatus = new Promise<void>((r) => (reached = r));
    hooks.beforeWrite = async (key, what) => {
      if (key !== `${ns}/del` || what !== "status") return;
      hooks.beforeWrite = undefined;
      reached();
      await held;
    };
    try {
      await client.create(FtpServers, ftpServerObject("del", ns, clusterIp()));
      await atStatus;
      const first = await get(Resources.ConfigMap, "del-config");
      assert.ok(first, "the held reconcile applied the ConfigMap");
      await client.delete(Resources.ConfigMap, "del-config", ns, { uid: first.metadata.uid });
      await eventually("the informer saw the delete", () => op.informers.configMaps.get("del-config", ns) === undefined, 10_000, 20);
      release();
      const t0 = Date.now();
      const again = await eventually("ConfigMap re-created", async () => {
        const cm = await get(Resources.ConfigMap, "del-config");
        return cm && cm.metadata.uid !== first.metadata.uid ? cm : undefined;
      }, 15_000, 50);
      const took = Date.now() - t0;
      assert.ok(took < 5_000, `re-created ${took} ms after the reconcile went on`);
      assert.ok(again.metadata.ownerReferences?.length);
      await readyAgain("del");
    } finally {
      hooks.beforeWrite = undefined;
      release();
    }
  });

  test("a new StatefulSet is applied in the ConfigMap's round; an existing one only after the ConfigMap", async () => {
    // Cold start: nothing can run the config before the ConfigMap exists (the volume is not
    // optional), so the StatefulSet does not wait for it (one dependent round less per FtpServer).
    // Update: a pod the StatefulSet rolls must start with the new config, so the ConfigMap first.
    // beforeWrite runs before every apply, skipped ones too: one hold per phase (the next ConfigMap write).
    let releaseCm: (() => void) | undefined;
    let holdNextCm = true;
    let cmHeld = false;
    let stsWrites: { whileCmHeld: boolean }[] = [];
    hooks.beforeWrite = async (key, what) => {
      if (key !== `${ns}/rounds`) return;
      if (what.startsWith("StatefulSet")) stsWrites.push({ whileCmHeld: cmHeld });
      if (!what.startsWith("ConfigMap") || !holdNextCm) return;
      holdNextCm = false;
      cmHeld = true;
      await new Promise<void>((r) => (releaseCm = r));
      cmHeld = false;
    };
    try {
      await client.create(FtpServers, ftpServerObject("rounds", ns, clusterIp()));
      await eventually("the new StatefulSet's write starts while the ConfigMap's is held", () => stsWrites.length > 0, 10_000, 20);
      assert.deepEqual(stsWrites, [{ whileCmHeld: true }]);
      releaseCm?.();
      await readyAgain("rounds");

      stsWrites = [];
      holdNextCm = true;
      await patchFsSpec("rounds", { replicas: 2 }); // changes the config (slots) and the StatefulSet
      await eventually("the ConfigMap's write is held", () => cmHeld, 10_000, 20);
      await sleep(1_000); // the StatefulSet's write would start meanwhile if it did not wait
      assert.equal(stsWrites.length, 0, "the existing StatefulSet is not written while the ConfigMap's write is held");
      releaseCm?.();
      await eventually("the StatefulSet written after the ConfigMap", () => stsWrites.length > 0, 10_000, 20);
      assert.ok(stsWrites.every((w) => !w.whileCmHeld));
      await readyAgain("rounds");
      assert.equal((await get(Resources.StatefulSet, "rounds")).spec.replicas, 2);
    } finally {
      hooks.beforeWrite = undefined;
      releaseCm?.();
    }
  });

  test("admission refuses adding or removing spec.storage (the StatefulSet could not follow)", async () => {
    await client.create(FtpServers, ftpServerObject("nostore", ns, clusterIp()));
    await client.create(FtpServers, ftpServerObject("store", ns, clusterIp({ storage: { type: "EmptyDir" } })));
    await readyAgain("nostore");
    await readyAgain("store");
    for (const [name, storage] of [["nostore", { type: "EmptyDir" }], ["store", null]] as const) {
      const before = await getFs(name);
      await assert.rejects(patchFsSpec(name, { storage }), (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.statusCode, 422);
        assert.match(err.message, /storage cannot be added or removed after creation/);
        return true;
      });
      assert.equal((await getFs(name)).metadata.generation, before.metadata.generation);
    }
  });

  test("StatefulSet cannot create pods (quota) → QuotaExceeded naming the StatefulSet; quota lifted → pods, Ready", async () => {
    const qns = "ftp-quota";
    await ensureNamespace(client, qns);
    await ensureUsersSecrets(client, qns, "users");
    await client.create(ResourceQuotas, {
      apiVersion: "v1", kind: "ResourceQuota", metadata: { name: "no-pods", namespace: qns }, spec: { hard: { pods: "0" } },
    });
    await client.create(FtpServers, ftpServerObject("q", qns, clusterIp()));
    await reports("q", "QuotaExceeded", /StatefulSet ftp-quota\/q cannot create pods/, qns);
    await client.delete(ResourceQuotas, "no-pods", qns);
    await eventually("pod created", async () => (await client.list(Resources.Pod, { namespace: qns })).items.length === 1, 60_000);
    await readyAgain("q", 30_000, qns);
  });

  test("pods refused by admission → PodsForbidden naming the StatefulSet; policy lifted → pods, Ready", async () => {
    // A ValidatingAdmissionPolicy stands in for any admission that refuses the pods (Pod Security
    // in a stricter namespace, a Kyverno/Gatekeeper rule): the StatefulSet's FailedCreate says why.
    const fns = "ftp-forbid";
    await ensureNamespace(client, fns);
    await ensureUsersSecrets(client, fns, "users");
    const Policies: ResourceType = { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicy", plural: "validatingadmissionpolicies", namespaced: false };
    const Bindings: ResourceType = { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicyBinding", plural: "validatingadmissionpolicybindings", namespaced: false };
    await client.create(Policies, {
      apiVersion: Policies.apiVersion, kind: Policies.kind, metadata: { name: "no-ftp-pods" },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }] },
        validations: [{ expression: "false", reason: "Forbidden", message: "FTP-server pods are not allowed here (test policy)" }],
      },
    });
    await client.create(Bindings, {
      apiVersion: Bindings.apiVersion, kind: Bindings.kind, metadata: { name: "no-ftp-pods" },
      spec: { policyName: "no-ftp-pods", validationActions: ["Deny"], matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": fns } } } },
    });
    try {
      // the policy takes a moment to be enforced: precondition, a pod is refused
      await eventually("policy enforced", async () => {
        try {
          await client.create(Resources.Pod, { apiVersion: "v1", kind: "Pod", metadata: { name: "probe", namespace: fns }, spec: { containers: [{ name: "c", image: "x" }] } });
          await client.delete(Resources.Pod, "probe", fns);
          return false;
        } catch (err) {
          return err instanceof ApiError && err.statusCode === 403;
        }
      }, 15_000);
      await client.create(FtpServers, ftpServerObject("fb", fns, clusterIp()));
      await reports("fb", "PodsForbidden", /StatefulSet ftp-forbid\/fb cannot create pods: .*not allowed here/, fns);
    } finally {
      await client.delete(Bindings, "no-ftp-pods");
      await client.delete(Policies, "no-ftp-pods");
    }
    await eventually("pod created", async () => (await client.list(Resources.Pod, { namespace: fns })).items.length === 1, 60_000);
    await readyAgain("fb", 30_000, fns);
  });

  test("a namespace enforcing Pod Security restricted admits the FTP-server pods", async () => {
    const rns = "ftp-restricted";
    await client.create(Resources.Namespace, {
      apiVersion: "v1", kind: "Namespace",
      metadata: { name: rns, labels: { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" } },
    });
    await ensureUsersSecrets(client, rns, "users");
    await client.create(FtpServers, ftpServerObject("r", rns, clusterIp({ replicas: 2, passive: { basePort: 30000, numberOfPorts: 4 } })));
    await eventually("2 pods admitted", async () => (await client.list(Resources.Pod, { namespace: rns })).items.length === 2, 30_000);
    await readyAgain("r", 15_000, rns);
    const evs = await client.list<any>(Resources.Event, { namespace: rns, fieldSelector: "reason=FailedCreate" });
    assert.equal(evs.items.length, 0, evs.items.map((e) => e.message).join("\n"));
  });
});

describe("a deposed leader never writes", () => {
  let env: TestEnv;
  let cluster: TestCluster;
  let client: ApiClient;
  const lns = "ftp-leader";
  const timing = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };

  before(async () => {
    env = await startTestEnv({ namespace: lns, usersSecrets: ["users"] });
    ({ cluster, client } = env);
  });
  after(() => env?.stop());

  test("leader loses its Lease while a write is in flight: the write is cancelled, the new leader converges", async (t) => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let holding: ((v: void) => void) | undefined;
    const isHolding = new Promise<void>((r) => (holding = r));
    let lostA = 0;
    const leaseA = pausableLeaseClient(cluster.kubeConfig);
    const common = { logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }), http: false as const, workloadReadiness: "applied" as const, workers: 2 };
    const a: Operator = createOperator({
      ...common, kubeConfig: cluster.kubeConfig,
      leaderElection: { namespace: lns, name: "op", identity: "a", ...timing },
      onLostLeadership: () => lostA++,
      managerSeams: { leaseClient: leaseA.client },
      seams: {
        beforeWrite: async (key, what) => {
          if (key === `${lns}/dep` && what.startsWith("StatefulSet") && holding) {
            holding();
            holding = undefined;
            await held;
          }
        },
      },
    });
    t.after(async () => {
      release();
      await a.stop();
      leaseA.close();
    });
    await a.start();
    await a.manager.waitForLeadership();
    const b: Operator = createOperator({ ...common, kubeConfig: cluster.kubeConfig, leaderElection: { namespace: lns, name: "op", identity: "b", ...timing } });
    t.after(() => b.stop());
    await b.start();

    await client.create(FtpServers, ftpServerObject("dep", lns, {
      replicas: 1, passive: { basePort: 30000, numberOfPorts: 4 }, users: { secretName: "users" }, service: { type: "ClusterIP" },
    }));
    await isHolding; // A is about to write the StatefulSet
    leaseA.pause(); // ... and stops being able to renew (a frozen or partitioned leader)
    await eventually("B leads", () => b.manager.isLeader(), 10_000, 25);
    assert.equal(a.manager.isLeader(), false);
    const dep = await eventually("B converged dep", async () => {
      const f = await client.get<any>(FtpServers, "dep", lns);
      return condition(f, "Ready")?.status === "True" ? f : undefined;
    }, 15_000);
    assert.ok(dep);
    const stsBefore = await client.get<any>(Resources.StatefulSet, "dep", lns);
    const writesA = a.manager.client.writes.count({ exclude: ["leases", "events"] });
    release(); // A's reconcile continues from its held write
    await sleep(1500);
    assert.equal(a.manager.client.writes.count({ exclude: ["leases", "events"] }), writesA, "the deposed leader wrote nothing");
    assert.equal(lostA, 1, "onLostLeadership called once its reconciles ended");
    const stsAfter = await client.get<any>(Resources.StatefulSet, "dep", lns);
    // (its resourceVersion may move: the StatefulSet controller writes its status)
    assert.equal(stsAfter.metadata.generation, stsBefore.metadata.generation, "the StatefulSet's spec was not rewritten");
  });
});

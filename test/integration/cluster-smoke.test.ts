// Proves the local control plane is a real Kubernetes: controllers act, CRDs with CEL
// validation are served, RBAC denies, and garbage collection follows owner references.
import {
  ApiException, ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig,
  VersionApi, type V1Deployment,
} from "@kubernetes/client-node";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestCluster, uniqueName, type TestCluster } from "../cluster/harness.ts";
import { eventually } from "../support/eventually.ts";

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

function withToken(admin: KubeConfig, token: string): KubeConfig {
  const c = admin.getCurrentCluster();
  assert.ok(c, "admin kubeconfig has a cluster");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: c.server, caFile: c.caFile, caData: c.caData, skipTLSVerify: false }],
    users: [{ name: "u", token }],
    contexts: [{ name: "c", cluster: "c", user: "u" }],
    currentContext: "c",
  });
  return kc;
}

describe("local control plane", () => {
  let cluster: TestCluster;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  const ns = uniqueName("smoke");
  const group = `${uniqueName("smoke")}.pasv.dev`; // a CRD is cluster-wide: unique per run on an existing cluster

  before(async () => {
    cluster = await startTestCluster();
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    apps = cluster.kubeConfig.makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });
  after(async () => {
    await cluster?.stop();
  });

  test("serves the pinned release", async (t) => {
    const versionFile = await import("node:fs").then((fs) => fs.readFileSync(new URL("../cluster/tools/go.mod", import.meta.url), "utf8"));
    const pinned = /k8s\.io\/kubernetes (v[0-9.]+)/.exec(versionFile)?.[1];
    assert.ok(pinned, "pin found in go.mod");
    // What the running apiserver says about itself (GET /version), not what the binary was built as.
    const info = await cluster.kubeConfig.makeApiClient(VersionApi).getCode();
    if (!cluster.state) {
      t.skip(`PASV_USE_EXISTING_CLUSTER=1: that cluster serves ${info.gitVersion}; the pin (${pinned}) applies to clusters the harness starts`);
      return;
    }
    assert.equal(info.gitVersion, pinned, `GET /version: ${JSON.stringify(info)}`);
    assert.equal(`v${info.major}.${info.minor}`, pinned.replace(/\.\d+$/, ""), "major.minor");
    assert.equal(cluster.state.version, pinned, "the harness started the pinned build");
  });

  test("a Deployment gets a ReplicaSet and Pods from the controller-manager", async () => {
    const body: V1Deployment = {
      metadata: { name: "web", namespace: ns },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: "web" } },
        template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "c", image: "pasv.local/none:1" }] } },
      },
    };
    const dep = await apps.createNamespacedDeployment({ namespace: ns, body });
    const rs = await eventually("ReplicaSet owned by the Deployment", async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace: ns });
      return list.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.uid === dep.metadata?.uid));
    });
    const pods = await eventually("two Pods owned by the ReplicaSet", async () => {
      const list = await core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" });
      const owned = list.items.filter((p) => p.metadata?.ownerReferences?.some((o) => o.uid === rs.metadata?.uid));
      return owned.length === 2 ? owned : undefined;
    });
    assert.equal(pods.length, 2);
  });

  test("deleting an owner garbage-collects its dependents", async () => {
    await apps.deleteNamespacedDeployment({ namespace: ns, name: "web", body: { propagationPolicy: "Background" } });
    await eventually("ReplicaSets and Pods collected", async () => {
      const [rs, pods] = await Promise.all([
        apps.listNamespacedReplicaSet({ namespace: ns }),
        core.listNamespacedPod({ namespace: ns, labelSelector: "app=web" }),
      ]);
      return rs.items.length === 0 && pods.items.length === 0;
    });
    // And a ConfigMap owned by a ConfigMap, through an explicit ownerReference.
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "owner" } } });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: "dependent",
          ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata?.uid ?? "" }],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "owner" });
    await eventually("dependent ConfigMap collected", async () => {
      try {
        await core.readNamespacedConfigMap({ namespace: ns, name: "dependent" });
        return false;
      } catch (err) {
        return statusOf(err) === 404;
      }
    });
  });

  test("a CRD is served, its custom resources round-trip, and a CEL rule rejects bad input", async () => {
    const ext = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural: "widgets", singular: "widget", kind: "Widget" },
          versions: [{
            name: "v1", served: true, storage: true,
            schema: {
              openAPIV3Schema: {
                type: "object",
                properties: {
                  spec: {
                    type: "object",
                    properties: { min: { type: "integer" }, max: { type: "integer" } },
                    // client-node's typed models name OpenAPI extensions in snake_case (x_kubernetes_*);
                    // the hyphenated key would be silently dropped by its serializer.
                    x_kubernetes_validations: [{ rule: "self.min <= self.max", message: "min must not exceed max" }],
                  },
                },
              },
            },
          }],
        },
      },
    });
    await eventually("CRD Established", async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `widgets.${group}` });
      return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    });
    const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    const target = { group, version: "v1", namespace: ns, plural: "widgets" };
    await eventually("Widget create accepted", async (): Promise<unknown> =>
      custom.createNamespacedCustomObject({
        ...target,
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "ok" }, spec: { min: 1, max: 5 } },
      }));
    const got = (await custom.getNamespacedCustomObject({ ...target, name: "ok" })) as { spec: { min: number; max: number } };
    assert.deepEqual(got.spec, { min: 1, max: 5 });

    await assert.rejects(
      custom.createNamespacedCustomObject({
        ...target,
        body: { apiVersion: `${group}/v1`, kind: "Widget", metadata: { name: "bad" }, spec: { min: 9, max: 5 } },
      }),
      (err: unknown) => {
        assert.equal(statusOf(err), 422);
        assert.match(String((err as ApiException<unknown>).body), /min must not exceed max/);
        return true;
      },
    );
  });

  test("a ServiceAccount without rights is denied by RBAC", async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "nobody" } } });
    const tr = await core.createNamespacedServiceAccountToken({
      namespace: ns, name: "nobody", body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tr.status?.token;
    assert.ok(token, "token issued");
    const asNobody = withToken(cluster.kubeConfig, token).makeApiClient(CoreV1Api);
    await assert.rejects(asNobody.listNamespacedSecret({ namespace: ns }), (err: unknown) => statusOf(err) === 403);
    // Authentication itself worked: a bogus token is 401, not 403.
    const asBogus = withToken(cluster.kubeConfig, "bogus").makeApiClient(CoreV1Api);
    await assert.rejects(asBogus.listNamespacedSecret({ namespace: ns }), (err: unknown) => statusOf(err) === 401);
  });
});

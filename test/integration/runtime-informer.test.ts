// The runtime's informer on a real kube-apiserver: adds/updates/deletes, label selectors, and
// survival of dropped connections (through a TCP proxy the test cuts), a refused apiserver, and
// 410 Gone — each followed by a relist that makes the cache right again.
import { KubeConfig } from "@kubernetes/client-node";
import assert from "node:assert/strict";
import { createServer, connect } from "node:net";
import type { Server, Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ownClusterOnly, uniqueName } from "../cluster/harness.ts";
import type { TestCluster } from "../cluster/harness.ts";
import { ApiClient } from "../../operator/src/runtime/client.ts";
import { Informer } from "../../operator/src/runtime/informer.ts";
import { Resources, collectionPath } from "../../operator/src/runtime/types.ts";
import type { KubeObject } from "../../operator/src/runtime/types.ts";
import { eventually as pollUntil } from "../support/eventually.ts";
import { controllableWatches } from "../support/seams.ts";
import { startTestEnv, type TestEnv } from "./operator-helpers.ts";

const eventually = <T,>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> =>
  pollUntil(what, fn, timeoutMs, 50);

/** A loopback TCP proxy in front of the apiserver whose connections the test can cut. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  refusing = false;
  port = 0;
  private readonly upstreamPort: number;
  constructor(upstreamPort: number) {
    this.upstreamPort = upstreamPort;
  }
  async start(): Promise<void> {
    const server = createServer((client) => {
      if (this.refusing) {
        client.resetAndDestroy();
        return;
      }
      const upstream = connect(this.upstreamPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    this.port = (server.address() as { port: number }).port;
  }
  /** Reset every open connection (as a crashed apiserver or a broken network would). */
  cut(): void {
    for (const s of this.sockets) s.resetAndDestroy();
  }
  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

function viaServer(kc: KubeConfig, server: string): KubeConfig {
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return out;
}

function cm(name: string, data: Record<string, string>, labels?: Record<string, string>): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns, ...(labels ? { labels } : {}) }, data };
}

const ns = uniqueName("rt-informer");

/**
 * The objects this file made: a controller-manager (existing clusters run one; this file's own
 * cluster does not) publishes kube-root-ca.crt into every namespace.
 */
const ours = (o: KubeObject): boolean => o.metadata?.name !== "kube-root-ca.crt";

describe("runtime informer on a real apiserver", () => {
  let env: TestEnv;
  let cluster: TestCluster;
  let admin: ApiClient;

  before(async () => {
    // Frequent etcd compaction and no watch cache for Secrets, so a watch of Secrets from an old
    // resourceVersion really expires (410 Gone); ConfigMaps keep the watch cache.
    env = await startTestEnv({
      cluster: { controllerManager: false, scheduler: false, extraApiserverArgs: ["--etcd-compaction-interval=2s", "--watch-cache-sizes=secrets#0"] },
      crds: [],
      namespace: ns,
    });
    ({ cluster, client: admin } = env);
  });
  after(() => env?.stop());

  test("sees adds, updates and deletes; store get/list by label; handlers fire", async (t) => {
    await admin.create(Resources.ConfigMap, cm("pre", { a: "1" }));
    const inf = new Informer(admin, Resources.ConfigMap, { namespace: ns });
    t.after(() => inf.stop());
    const seen: string[] = [];
    inf.addHandler({
      onAdd: (o) => ours(o) && seen.push(`add ${o.metadata?.name}`),
      onUpdate: (o, n) => ours(n) && seen.push(`update ${n.metadata?.name} ${(o.data as Record<string, string>).a}->${(n.data as Record<string, string>).a}`),
      onDelete: (o) => ours(o) && seen.push(`delete ${o.metadata?.name}`),
    });
    assert.equal(inf.hasSynced(), false);
    inf.start();
    await inf.waitForSync();
    assert.equal(inf.hasSynced(), true);
    assert.ok(inf.get("pre", ns), "listed object in store");
    assert.equal(inf.get("pre", ns)?.kind, "ConfigMap", "list items get apiVersion/kind");

    await admin.create(Resources.ConfigMap, cm("x", { a: "1" }, { team: "ftp" }));
    await eventually("add seen", () => inf.get("x", ns));
    await admin.apply(Resources.ConfigMap, cm("x", { a: "2" }, { team: "ftp" }));
    await eventually("update seen", () => (inf.get("x", ns)?.data as Record<string, string> | undefined)?.a === "2");
    assert.deepEqual(inf.list({ labels: { team: "ftp" } }).map((o) => o.metadata?.name), ["x"]);
    assert.equal(inf.list({ namespace: ns }).filter(ours).length, 2);
    assert.equal(inf.list({ namespace: "elsewhere" }).length, 0);
    await admin.delete(Resources.ConfigMap, "x", ns);
    await eventually("delete seen", () => !inf.get("x", ns));
    await inf.stop();
    assert.deepEqual(seen, ["add pre", "add x", "update x 1->2", "delete x"]);
    await admin.delete(Resources.ConfigMap, "pre", ns);
  });

  test("a label-selector informer holds only matching objects and sees label changes as add/delete", async (t) => {
    const inf = new Informer(admin, Resources.ConfigMap, { namespace: ns, labelSelector: { "app.kubernetes.io/managed-by": "pasv-operator" } });
    t.after(() => inf.stop());
    const seen: string[] = [];
    inf.addHandler({ onAdd: (o) => seen.push(`add ${o.metadata?.name}`), onDelete: (o) => seen.push(`delete ${o.metadata?.name}`) });
    inf.start();
    await inf.waitForSync();
    await admin.create(Resources.ConfigMap, cm("mine", {}, { "app.kubernetes.io/managed-by": "pasv-operator" }));
    await admin.create(Resources.ConfigMap, cm("theirs", {}));
    await eventually("mine cached", () => inf.get("mine", ns));
    await sleep(200);
    assert.equal(inf.get("theirs", ns), undefined);
    await admin.mergePatch(Resources.ConfigMap, "mine", ns, { metadata: { labels: { "app.kubernetes.io/managed-by": null } } });
    await eventually("unlabelled leaves the cache", () => !inf.get("mine", ns));
    await inf.stop();
    assert.deepEqual(seen, ["add mine", "delete mine"]);
    await admin.delete(Resources.ConfigMap, "mine", ns);
    await admin.delete(Resources.ConfigMap, "theirs", ns);
  });

  test("survives cut connections and a refusing apiserver, then relists what changed meanwhile", async (t) => {
    const proxy = new CuttableProxy(Number(new URL(cluster.kubeConfig.getCurrentCluster()!.server).port));
    await proxy.start();
    t.after(() => proxy.stop());
    const client = new ApiClient(viaServer(cluster.kubeConfig, `https://127.0.0.1:${proxy.port}`));
    await admin.create(Resources.ConfigMap, cm("stays", { v: "1" }));
    await admin.create(Resources.ConfigMap, cm("goes", { v: "1" }));
    const inf = new Informer(client, Resources.ConfigMap, { namespace: ns, backoff: { initialMs: 100, maxMs: 400 } });
    t.after(() => inf.stop());
    const seen: string[] = [];
    inf.addHandler({
      onAdd: (o) => ours(o) && seen.push(`add ${o.metadata?.name}`),
      onUpdate: (_o, n) => ours(n) && seen.push(`update ${n.metadata?.name}`),
      onDelete: (o) => ours(o) && seen.push(`delete ${o.metadata?.name}`),
    });
    inf.start();
    await inf.waitForSync();
    assert.equal(inf.list({ namespace: ns }).filter(ours).length, 2);
    seen.length = 0;
    const lists0 = inf.stats.lists;

    // 1. cut the watch connection: the informer reconnects and relists
    await eventually("watching", () => inf.isWatching());
    proxy.cut();
    await admin.create(Resources.ConfigMap, cm("during-cut", { v: "1" }));
    await eventually("relisted after cut", () => inf.stats.lists > lists0 && inf.get("during-cut", ns));

    // 2. the apiserver "goes away" for a while: connections refused, several failed attempts
    await eventually("watching", () => inf.isWatching());
    proxy.refusing = true;
    proxy.cut();
    const errs0 = inf.stats.errors;
    await admin.apply(Resources.ConfigMap, cm("stays", { v: "2" }));
    await admin.delete(Resources.ConfigMap, "goes", ns);
    await admin.create(Resources.ConfigMap, cm("new", { v: "1" }));
    await eventually("several failed attempts", () => inf.stats.errors >= errs0 + 2);
    assert.ok(inf.get("goes", ns), "stale cache while disconnected");
    proxy.refusing = false;
    await eventually("cache right again", () =>
      !inf.get("goes", ns) && inf.get("new", ns) && (inf.get("stays", ns)?.data as Record<string, string>).v === "2");
    assert.ok(seen.includes("delete goes"), "delete synthesised from the relist");
    assert.ok(seen.includes("add new"));
    assert.ok(seen.includes("update stays"));

    // 3. the informer keeps watching normally afterwards
    await admin.create(Resources.ConfigMap, cm("after", { v: "1" }));
    await eventually("watch works again", () => inf.get("after", ns));
    await inf.stop();
    await proxy.stop();
    for (const n of ["stays", "during-cut", "new", "after"]) await admin.delete(Resources.ConfigMap, n, ns);
  });

  test("410 Gone (watch from a compacted resourceVersion) → relist at once; forced watch error → relist", { skip: ownClusterOnly("apiserver flags --etcd-compaction-interval=2s --watch-cache-sizes=secrets#0") }, async (t) => {
    const secret = (name: string): KubeObject => ({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns } });
    const watches = controllableWatches(admin); // the seam that ends watch streams on demand
    const inf = new Informer(watches.client, Resources.Secret, { namespace: ns, backoff: { initialMs: 50, maxMs: 200 } });
    t.after(() => inf.stop());
    inf.start();
    await inf.waitForSync();
    const lists0 = inf.stats.lists;
    const errors0 = inf.stats.errors;
    await admin.create(Resources.Secret, secret("g1"));
    // precondition: etcd has compacted past resourceVersion 1 (a raw watch from it answers 410)
    await eventually("etcd compacted past rv 1", async () => {
      const body = await admin.stream(collectionPath(Resources.Secret, ns), { watch: true, resourceVersion: "1", timeoutSeconds: 1 }, AbortSignal.timeout(5000));
      const text = await new Response(body).text();
      return text.includes('"code":410');
    }, 30_000);
    await eventually("watching", () => inf.isWatching());
    watches.rewatchFrom("1");
    await eventually("relisted on 410", () => inf.stats.lists === lists0 + 1);
    assert.equal(inf.stats.errors, errors0, "410 is not an error, no backoff");
    await eventually("g1 cached", () => inf.get("g1", ns));
    await eventually("watching", () => inf.isWatching());
    watches.breakWatch();
    await eventually("relisted on error", () => inf.stats.lists === lists0 + 2);
    assert.equal(inf.stats.errors, errors0 + 1);
    await admin.create(Resources.Secret, secret("g2"));
    await eventually("g2 cached", () => inf.get("g2", ns));
  });

  test("a watch that the server closes (timeoutSeconds) resumes without relisting", async (t) => {
    const inf = new Informer(admin, Resources.ConfigMap, { namespace: ns, watchTimeoutSeconds: [1, 1] });
    t.after(() => inf.stop());
    inf.start();
    await inf.waitForSync();
    await sleep(2500);
    assert.equal(inf.stats.lists, 1, "no relist");
    assert.ok(inf.stats.watches >= 2, `re-watched (${inf.stats.watches})`);
    await admin.create(Resources.ConfigMap, cm("t1", {}));
    await eventually("t1 cached", () => inf.get("t1", ns));
    await inf.stop();
  });
});

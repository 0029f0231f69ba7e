// The harness itself: two clusters side by side, clean shutdown, and reuse of an
// existing cluster through KUBECONFIG when asked.
import { CoreV1Api } from "@kubernetes/client-node";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { test } from "node:test";
import { ownClusterOnly, startTestCluster } from "../cluster/harness.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
  });
}

test("two clusters run at once and stop without leftovers; KUBECONFIG is honoured on request", { skip: ownClusterOnly("it starts and stops clusters itself") }, async () => {
  const [a, b] = await Promise.all([
    startTestCluster({ controllerManager: false, scheduler: false }),
    startTestCluster({ controllerManager: false, scheduler: false }),
  ]);
  assert.ok(a.state && b.state);
  assert.notEqual(a.state.ports.apiserver, b.state.ports.apiserver);
  assert.notEqual(a.dir, b.dir);

  // Each is its own cluster: a namespace made in one is absent from the other.
  await a.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: "only-in-a" } } });
  const inB = await b.kubeConfig.makeApiClient(CoreV1Api).listNamespace();
  assert.ok(!inB.items.some((n) => n.metadata?.name === "only-in-a"));

  // An existing cluster, named by KUBECONFIG, is used and left running by stop().
  const saved = { use: process.env.PASV_USE_EXISTING_CLUSTER, kc: process.env.KUBECONFIG };
  process.env.PASV_USE_EXISTING_CLUSTER = "1";
  process.env.KUBECONFIG = a.kubeconfigPath;
  try {
    const reused = await startTestCluster();
    assert.equal(reused.state, null);
    const seen = await reused.kubeConfig.makeApiClient(CoreV1Api).listNamespace();
    assert.ok(seen.items.some((n) => n.metadata?.name === "only-in-a"));
    await reused.stop();
    assert.ok(Object.values(a.state.pids).every(alive), "reused cluster still running after stop()");
  } finally {
    if (saved.use === undefined) delete process.env.PASV_USE_EXISTING_CLUSTER;
    else process.env.PASV_USE_EXISTING_CLUSTER = saved.use;
    if (saved.kc === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved.kc;
  }

  const pids = [...Object.values(a.state.pids), ...Object.values(b.state.pids)];
  const ports = [a.state.ports.apiserver, a.state.ports.etcd, b.state.ports.apiserver, b.state.ports.etcd];
  const dirs = [a.dir, b.dir];
  await Promise.all([a.stop(), b.stop()]);
  assert.deepEqual(pids.filter(alive), [], "no process left");
  for (const p of ports) assert.ok(await portFree(p), `port ${p} free again`);
  for (const d of dirs) assert.ok(!existsSync(d), `${d} removed`);
});

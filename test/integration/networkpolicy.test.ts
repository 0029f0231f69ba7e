// The FtpServer's NetworkPolicy on a real control plane: the operator creates it with the
// FtpServer (admitted by the real API server, owned by the FtpServer), it follows the passive
// range, the control port, host-name addresses and active mode, is deleted when switched off and
// re-created when switched on again or deleted behind the operator's back, and a no-op resync
// writes nothing. (This node's bridge CNI does not enforce NetworkPolicy: the objects are the
// test; docs/operator.md says which CNIs enforce them.)
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return -- plain JSON objects */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Operator } from "../../operator/src/controller/operator.ts";
import type { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources } from "../../operator/src/runtime/types.ts";
import { CHART, must, parseDocs, tools } from "./chart-lib.ts";
import { FtpServers, eventually, ftpServerObject, startTestEnv, type TestEnv } from "./operator-helpers.ts";

const ns = "ftp-np";
let env: TestEnv;
let client: ApiClient;
let op: Operator;

before(async () => {
  env = await startTestEnv({ namespace: ns, usersSecrets: ["u"], operator: true });
  ({ client, operator: op } = env);
});
after(() => env?.stop());

const policy = () => client.get<any>(Resources.NetworkPolicy, "files", ns);
const ingressPorts = (np: any) => np?.spec?.ingress?.[0]?.ports;
const patch = (spec: Record<string, unknown>) => client.mergePatch(FtpServers, "files", ns, { spec });

test("created with the FtpServer: exactly its ports in, nothing out, owned by it", async () => {
  await client.create(FtpServers, ftpServerObject("files", ns, { passive: { basePort: 30000, numberOfPorts: 20 }, users: { secretName: "u" } }));
  const np = await eventually("NetworkPolicy", policy);
  assert.deepEqual(np.spec.podSelector.matchLabels, { "app.kubernetes.io/name": "ftp-server", "app.kubernetes.io/instance": "files", "ftp.pasv.dev/server": "files" });
  assert.deepEqual(ingressPorts(np), [{ protocol: "TCP", port: 21 }, { protocol: "TCP", port: 30000, endPort: 30019 }]);
  assert.deepEqual(np.spec.ingress[1], { from: [{ namespaceSelector: {} }], ports: [{ protocol: "TCP", port: 9100 }] });
  assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
  assert.equal(np.spec.egress, undefined, "the API server stores an empty egress list as none: deny all");
  const fs = await client.get<any>(FtpServers, "files", ns);
  assert.equal(np.metadata.ownerReferences[0].uid, fs.metadata.uid);
  assert.equal(fs.spec.networkPolicy, undefined, "nothing defaulted into the stored FtpServer");
});

test("follows the range, the control port, host-name addresses (DNS) and active mode; ftpFrom restricts the clients", async () => {
  await patch({ controlPort: 2121, passive: { basePort: 31000, numberOfPorts: 50 } });
  await eventually("range and control port", async () => {
    const p = ingressPorts(await policy());
    return JSON.stringify(p) === JSON.stringify([{ protocol: "TCP", port: 2121 }, { protocol: "TCP", port: 31000, endPort: 31049 }]);
  });
  await patch({ activeMode: true, passive: { basePort: 31000, numberOfPorts: 50, addressRules: [{ userClass: "*", address: "ftp.example.com" }] } });
  const np = await eventually("active mode and DNS egress", async () => {
    const n = await policy();
    return (n?.spec?.egress?.length ?? 0) === 2 ? n : undefined;
  });
  assert.deepEqual(np.spec.egress, [
    { ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] },
    { to: [{ ipBlock: { cidr: "0.0.0.0/0" } }, { ipBlock: { cidr: "::/0" } }], ports: [{ protocol: "TCP", port: 1, endPort: 65535 }] },
  ]);
  await patch({ activeMode: false, networkPolicy: { ftpFrom: ["203.0.113.0/24"] } });
  await eventually("active mode off, clients restricted", async () => {
    const n = await policy();
    return n?.spec?.egress?.length === 1 && JSON.stringify(n.spec.ingress[0].from) === JSON.stringify([{ ipBlock: { cidr: "203.0.113.0/24" } }]);
  });
});

test("admission refuses a bad CIDR", async () => {
  await assert.rejects(patch({ networkPolicy: { ftpFrom: ["not-a-cidr"] } }), /must be a CIDR/);
});

test("switched off → deleted; on again → re-created; deleted behind our back → re-created", async () => {
  await patch({ networkPolicy: { enabled: false } });
  await eventually("deleted", async () => (await policy()) === undefined);
  await patch({ networkPolicy: { enabled: true } });
  await eventually("re-created", policy);
  await client.delete(Resources.NetworkPolicy, "files", ns);
  await eventually("re-created after a delete", policy, 30_000);
});

test("a no-op reconcile writes no NetworkPolicy", async () => {
  const reconciles = async () => (await op.manager.metrics.reconcileTotal.get()).values.reduce((n, v) => n + v.value, 0);
  // Settled: nothing queued and no NetworkPolicy write for a second (a reconcile of the previous
  // test may still be in flight after the queue is empty).
  const npWrites = () => op.manager.client.writes.count({ resource: "networkpolicies" });
  let seen = -1;
  await eventually("settled", async () => {
    const now = npWrites();
    const still = now === seen && op.controller.queue.length === 0;
    seen = now;
    if (!still) await new Promise((r) => setTimeout(r, 1000));
    return still;
  }, 30_000);
  const writes = npWrites();
  const r0 = await reconciles();
  op.controller.enqueue(`${ns}/files`);
  await eventually("reconciled again", async () => (await reconciles()) > r0 && op.controller.queue.length === 0);
  assert.equal(op.manager.client.writes.count({ resource: "networkpolicies" }), writes);
});

test("the chart's opt-in NetworkPolicy for the operator is accepted by the API server and admits its port", async () => {
  const { helm } = tools();
  for (const sets of [["networkPolicy.enabled=true"], ["networkPolicy.enabled=true", "networkPolicy.apiServerCIDRs={10.0.0.1/32}", "httpPort=9443"]]) {
    const docs = parseDocs(await must(helm, ["template", "t", CHART, "-n", ns, ...sets.flatMap((s) => ["--set", s])]));
    const np = docs.find((d) => d.kind === "NetworkPolicy") as any;
    assert.ok(np, "rendered when enabled");
    const stored = await client.request<any>("POST", `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, { body: np, query: { dryRun: "All" } });
    assert.equal(stored.spec.ingress[0].ports[0].port, sets.includes("httpPort=9443") ? 9443 : 8080);
    assert.deepEqual((stored.spec.egress[0].ports as { port: number }[]).map((p) => p.port), [443, 6443]);
    assert.deepEqual(stored.spec.egress[0].to, sets.length > 1 ? [{ ipBlock: { cidr: "10.0.0.1/32" } }] : undefined);
  }
  const off = parseDocs(await must(helm, ["template", "t", CHART, "-n", ns]));
  assert.ok(!off.some((d) => d.kind === "NetworkPolicy"), "off by default");
});

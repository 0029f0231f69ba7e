// spec.podTemplate on a real control plane (etcd + kube-apiserver + kube-controller-manager, no
// kubelet): every field applied to an FtpServer is read back from the StatefulSet the operator
// wrote; a change to one field is followed; a no-op resync then writes nothing (no perpetual diff
// from API-server defaulting or field order); admission refuses the operator's own labels.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return -- plain JSON objects */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Operator } from "../../operator/src/controller/operator.ts";
import { selectorLabels } from "../../operator/src/controller/model.ts";
import { defaultTopologySpread } from "../../operator/src/controller/statefulset.ts";
import type { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources, type ResourceType } from "../../operator/src/runtime/types.ts";
import { uniqueName } from "../cluster/harness.ts";
import { EVERY_FIELD, validBase } from "../unit/operator/fixtures.ts";
import { FtpServers, eventually, ftpServerObject, startTestEnv, type TestEnv } from "./operator-helpers.ts";

const ns = uniqueName("ftp-podtpl");
const PriorityClasses: ResourceType = { apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", plural: "priorityclasses", namespaced: false };

describe("spec.podTemplate → StatefulSet (real API server)", () => {
  let env: TestEnv;
  let client: ApiClient;
  let op: Operator;

  const reconciles = async () => (await op.manager.metrics.reconcileTotal.get()).values.reduce((a, v) => a + v.value, 0);
  /** Queue empty and no reconcile and no write for `quietMs`. */
  const waitIdle = async (quietMs = 1000) => {
    let last = "";
    await eventually(
      "operator idle",
      async () => {
        const now = `${await reconciles()}/${op.manager.client.writes.count({ exclude: ["leases", "events"] })}`;
        const idle = now === last && op.controller.queue.length === 0;
        last = now;
        return idle;
      },
      60_000,
      quietMs,
    );
  };
  const sts = (name: string) => client.get<any>(Resources.StatefulSet, name, ns);
  const template = async (name: string) => (await sts(name))?.spec.template;

  before(async () => {
    env = await startTestEnv({ namespace: ns, usersSecrets: ["u"], operator: true });
    ({ client, operator: op } = env);
    // Before any FtpServer names it (pod admission resolves the class; the operator never reads it).
    await client.create(PriorityClasses, { apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: "ftp-critical" }, value: 1000 } as any);
  });
  after(() => env?.stop());

  test("every field is in the StatefulSet's pod template as applied", async () => {
    await client.create(FtpServers, ftpServerObject("every", ns, { ...validBase, podTemplate: EVERY_FIELD }));
    const t = await eventually("StatefulSet", () => template("every"));
    const want = EVERY_FIELD;
    const problems: string[] = [];
    const same = (what: string, got: unknown, expected: unknown) => {
      try {
        assert.deepEqual(got, expected);
      } catch {
        problems.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
      }
    };
    for (const [k, v] of Object.entries(want.metadata.labels)) same(`labels.${k}`, t.metadata.labels[k], v);
    same("labels keep the selector", Object.fromEntries(Object.keys(selectorLabels("every")).map((k) => [k, t.metadata.labels[k]])), selectorLabels("every"));
    same("annotations", t.metadata.annotations, want.metadata.annotations);
    same("imagePullSecrets", t.spec.imagePullSecrets, want.spec.imagePullSecrets);
    same("nodeSelector", t.spec.nodeSelector, want.spec.nodeSelector);
    same("tolerations", t.spec.tolerations, want.spec.tolerations);
    same("affinity", t.spec.affinity, want.spec.affinity);
    same("topologySpreadConstraints", t.spec.topologySpreadConstraints, [{ ...want.spec.topologySpreadConstraints[0], labelSelector: { matchLabels: selectorLabels("every") } }]);
    same("priorityClassName", t.spec.priorityClassName, want.spec.priorityClassName);
    same("serviceAccountName", t.spec.serviceAccountName, want.spec.serviceAccountName);
    assert.deepEqual(problems, []);
  });

  test("no podTemplate: the default spread (nodes, zones; ScheduleAnyway; this FtpServer's pods) in the StatefulSet", async () => {
    await client.create(FtpServers, ftpServerObject("plain", ns, validBase));
    const t = await eventually("StatefulSet", () => template("plain"));
    assert.deepEqual(t.spec.topologySpreadConstraints, defaultTopologySpread("plain"));
    assert.equal(t.spec.affinity, undefined, "PortPartitioned sets no affinity of its own");
  });

  test("ClientIPAffinity with a user anti-affinity: both terms in the StatefulSet", async () => {
    await client.create(FtpServers, ftpServerObject("sticky", ns, { ...validBase, routing: { mode: "ClientIPAffinity" }, podTemplate: { spec: { affinity: EVERY_FIELD.spec.affinity } } }));
    const t = await eventually("StatefulSet", () => template("sticky"));
    const req = t.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    assert.deepEqual(req, [
      ...EVERY_FIELD.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution,
      { labelSelector: { matchLabels: selectorLabels("sticky") }, topologyKey: "kubernetes.io/hostname" },
    ]);
  });

  // One change per field, each followed by the StatefulSet.
  const changes: [string, Record<string, unknown>, (t: any) => unknown, unknown][] = [
    ["a label", { metadata: { labels: { team: "network" } } }, (t) => t.metadata.labels.team, "network"],
    ["an annotation", { metadata: { annotations: { "example.com/owner": "noc@example.com" } } }, (t) => t.metadata.annotations["example.com/owner"], "noc@example.com"],
    ["imagePullSecrets", { spec: { imagePullSecrets: [{ name: "registry-c" }] } }, (t) => t.spec.imagePullSecrets, [{ name: "registry-c" }]],
    ["nodeSelector", { spec: { nodeSelector: { "kubernetes.io/os": null, pool: "edge" } } }, (t) => t.spec.nodeSelector, { pool: "edge" }],
    ["tolerations (empty strings dropped)", { spec: { tolerations: [{ key: "", operator: "Exists", value: "" }] } }, (t) => t.spec.tolerations, [{ operator: "Exists" }]],
    ["affinity", { spec: { affinity: { podAffinity: null, podAntiAffinity: null, nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: null, preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: "disk", operator: "Exists" }] } }] } } } }, (t) => t.spec.affinity, { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: "disk", operator: "Exists" }] } }] } }],
    ["topologySpreadConstraints removed (back to the default)", { spec: { topologySpreadConstraints: null } }, (t) => t.spec.topologySpreadConstraints, defaultTopologySpread("every")],
    ["topologySpreadConstraints [] (no spread)", { spec: { topologySpreadConstraints: [] } }, (t) => t.spec.topologySpreadConstraints, undefined],
    ["priorityClassName removed", { spec: { priorityClassName: null } }, (t) => t.spec.priorityClassName, undefined],
    ["serviceAccountName", { spec: { serviceAccountName: "ftp-pods-2" } }, (t) => t.spec.serviceAccountName, "ftp-pods-2"],
  ];
  test(`${changes.length} changes, one field at a time: the StatefulSet follows each; then a no-op resync writes nothing`, async () => {
    for (const [what, patch, pick, expected] of changes) {
      const before = (await sts("every")).metadata.generation;
      await client.mergePatch(FtpServers, "every", ns, { spec: { podTemplate: patch } });
      await eventually(`StatefulSet follows: ${what}`, async () => {
        const s = await sts("every");
        try {
          assert.deepEqual(pick(s.spec.template), expected);
          return s.metadata.generation > before;
        } catch {
          return false;
        }
      });
    }
    await waitIdle();
    const before = op.manager.client.writes.records.length;
    const r0 = await reconciles();
    await op.controller.stop();
    op.controller.start();
    await eventually("resync reconciled", async () => (await reconciles()) >= r0 + 3);
    await waitIdle();
    assert.deepEqual(
      op.manager.client.writes.records.slice(before).filter((r) => r.resource !== "leases" && r.resource !== "events"),
      [],
      "writes during a no-op resync of FtpServers with every pod-template field",
    );
  });

  test("admission refuses the operator's labels, on create and on update, naming them", async () => {
    for (const label of ["app.kubernetes.io/instance", "ftp.pasv.dev/server", "apps.kubernetes.io/pod-index"]) {
      await assert.rejects(
        client.create(FtpServers, ftpServerObject("reserved", ns, { ...validBase, podTemplate: { metadata: { labels: { [label]: "x" } } } })),
        (err: any) => err.statusCode === 422 && /spec.podTemplate.metadata.labels must not set the operator's labels .*they select this FtpServer's pods/.test(err.message),
        label,
      );
    }
    await assert.rejects(
      client.mergePatch(FtpServers, "plain", ns, { spec: { podTemplate: { metadata: { labels: { "app.kubernetes.io/name": "other" } } } } }),
      (err: any) => err.statusCode === 422 && /must not set the operator's labels/.test(err.message),
    );
    await assert.rejects(
      client.create(FtpServers, ftpServerObject("badkey", ns, { ...validBase, podTemplate: { metadata: { annotations: { "not a key": "x" } } } })),
      (err: any) => err.statusCode === 422 && /keys must be qualified names/.test(err.message),
    );
  });
});

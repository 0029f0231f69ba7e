/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return -- test fixtures poke at plain JSON */
// spec.podTemplate → the StatefulSet's pod template (statefulset.ts podSettings): every field
// applied, the defaults (spread), the merge with the operator's own labels and affinity.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateSpec, type SpecInput } from "../../../operator/src/api/v1alpha1.ts";
import { effective, selectorLabels } from "../../../operator/src/controller/model.ts";
import { buildStatefulSet, defaultTopologySpread } from "../../../operator/src/controller/statefulset.ts";
import { EVERY_FIELD, ftpServer } from "./fixtures.ts";

const podOf = (spec: Partial<SpecInput>) => {
  const fs = ftpServer(spec, "files");
  return (buildStatefulSet(fs, effective(fs.spec)) as any).spec.template;
};


describe("spec.podTemplate → StatefulSet pod template", () => {
  it("the full example is valid", () => {
    const r = validateSpec({ passive: { basePort: 30000, numberOfPorts: 10 }, users: { secretName: "u" }, podTemplate: EVERY_FIELD });
    assert.ok(r.ok, JSON.stringify(r));
  });

  it("every field lands in the template", () => {
    const t = podOf({ podTemplate: EVERY_FIELD as any });
    assert.equal(t.metadata.labels.team, "storage");
    assert.equal(t.metadata.labels["example.com/tier"], "gold");
    assert.deepEqual(t.metadata.annotations, EVERY_FIELD.metadata.annotations);
    assert.deepEqual(t.spec.imagePullSecrets, EVERY_FIELD.spec.imagePullSecrets);
    assert.deepEqual(t.spec.nodeSelector, EVERY_FIELD.spec.nodeSelector);
    assert.deepEqual(t.spec.tolerations, EVERY_FIELD.spec.tolerations);
    assert.deepEqual(t.spec.affinity, EVERY_FIELD.spec.affinity, "PortPartitioned adds nothing to the user's affinity");
    assert.equal(t.spec.priorityClassName, "ftp-critical");
    assert.equal(t.spec.serviceAccountName, "ftp-pods");
    assert.equal(t.spec.automountServiceAccountToken, false, "still no API token in the pod");
  });

  it("given spread constraints replace the default; one without labelSelector counts this FtpServer's pods", () => {
    const t = podOf({ podTemplate: EVERY_FIELD as any });
    assert.deepEqual(t.spec.topologySpreadConstraints, [{ ...EVERY_FIELD.spec.topologySpreadConstraints[0], labelSelector: { matchLabels: selectorLabels("files") } }]);
    const own = { maxSkew: 1, topologyKey: "rack", whenUnsatisfiable: "DoNotSchedule" as const, labelSelector: { matchLabels: { anything: "x" } } };
    assert.deepEqual(podOf({ podTemplate: { spec: { topologySpreadConstraints: [own] } } }).spec.topologySpreadConstraints, [own]);
  });

  it("default: spread across nodes and zones, maxSkew 1, ScheduleAnyway, selecting only this FtpServer's pods", () => {
    const t = podOf({});
    assert.deepEqual(t.spec.topologySpreadConstraints, defaultTopologySpread("files"));
    const [host, zone] = t.spec.topologySpreadConstraints;
    assert.deepEqual(host, { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selectorLabels("files") } });
    assert.equal(zone.topologyKey, "topology.kubernetes.io/zone");
    assert.equal(zone.whenUnsatisfiable, "ScheduleAnyway");
    // the selector is exactly the StatefulSet's (another FtpServer's pods are not counted)
    const fs = ftpServer({}, "files");
    assert.deepEqual(host.labelSelector.matchLabels, (buildStatefulSet(fs, effective(fs.spec)) as any).spec.selector.matchLabels);
    assert.equal(host.labelSelector.matchLabels["ftp.pasv.dev/server"], "files");
    // nothing else is set by default
    for (const k of ["imagePullSecrets", "nodeSelector", "tolerations", "affinity", "priorityClassName", "serviceAccountName"]) assert.equal(t.spec[k], undefined, k);
    assert.equal(t.metadata.annotations, undefined);
  });

  it("[] turns the default spread off", () => {
    assert.equal(podOf({ podTemplate: { spec: { topologySpreadConstraints: [] } } }).spec.topologySpreadConstraints, undefined);
  });

  it("the operator's labels win; a user label cannot replace a selector label even if stored before admission refused it", () => {
    const t = podOf({ podTemplate: { metadata: { labels: { team: "a", "app.kubernetes.io/instance": "other" } } } });
    assert.equal(t.metadata.labels["app.kubernetes.io/instance"], "files");
    assert.equal(t.metadata.labels.team, "a");
    const r = validateSpec({ passive: { basePort: 30000, numberOfPorts: 10 }, users: { secretName: "u" }, podTemplate: { metadata: { labels: { "app.kubernetes.io/instance": "other" } } } });
    assert.equal(r.ok, false, "and the operator reports it (Stalled) instead of applying it");
  });

  it("ClientIPAffinity: the one-pod-per-node term is added to the user's required anti-affinity, the user's terms kept", () => {
    const t = podOf({ routing: { mode: "ClientIPAffinity" } as any, podTemplate: EVERY_FIELD as any });
    const req = t.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    assert.equal(req.length, 2);
    assert.deepEqual(req[0], EVERY_FIELD.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]);
    assert.deepEqual(req[1], { labelSelector: { matchLabels: selectorLabels("files") }, topologyKey: "kubernetes.io/hostname" });
    assert.deepEqual(t.spec.affinity.nodeAffinity, EVERY_FIELD.spec.affinity.nodeAffinity);
    // and with no user affinity it is the only term
    const bare = podOf({ routing: { mode: "ClientIPAffinity" } as any });
    assert.deepEqual(bare.spec.affinity, { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [req[1]] } });
  });

  it("the builder does not modify the FtpServer it reads (the user's affinity is copied)", () => {
    const fs = ftpServer({ routing: { mode: "ClientIPAffinity" } as any, podTemplate: EVERY_FIELD as any }, "files");
    const before = JSON.stringify(fs.spec.podTemplate);
    buildStatefulSet(fs, effective(fs.spec));
    buildStatefulSet(fs, effective(fs.spec));
    assert.equal(JSON.stringify(fs.spec.podTemplate), before);
  });

  it("tolerations lose their empty strings (the API server drops them; keeping them would re-apply on every resync)", () => {
    const t = podOf({ podTemplate: { spec: { tolerations: [{ key: "", operator: "Exists", value: "" }] } } });
    assert.deepEqual(t.spec.tolerations, [{ operator: "Exists" }]);
  });

  it("serviceAccountName: the pod template's, else storage.s3's", () => {
    const s3 = { type: "S3", s3: { bucket: "files", serviceAccountName: "s3-reader" } } as any;
    assert.equal(podOf({ storage: s3 }).spec.serviceAccountName, "s3-reader");
    assert.equal(podOf({ storage: s3, podTemplate: { spec: { serviceAccountName: "s3-reader" } } }).spec.serviceAccountName, "s3-reader");
    assert.equal(podOf({ podTemplate: { spec: { serviceAccountName: "ftp-pods" } } }).spec.serviceAccountName, "ftp-pods");
  });

  it("a template change changes the pod template (the StatefulSet rolls); no podTemplate = the template of before plus the spread", () => {
    const a = podOf({});
    const b = podOf({ podTemplate: { metadata: { annotations: { "example.com/rev": "2" } } } });
    assert.notDeepEqual(a, b);
    assert.deepEqual({ ...b, metadata: { labels: b.metadata.labels } }, a);
  });
});

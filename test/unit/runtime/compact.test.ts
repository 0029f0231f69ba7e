// Compact entries (runtime/compact.ts): the fingerprint is taken once per object version, and an
// entry whose fingerprint the memo does not know still carries its view (so the skip rule can
// decide and drift is repaired).
import { test } from "node:test";
import assert from "node:assert/strict";
import { AppliedMemo, compactOwned, fingerprint, fingerprintOf, viewOf } from "../../../operator/src/runtime/compact.ts";
import { needsApply } from "../../../operator/src/runtime/ssa.ts";
import { Resources, type KubeObject } from "../../../operator/src/runtime/types.ts";

const ours = (ports: number[]) => ({
  manager: "pasv-operator", operation: "Apply", apiVersion: "v1", fieldsType: "FieldsV1",
  fieldsV1: {
    "f:metadata": { "f:labels": { "f:app": {} } },
    "f:spec": { "f:ports": Object.fromEntries(ports.map((p) => [`k:{"port":${p},"protocol":"TCP"}`, { ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {} }])) },
  },
});

function svc(rv: string, ports = [21, 30000], uid = "u1"): KubeObject {
  return {
    apiVersion: "v1", kind: "Service",
    metadata: { name: "s", namespace: "n", uid, resourceVersion: rv, labels: { app: "x" }, managedFields: [ours(ports)] },
    spec: { clusterIP: "10.0.0.1", ports: ports.map((p) => ({ name: `p${p}`, port: p, protocol: "TCP" })) },
  };
}

const S = Resources.Service;
const OPTS = { keep: [["spec", "clusterIP"]] };

test("a compact entry of an unknown object keeps its view; the same version is fingerprinted once", () => {
  const memo = new AppliedMemo();
  const transform = compactOwned(S, memo, OPTS);
  const a = transform(svc("5"));
  const fa = fingerprintOf(a)!;
  assert.equal(fa.hash, fingerprint(svc("5"), OPTS).hash, "the hash is the fingerprint of the object");
  assert.ok(fa.view, "unknown to the memo: the view stays for the full rule");
  const b = transform(svc("5"));
  assert.equal(fingerprintOf(b), fa, "same uid and resourceVersion: the same Fingerprint");
  assert.deepEqual(memo.stats, { taken: 1, reused: 1 });
  transform(svc("6"));
  assert.equal(memo.stats.taken, 2, "a new resourceVersion is fingerprinted again");
  transform(svc("6", [21, 30000], "u2"));
  assert.equal(memo.stats.taken, 3, "a new uid (re-created object) is fingerprinted again");
});

test("remembering the apply answer's version drops the view an earlier echo left in the cache", () => {
  const memo = new AppliedMemo();
  const transform = compactOwned(S, memo, OPTS);
  const echo = transform(svc("7")); // the watch echo arrived before the apply's answer
  assert.ok(fingerprintOf(echo)!.view);
  // what Applier.apply does with the answer
  const fp = memo.fingerprintVersion(S, svc("7"), { ...OPTS });
  assert.equal(fp, fingerprintOf(echo));
  memo.remember(S, svc("7"), "desired-hash", fp.hash);
  delete fp.view;
  assert.equal(fingerprintOf(echo)!.view, undefined, "the cached entry needs only its hash now");
  assert.equal(memo.inSync(S, echo, "desired-hash", fingerprintOf(echo)!.hash), true);
  assert.equal(memo.stats.taken, 1);
});

test("drift: a changed object is not known, keeps its view, and a dropped view is never reused for an unknown hash", () => {
  const memo = new AppliedMemo();
  const transform = compactOwned(S, memo, OPTS);
  const a = transform(svc("8"));
  memo.remember(S, a, "d", fingerprintOf(a)!.hash);
  assert.ok(transform(svc("8")) && fingerprintOf(transform(svc("8")))!.view === undefined, "known: no view");
  // someone else removed a port we own: new version, new fingerprint, view kept
  const drifted = transform(svc("9", [21]));
  assert.notEqual(fingerprintOf(drifted)!.hash, fingerprintOf(a)!.hash);
  assert.equal(memo.knows(S, drifted, fingerprintOf(drifted)!.hash), false);
  assert.ok(fingerprintOf(drifted)!.view, "the full rule decides on the view");
  assert.equal(memo.inSync(S, drifted, "d", fingerprintOf(drifted)!.hash), false, "not skipped: the drift is repaired");
  // a version whose view was dropped while known, seen again after the memo forgot it
  const memo2 = new AppliedMemo();
  const t2 = compactOwned(S, memo2, OPTS);
  const c = t2(svc("10"));
  memo2.remember(S, c, "d", fingerprintOf(c)!.hash);
  delete fingerprintOf(c)!.view;
  memo2.remember(S, c, "d", "another-hash"); // the memo now knows another fingerprint
  const again = t2(svc("10"));
  assert.ok(fingerprintOf(again)!.view, "taken again with its view, not reused without one");
  assert.equal(memo2.stats.taken, 2);
});

test("the kept view is deflated and parses back to what the skip rule reads", () => {
  const ports = Array.from({ length: 100 }, (_, i) => 30000 + i);
  const memo = new AppliedMemo();
  const entry = compactOwned(S, memo, OPTS)(svc("11", ports));
  const fp = fingerprintOf(entry)!;
  const view = viewOf(fp)!;
  const json = JSON.stringify(view);
  assert.ok(fp.view!.length * 5 < json.length, `packed ${fp.view!.length} chars for ${json.length} of JSON`);
  assert.equal((view.spec as { ports: unknown[] }).ports.length, 100, "the owned ports are in the view");
  assert.equal(view.metadata?.managedFields?.length, 1, "our managedFields entry is in the view");
  const desired: KubeObject = {
    apiVersion: "v1", kind: "Service", metadata: { name: "s", namespace: "n", labels: { app: "x" } },
    spec: { ports: ports.map((p) => ({ name: `p${p}`, port: p, protocol: "TCP" })) },
  };
  assert.equal(needsApply(desired, view, "pasv-operator"), false, "in sync on the parsed view");
  const drifted = viewOf(fingerprintOf(compactOwned(S, memo, OPTS)(svc("12", ports.slice(1))))!)!;
  assert.equal(needsApply(desired, drifted, "pasv-operator"), true, "a port we own removed: applied");
  assert.equal(viewOf({ hash: "h" }), undefined);
});

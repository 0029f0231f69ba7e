 
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { effective } from "../../../operator/src/controller/model.ts";
import { computeStatus, mergeConditions, passiveRangeSized, routingSound, withinProviderLimits } from "../../../operator/src/controller/status.ts";
import { storageShared } from "../../../operator/src/controller/storage.ts";
import { ftpServer } from "./fixtures.ts";

const eff = (spec: object) => effective(ftpServer(spec).spec);

describe("conditions", () => {
  it("PassiveRangeSized follows the 5x rule", () => {
    assert.equal(passiveRangeSized(eff({ passive: { basePort: 30000, numberOfPorts: 100, expectedConcurrentConnections: 20 } })).status, "True");
    const low = passiveRangeSized(eff({ passive: { basePort: 30000, numberOfPorts: 50, expectedConcurrentConnections: 20 } }));
    assert.deepEqual([low.status, low.reason], ["False", "BelowRecommendedSize"]);
    const bad = passiveRangeSized(eff({ passive: { basePort: 30000, numberOfPorts: 20, expectedConcurrentConnections: 20 } }));
    assert.deepEqual([bad.status, bad.reason], ["False", "RangeTooSmall"]);
  });
  it("RoutingSound: ClientIP affinity with replicas > 1 is per port unless a 2-tuple LB with Local", () => {
    assert.equal(routingSound(eff({ routing: { mode: "ClientIPAffinity" } })).reason, "PerPortAffinity");
    assert.equal(routingSound(eff({ replicas: 1, routing: { mode: "ClientIPAffinity" } })).reason, "SingleReplica");
    assert.equal(routingSound(eff({ routing: { mode: "ClientIPAffinity" }, service: { type: "LoadBalancer", provider: "GCP" } })).reason, "TwoTupleAffinity");
    assert.equal(routingSound(eff({})).reason, "PortPartitioned");
    assert.equal(routingSound(eff({ service: { type: "LoadBalancer", externalTrafficPolicy: "Local" } })).reason, "LocalPolicyPerPortEndpoints");
    assert.equal(routingSound(eff({ dataConnectionCheck: "Strict" })).reason, "SnatBreaksStrictCheck");
  });
  it("WithinProviderLimits: AWS NLB 50 listeners, NodePort pool", () => {
    const aws = withinProviderLimits(eff({ passive: { basePort: 30000, numberOfPorts: 60 }, service: { type: "LoadBalancer", provider: "AWSNLB" } }));
    assert.deepEqual([aws.status, aws.reason], ["False", "TooManyListeners"]);
    assert.match(aws.message, /49/);
    const pool = withinProviderLimits(eff({ passive: { basePort: 30000, numberOfPorts: 3000 } }));
    assert.deepEqual([pool.status, pool.reason], ["False", "NodePortPoolExhausted"]);
    assert.equal(withinProviderLimits(eff({ passive: { basePort: 30000, numberOfPorts: 3000 }, service: { type: "LoadBalancer", allocateLoadBalancerNodePorts: false } })).status, "True");
  });
  it("StorageShared: False with per-pod storage and replicas > 1 (uploads invisible from the other pods), True when shared or alone", () => {
    const empty = storageShared(eff({ replicas: 3 }));
    assert.deepEqual([empty.status, empty.reason], ["False", "PerPodStorage"]);
    assert.match(empty.message, /uploads through one pod are invisible from the others/);
    const pvc = storageShared(eff({ replicas: 2, storage: { type: "PersistentVolumeClaim", size: "1Gi" } }));
    assert.deepEqual([pvc.status, pvc.reason], ["False", "PerPodStorage"]);
    assert.match(pvc.message, /one PersistentVolumeClaim per pod/);
    const shared = storageShared(eff({ replicas: 3, storage: { type: "SharedClaim", claimName: "ftp-files" } }));
    assert.deepEqual([shared.status, shared.reason], ["True", "SharedClaim"]);
    assert.equal(storageShared(eff({ replicas: 1 })).reason, "SingleReplica");
    // a problem: Warning Event on transition (mergeConditions' newProblems), but Ready is not blocked
    const fs = ftpServer({ replicas: 3 });
    const r = computeStatus({ fs, eff: effective(fs.spec), childrenApplied: true, routingConsistent: true, replicas: 3, observedReplicas: 3, readyReplicas: 3, workloadUpdated: true,
      address: { address: "198.51.100.7", resolved: true, reason: "LoadBalancerIP", message: "" }, workloadReadiness: "pods" });
    assert.equal(r.conditions.find((c) => c.type === "Ready")?.status, "True");
    const merged = mergeConditions(r.conditions, undefined, 3, "2026-12-01T00:00:00Z");
    assert.ok(merged.newProblems.some((c) => c.type === "StorageShared"));
  });
  it("Ready/Reconciling/Stalled", () => {
    const fs = ftpServer();
    const base = { fs, eff: effective(fs.spec), childrenApplied: true, routingConsistent: true, replicas: 2, observedReplicas: 1, readyReplicas: 0, workloadUpdated: true };
    const addr = { address: "198.51.100.7", resolved: true, reason: "LoadBalancerIP", message: "" };
    const byType = (r: ReturnType<typeof computeStatus>) => Object.fromEntries(r.conditions.map((c) => [c.type, `${c.status}/${c.reason}`]));
    assert.equal(byType(computeStatus({ ...base, address: addr, workloadReadiness: "applied" })).Ready, "True/Ready");
    assert.equal(byType(computeStatus({ ...base, address: addr, workloadReadiness: "pods" })).Ready, "False/WaitingForPods");
    const pending = byType(computeStatus({ ...base, address: { address: null, resolved: false, reason: "WaitingForLoadBalancer", message: "" }, workloadReadiness: "applied" }));
    assert.equal(pending.Ready, "False/WaitingForLoadBalancer");
    assert.equal(pending.Reconciling, "True/WaitingForLoadBalancer");
    const invalid = byType(computeStatus({ ...base, eff: undefined, invalidProblems: ["x"], workloadReadiness: "applied" }));
    assert.equal(invalid.Stalled, "True/InvalidSpec");
    const failed = byType(computeStatus({ ...base, address: addr, blocker: { reason: "ApplyFailed", message: "422", permanent: true }, workloadReadiness: "applied" }));
    assert.equal(failed.Stalled, "True/ApplyFailed");
    assert.equal(failed.Ready, "False/ApplyFailed");
    // a temporary cause reaches Ready too, but is not Stalled (it is retried)
    const flaky = byType(computeStatus({ ...base, address: addr, blocker: { reason: "TemporaryApiError", message: "500", permanent: false }, workloadReadiness: "applied" }));
    assert.deepEqual([flaky.Ready, flaky.Reconciling, flaky.Stalled], ["False/TemporaryApiError", "True/TemporaryApiError", "False/NotStalled"]);
    const forbidden = byType(computeStatus({ ...base, address: addr, workloadProblem: { reason: "PodsForbidden", message: "x" }, workloadReadiness: "applied" }));
    assert.equal(forbidden.Ready, "False/PodsForbidden");
    const r = computeStatus({ ...base, address: addr, workloadReadiness: "applied" });
    assert.equal(r.status.passive?.portEnd, 30009);
    assert.equal(r.status.observedGeneration, 3);
    assert.equal(r.status.replicas, 1, "status.replicas is what the StatefulSet observes, not spec.replicas");
  });
  it("mergeConditions keeps lastTransitionTime unless the status flips, and reports new problems once", () => {
    const c1 = [{ type: "AddressResolved", status: "False" as const, reason: "WaitingForLoadBalancer", message: "m" }];
    const a = mergeConditions(c1, undefined, 1, "2026-01-01T00:00:00Z");
    assert.equal(a.newProblems.length, 1);
    const b = mergeConditions(c1, a.conditions, 2, "2026-01-01T00:05:00Z");
    assert.equal(b.newProblems.length, 0);
    assert.equal(b.conditions[0]!.lastTransitionTime, "2026-01-01T00:00:00Z");
    const c = mergeConditions([{ ...c1[0]!, status: "True", reason: "LoadBalancerIP" }], b.conditions, 2, "2026-01-01T00:06:00Z");
    assert.equal(c.conditions[0]!.lastTransitionTime, "2026-01-01T00:06:00Z");
  });
});

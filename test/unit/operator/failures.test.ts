// Pure parts of the operator's failure handling: classifying what Kubernetes says about pods, the
// Secret checks (with the server's own parsers), ownership refusal, the recent-writes cache, and
// the Pod Security `restricted` pod spec.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument -- plain JSON */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Blocked, checkOwnership, checkSecrets } from "../../../operator/src/controller/prerequisites.ts";
import { RecentWrites } from "../../../operator/src/controller/reconciler.ts";
import { buildStatefulSet } from "../../../operator/src/controller/statefulset.ts";
import { effective } from "../../../operator/src/controller/model.ts";
import { containerProblem, failedCreate, failedMount, unschedulable } from "../../../operator/src/controller/workload.ts";
import { Resources, type KubeObject, type ResourceType } from "../../../operator/src/runtime/types.ts";
import { slimPod } from "../../../operator/src/runtime/slim.ts";
import { ftpServer } from "./fixtures.ts";

const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

describe("workload problems from Kubernetes", () => {
  it("FailedCreate: Pod Security → PodsForbidden, quota → QuotaExceeded, stale events ignored", () => {
    const psa = { reason: "FailedCreate", lastTimestamp: at(1000), message: 'create Pod f-0 in StatefulSet f failed error: pods "f-0" is forbidden: violates PodSecurity "restricted:latest": seccompProfile' };
    assert.deepEqual(failedCreate("ns/f", [psa])?.reason, "PodsForbidden");
    assert.match(failedCreate("ns/f", [psa])!.message, /StatefulSet ns\/f cannot create pods: .*violates PodSecurity/);
    const quota = { reason: "FailedCreate", lastTimestamp: at(1000), message: 'pods "f-0" is forbidden: exceeded quota: q' };
    assert.equal(failedCreate("ns/f", [quota])?.reason, "QuotaExceeded");
    assert.equal(failedCreate("ns/f", [{ ...psa, lastTimestamp: at(3_600_000) }]), undefined, "an hour-old event is history");
    assert.equal(failedMount("ns/f-0", [{ reason: "FailedMount", lastTimestamp: at(10), message: 'secret "u" not found' }])?.reason, "VolumeMountFailed");
  });
  it("a crash-looping container: reason and the termination message (the server's fatal error), through slimPod", () => {
    const pod = slimPod({
      apiVersion: "v1", kind: "Pod", metadata: { name: "f-0", namespace: "ns" },
      status: {
        phase: "Running",
        containerStatuses: [{
          name: "ftp-server", restartCount: 3, image: "x", imageID: "y", ready: false,
          state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container" } },
          lastState: { terminated: { exitCode: 1, reason: "Error", message: "cannot start: users file: users.0.password: password must be an scrypt hash", startedAt: "x" } },
        }],
      },
    });
    const p = containerProblem(pod);
    assert.equal(p?.reason, "CrashLoopBackOff");
    assert.match(p.message, /pod ns\/f-0 container ftp-server: CrashLoopBackOff.*exit code 1.*password must be an scrypt hash/);
    const creating = slimPod({ apiVersion: "v1", kind: "Pod", metadata: { name: "f-1" }, status: { containerStatuses: [{ name: "c", state: { waiting: { reason: "ContainerCreating" } } }] } });
    assert.equal(containerProblem(creating), undefined, "ContainerCreating is not a problem by itself");
  });
  it("a pod no node fits (PodScheduled False, Unschedulable) → PodUnschedulable with the scheduler's message, through slimPod", () => {
    const message = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
    const pod = slimPod({
      apiVersion: "v1", kind: "Pod", metadata: { name: "f-0", namespace: "ns" },
      status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message, lastTransitionTime: "x" }] },
    });
    const p = unschedulable(pod);
    assert.equal(p?.reason, "PodUnschedulable");
    assert.match(p.message, /pod ns\/f-0 cannot be scheduled: 0\/1 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector/);
    const scheduled = slimPod({ apiVersion: "v1", kind: "Pod", metadata: { name: "f-1" }, status: { conditions: [{ type: "PodScheduled", status: "True" }] } });
    assert.equal(unschedulable(scheduled), undefined);
    assert.equal((scheduled.status as any).conditions, undefined, "a scheduled pod keeps nothing extra in the cache");
  });
  it("PodUnschedulable under ClientIPAffinity names its one-pod-per-node rule as the likely cause", () => {
    const message = "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.";
    const pod = slimPod({
      apiVersion: "v1", kind: "Pod", metadata: { name: "f-1", namespace: "ns" },
      status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message }] },
    });
    const sticky = unschedulable(pod, "ClientIPAffinity");
    assert.match(sticky?.message ?? "", /anti-affinity rules\. \(routing\.mode ClientIPAffinity runs at most one pod per node: lower replicas/);
    assert.doesNotMatch(unschedulable(pod, "PortPartitioned")?.message ?? "", /ClientIPAffinity/);
  });
});

describe("prerequisites", () => {
  const secrets = (m: Record<string, Record<string, string> | undefined>) => ({
    get: <T,>(_t: ResourceType, name: string) => Promise.resolve((m[name] ? { data: m[name] } : undefined) as T | undefined),
  });
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const fs = ftpServer({ users: { secretName: "u", key: "users.json" } });
  const reason = async (p: Promise<void>) => {
    try {
      await p;
      return "ok";
    } catch (err) {
      assert.ok(err instanceof Blocked);
      return `${err.blocker.reason}: ${err.message}`;
    }
  };
  it("users Secret: missing, wrong key, invalid per the server's schema, valid", async () => {
    assert.match(await reason(checkSecrets(secrets({}), fs)), /^UsersSecretNotFound: Secret .*\/u /);
    assert.match(await reason(checkSecrets(secrets({ u: { other: b64("{}") } }), fs)), /^UsersFileInvalid: .*no key users.json.*other/);
    assert.match(await reason(checkSecrets(secrets({ u: { "users.json": b64('{"users":[{"name":"a","password":"x"}]}') } }), fs)), /^UsersFileInvalid: .*password must be an scrypt hash/);
    assert.match(await reason(checkSecrets(secrets({ u: { "users.json": b64("not json") } }), fs)), /^UsersFileInvalid: .*not valid JSON/);
    assert.equal(await reason(checkSecrets(secrets({ u: { "users.json": b64('{"users":[]}') } }), fs)), "ok");
  });
  it("TLS Secret: missing keys and a non-PEM pair are refused", async () => {
    const tlsFs = ftpServer({ users: { secretName: "u", key: "users.json" }, tls: { mode: "Explicit", secretName: "t" } } as any);
    const u = { "users.json": b64('{"users":[]}') };
    assert.match(await reason(checkSecrets(secrets({ u }), tlsFs)), /^TLSSecretNotFound: Secret .*\/t /);
    assert.match(await reason(checkSecrets(secrets({ u, t: { "tls.crt": b64("x") } }), tlsFs)), /^TLSSecretInvalid: .*needs the keys tls.crt and tls.key/);
    assert.match(await reason(checkSecrets(secrets({ u, t: { "tls.crt": b64("x"), "tls.key": b64("y") } }), tlsFs)), /^TLSSecretInvalid: .*cannot use this certificate and key/);
  });
  it("ownership: our controller reference passes; none or another owner is a NameConflict", () => {
    const owner = ftpServer();
    const mine = { metadata: { ownerReferences: [{ apiVersion: "x", kind: "FtpServer", name: owner.metadata.name, uid: owner.metadata.uid!, controller: true }] } };
    checkOwnership(owner, "Service", "s", mine);
    checkOwnership(owner, "Service", "s", undefined);
    assert.throws(() => checkOwnership(owner, "ConfigMap", "c", { metadata: {} }), (e: any) => e.blocker.reason === "NameConflict" && /ConfigMap .*\/c .*no controller/.test(e.message));
    assert.throws(() => checkOwnership(owner, "Service", "s", { metadata: { ownerReferences: [{ ...mine.metadata.ownerReferences[0]!, uid: "other" }] } }), /uid other/);
  });
});

describe("RecentWrites", () => {
  const cm = (rv: string): KubeObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "n", resourceVersion: rv } });
  it("bridges the cache lag, yields to a newer cache copy, and forgets an object deleted behind our back", () => {
    const r = new RecentWrites(new Map(), 10_000);
    r.record(Resources.ConfigMap, cm("5"));
    assert.equal(r.observed(Resources.ConfigMap, "n", "c", undefined)?.metadata?.resourceVersion, "5", "cache has not seen our create yet");
    assert.equal(r.observed(Resources.ConfigMap, "n", "c", cm("4"))?.metadata?.resourceVersion, "5", "older cache copy");
    assert.equal(r.observed(Resources.ConfigMap, "n", "c", cm("6"))?.metadata?.resourceVersion, "6");
    r.record(Resources.ConfigMap, cm("7"));
    r.forget(Resources.ConfigMap, "n", "c"); // the informer's delete event
    assert.equal(r.observed(Resources.ConfigMap, "n", "c", undefined), undefined, "deleted: re-create it");
  });
  it("tells the watch echo of our own write (same resourceVersion) from any later change", () => {
    const r = new RecentWrites(new Map(), 10_000);
    assert.equal(r.isEcho(Resources.ConfigMap, cm("5")), false, "nothing written");
    r.record(Resources.ConfigMap, cm("5"));
    assert.equal(r.isEcho(Resources.ConfigMap, cm("5")), true);
    assert.equal(r.isEcho(Resources.ConfigMap, cm("6")), false, "someone else's write after ours");
    assert.equal(r.isEcho(Resources.Service, { ...cm("5"), kind: "Service" }), false, "another kind");
    r.forget(Resources.ConfigMap, "n", "c");
    assert.equal(r.isEcho(Resources.ConfigMap, cm("5")), false, "forgotten (deleted)");
    const expired = new RecentWrites(new Map(), -1);
    expired.record(Resources.ConfigMap, cm("5"));
    assert.equal(expired.isEcho(Resources.ConfigMap, cm("5")), false, "expired");
  });
  it("sweeps expired entries", () => {
    const r = new RecentWrites(new Map(), 1);
    r.record(Resources.ConfigMap, cm("1"));
    assert.equal(r.size, 1);
    r.sweep(Date.now() + 10);
    assert.equal(r.size, 0);
  });
});

describe("Pod Security restricted", () => {
  it("the FTP-server pod spec meets every rule of the restricted profile", () => {
    const f = ftpServer();
    const sts: any = buildStatefulSet(f, effective(f.spec));
    const pod = sts.spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.notEqual(pod.securityContext.runAsUser, 0);
    for (const s of pod.securityContext.sysctls ?? []) {
      // the baseline/restricted "safe" sysctl set
      assert.ok(["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range"].includes(s.name), s.name);
    }
    for (const c of pod.containers) {
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
      assert.equal(c.securityContext.capabilities.add, undefined);
      assert.equal(c.securityContext.privileged, undefined);
      assert.equal(c.terminationMessagePolicy, "FallbackToLogsOnError");
    }
    for (const v of pod.volumes) assert.ok(v.configMap || v.secret || v.emptyDir || v.persistentVolumeClaim, `volume type allowed: ${JSON.stringify(v)}`);
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fieldsCovered, needsApply, subsetEqual } from "../../../operator/src/runtime/ssa.ts";
import { collectionPath, objectKey, objectPath, splitKey } from "../../../operator/src/runtime/types.ts";
import type { KubeObject } from "../../../operator/src/runtime/types.ts";
import { enqueueOwner, enqueueByLabel } from "../../../operator/src/runtime/controller.ts";
import { Backoff } from "../../../operator/src/runtime/backoff.ts";

describe("subsetEqual", () => {
  test("ignores fields only the server has, compares what desired sets", () => {
    assert.ok(subsetEqual({ a: 1, b: { c: "x" } }, { a: 1, b: { c: "x", d: 2 }, e: 3 }));
    assert.ok(!subsetEqual({ a: 1 }, { a: 2 }));
    assert.ok(!subsetEqual({ a: 1 }, {}));
    assert.ok(!subsetEqual({ a: "1" }, { a: 1 }), "no type coercion");
  });
  test("lists: same length, element-wise subset", () => {
    assert.ok(subsetEqual([{ name: "a" }], [{ name: "a", protocol: "TCP" }]));
    assert.ok(!subsetEqual([{ name: "a" }], [{ name: "a" }, { name: "b" }]));
    assert.ok(!subsetEqual([{ name: "a" }, { name: "b" }], [{ name: "b" }, { name: "a" }]));
  });
  test("empty desired object/list equals absent; undefined ignored", () => {
    assert.ok(subsetEqual({ labels: {}, items: [], x: undefined }, {}));
    assert.ok(!subsetEqual({ labels: { a: "b" } }, {}));
  });
});

describe("fieldsCovered", () => {
  const fields = {
    "f:metadata": { "f:labels": { "f:app": {} } },
    "f:spec": {
      "f:ports": { "k:{\"port\":21,\"protocol\":\"TCP\"}": { ".": {}, "f:name": {}, "f:port": {} } },
      "f:finalizers": { "v:\"a\"": {} },
    },
  };
  test("all managed fields present", () => {
    assert.ok(fieldsCovered(fields, {
      metadata: { labels: { app: "x" } },
      spec: { ports: [{ name: "ftp", port: 21 }], finalizers: ["a"] },
    }));
  });
  test("a managed field missing from desired → not covered (apply would remove it)", () => {
    assert.ok(!fieldsCovered(fields, {
      metadata: { labels: {} },
      spec: { ports: [{ name: "ftp", port: 21 }], finalizers: ["a"] },
    }));
    assert.ok(!fieldsCovered(fields, {
      metadata: { labels: { app: "x" } },
      spec: { ports: [{ name: "ftp", port: 22 }], finalizers: ["a"] },
    }));
    assert.ok(!fieldsCovered(fields, { metadata: { labels: { app: "x" } }, spec: { ports: [{ name: "ftp", port: 21 }] } }));
  });
});

describe("fieldsCovered on long keyed lists (a Service with up to 10,000 ports)", () => {
  const portFields = (ports: number[]) => ({
    "f:spec": {
      "f:ports": Object.fromEntries(ports.map((p) => [`k:${JSON.stringify({ port: p, protocol: "TCP" })}`, { ".": {}, "f:name": {}, "f:port": {} }])),
    },
  });
  const servicePorts = (ports: number[]) => ports.map((p) => ({ name: `p${p}`, port: p, protocol: "TCP" }));
  const range = (n: number) => Array.from({ length: n }, (_, i) => 10000 + i);

  test("10,000 keyed items are checked in linear time (was 46 s with a search per key)", () => {
    const ports = range(10000);
    const t0 = performance.now();
    assert.ok(fieldsCovered(portFields(ports), { spec: { ports: servicePorts(ports) } }));
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  });
  test("an item we managed and no longer set is found missing among 10,000", () => {
    const ports = range(10000);
    assert.ok(!fieldsCovered(portFields(ports), { spec: { ports: servicePorts(ports.slice(1)) } }));
    assert.ok(!fieldsCovered(portFields(ports), { spec: { ports: servicePorts(ports).map((p, i) => (i === 5000 ? { ...p, name: undefined } : p)) } }));
  });
  test("same answers as the linear search when an item lacks a key field, repeats a key or has a non-primitive key", () => {
    const fields = portFields([21, 22]);
    // protocol omitted in desired (the server defaults it): matches anything
    assert.ok(fieldsCovered(fields, { spec: { ports: [{ name: "a", port: 21 }, { name: "b", port: 22, protocol: "TCP" }] } }));
    // a repeated key: the first item decides (it lacks nothing here)
    assert.ok(fieldsCovered(fields, { spec: { ports: [{ name: "a", port: 21, protocol: "TCP" }, { port: 21, protocol: "TCP" }, { name: "b", port: 22, protocol: "TCP" }] } }));
    assert.ok(!fieldsCovered(fields, { spec: { ports: [{ port: 21, protocol: "TCP" }, { name: "a", port: 21, protocol: "TCP" }, { name: "b", port: 22, protocol: "TCP" }] } }));
    // a non-primitive key value compares by value
    const objKey = { "f:items": { [`k:${JSON.stringify({ id: { a: 1, b: 2 } })}`]: { "f:v": {} } } };
    assert.ok(fieldsCovered(objKey, { items: [{ id: { b: 2, a: 1 }, v: 1 }] }));
    assert.ok(!fieldsCovered(objKey, { items: [{ id: { a: 1, b: 3 }, v: 1 }] }));
  });
});

describe("needsApply", () => {
  const desired: KubeObject = {
    apiVersion: "v1", kind: "ConfigMap",
    metadata: { name: "c", namespace: "n", labels: { app: "x" } },
    data: { a: "1" },
  };
  const managed = {
    manager: "pasv-operator", operation: "Apply", apiVersion: "v1",
    fieldsType: "FieldsV1", fieldsV1: { "f:data": { "f:a": {} }, "f:metadata": { "f:labels": { "f:app": {} } } },
  };
  const observed: KubeObject = {
    apiVersion: "v1", kind: "ConfigMap",
    metadata: { name: "c", namespace: "n", uid: "u", resourceVersion: "5", labels: { app: "x", other: "y" }, managedFields: [managed] },
    data: { a: "1", b: "from someone else" },
  };
  test("absent → apply", () => assert.ok(needsApply(desired, undefined, "pasv-operator")));
  test("same values and same managed set → skip", () => assert.ok(!needsApply(desired, observed, "pasv-operator")));
  test("changed value → apply", () =>
    assert.ok(needsApply({ ...desired, data: { a: "2" } }, observed, "pasv-operator")));
  test("field dropped from desired → apply (to remove it)", () =>
    assert.ok(needsApply({ ...desired, metadata: { name: "c", namespace: "n" } }, observed, "pasv-operator")));
  test("never applied by us → apply", () =>
    assert.ok(needsApply(desired, { ...observed, metadata: { ...observed.metadata, managedFields: [] } }, "pasv-operator")));
  test("status: compared against the status entry only", () => {
    const st = { ...desired, status: { ready: true } };
    const obs = {
      ...observed, status: { ready: true, extra: 1 },
      metadata: { ...observed.metadata, managedFields: [managed, { ...managed, subresource: "status", fieldsV1: { "f:status": { "f:ready": {} } } }] },
    };
    assert.ok(!needsApply(st, obs, "pasv-operator", "status"));
    assert.ok(needsApply({ ...st, status: { ready: false } }, obs, "pasv-operator", "status"));
    assert.ok(needsApply({ ...st, status: {} }, obs, "pasv-operator", "status"), "dropped status field");
    assert.ok(!needsApply(st, obs, "pasv-operator"), "main apply ignores status");
  });
});

describe("keys, paths, map functions, backoff", () => {
  test("keys and paths", () => {
    assert.equal(objectKey({ metadata: { name: "a", namespace: "n" } }), "n/a");
    assert.equal(objectKey({ metadata: { name: "a" } }), "a");
    assert.deepEqual(splitKey("n/a"), { namespace: "n", name: "a" });
    assert.deepEqual(splitKey("a"), { name: "a" });
    const t = { apiVersion: "ftp.pasv.dev/v1alpha1", kind: "FtpServer", plural: "ftpservers", namespaced: true };
    assert.equal(collectionPath(t), "/apis/ftp.pasv.dev/v1alpha1/ftpservers");
    assert.equal(objectPath(t, "x", "n", "status"), "/apis/ftp.pasv.dev/v1alpha1/namespaces/n/ftpservers/x/status");
    assert.equal(collectionPath({ apiVersion: "v1", kind: "Service", plural: "services", namespaced: true }, "n"), "/api/v1/namespaces/n/services");
  });
  test("enqueueOwner / enqueueByLabel", () => {
    const child: KubeObject = {
      metadata: {
        name: "svc", namespace: "n", labels: { "ftp.pasv.dev/server": "s1" },
        ownerReferences: [
          { apiVersion: "ftp.pasv.dev/v1alpha1", kind: "FtpServer", name: "s1", uid: "u1", controller: true },
          { apiVersion: "other.io/v1", kind: "FtpServer", name: "s2", uid: "u2" },
        ],
      },
    };
    assert.deepEqual(enqueueOwner({ kind: "FtpServer", apiVersion: "ftp.pasv.dev/v1alpha1" })(child), ["n/s1"]);
    assert.deepEqual(enqueueOwner({ kind: "FtpServer" })(child), ["n/s1", "n/s2"]);
    assert.deepEqual(enqueueOwner({ kind: "FtpServer" }, { controllerOnly: true })(child), ["n/s1"]);
    assert.equal(enqueueByLabel("ftp.pasv.dev/server")(child), "n/s1");
  });
  test("informer backoff doubles with jitter, caps, resets after quiet period", () => {
    const b = new Backoff({ initialMs: 100, maxMs: 800, resetAfterMs: 1000 });
    const d = [b.next(0), b.next(10), b.next(20), b.next(30), b.next(40)];
    for (const [i, want] of [100, 200, 400, 800, 800].entries()) {
      assert.ok(d[i]! >= want * 0.8 && d[i]! <= want * 1.2, `delay ${i}: ${d[i]} ~ ${want}`);
    }
    const r = b.next(5000);
    assert.ok(r <= 120, `reset after quiet period (${r})`);
  });
});

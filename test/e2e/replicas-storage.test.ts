// Three replicas as one FTP service, end to end through MetalLB and kube-proxy with Python ftplib:
// - shared storage (storage.type SharedClaim on a real ReadWriteMany volume: a hostPath PV on the
//   node + its claim): a file stored through one pod is listed and read back byte for byte through
//   each of the other pods; a rename and a delete through another pod are seen through every pod.
//   Which pod holds a session is proven by the pods' own login counters.
// - the passive pool at default settings on the demo's range (40 ports, 10 per pod, quarantine 60 s):
//   300 sequential sessions with no pause, 0 failed.
// - the StorageShared condition: True here; False with a Warning Event for per-pod storage.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { NS, applyFtpServer, cond, getJson, pods, runClient, setup, summarize, waitFor, waitReadyAndServing, type Env, type FtpServerObj } from "./lib.ts";
import { DEMO_BASE_PORT, DEMO_PORTS, assertReadableThroughOthers, createSharedClaim, demoServer, log, sessionOn, waitClaimBound } from "./replicas-lib.ts";

const NAME = "ftp-shared";
const CLAIM = "ftp-files";
const SUB_PATH = "ftp-shared";

let env: Env;
let lb = "";
let hostDir = "";
before(async () => {
  env = await setup();
  hostDir = createSharedClaim(env, CLAIM, [SUB_PATH]);
  await waitClaimBound(env, CLAIM);
  await applyFtpServer(env, demoServer(NAME, CLAIM, { subPath: SUB_PATH }));
  lb = await waitReadyAndServing(env, NAME, 3, 180_000);
}, { timeout: 300_000 });
after(async () => {
  await env?.stop();
}, { timeout: 120_000 });

describe("3 replicas on one ReadWriteMany claim", { timeout: 240_000 }, () => {
  test("StorageShared=True; every pod mounts the claim (subPath), no claim templates", () => {
    const fs = getJson<FtpServerObj>(env, "ftpserver", NAME);
    const c = cond(fs, "StorageShared");
    assert.equal(c?.status, "True", JSON.stringify(c));
    assert.equal(c?.reason, "SharedClaim");
    const sts = getJson<{ spec: { volumeClaimTemplates?: unknown[]; template: { spec: { volumes: { name: string; persistentVolumeClaim?: { claimName: string } }[] } } } }>(env, "statefulset", NAME);
    assert.equal(sts.spec.volumeClaimTemplates, undefined);
    assert.equal(sts.spec.template.spec.volumes.find((v) => v.name === "data")?.persistentVolumeClaim?.claimName, CLAIM);
    assert.deepEqual(fs.status?.passive?.slices?.map((s) => [s.portStart, s.portEnd]), [[31000, 31009], [31010, 31019], [31020, 31029]]);
  });

  test("STOR through one pod; LIST and RETR (identical bytes) through each other pod; RNFR/RNTO and DELE through another pod seen everywhere", { timeout: 180_000 }, async () => {
    const podNames = pods(env, NAME).map((p) => p.name);
    assert.equal(podNames.length, 3);
    const listed = async (on: string): Promise<string[]> => {
      const { session } = await sessionOn(env, NAME, lb, "alice", on);
      try {
        const r = await session.op({ op: "nlst" });
        assert.equal(r.ok, true, JSON.stringify(r));
        return (r.names as string[]).map((n) => n.replace(/^.*\//, "")).sort();
      } finally {
        session.close();
      }
    };

    // 1. STOR through whichever pod the first session lands on.
    const first = await sessionOn(env, NAME, lb, "alice");
    const writer = first.pod;
    const put = await first.session.op({ op: "put", name: "report.bin", size: 1 << 20 });
    first.session.close();
    assert.equal(put.ok, true, JSON.stringify(put));
    log(`stored report.bin (${String(put.sha)}) through ${writer}`);
    // On the volume once, under the subPath (the node's directory behind the PV).
    assert.ok(existsSync(join(hostDir, SUB_PATH, "alice", "report.bin")), "the file is on the shared volume under storage.subPath");

    // 2. Each other pod lists it and returns the same bytes.
    const others = podNames.filter((p) => p !== writer);
    await assertReadableThroughOthers(env, NAME, lb, "alice", podNames, writer, "report.bin", put.sha);

    // 3. Rename through another pod than the writer; every pod sees the new name only.
    const renamer = others[0]!;
    {
      const { session } = await sessionOn(env, NAME, lb, "alice", renamer);
      const r = await session.op({ op: "rename", from: "report.bin", to: "report-final.bin" });
      session.close();
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.match(String(r.reply), /^250/);
    }
    for (const p of podNames) {
      const names = await listed(p);
      assert.ok(names.includes("report-final.bin") && !names.includes("report.bin"), `${p} after the rename through ${renamer}: ${JSON.stringify(names)}`);
    }
    // Read back under the new name through the writer: same bytes.
    {
      const { session } = await sessionOn(env, NAME, lb, "alice", writer);
      const get = await session.op({ op: "get", name: "report-final.bin" });
      session.close();
      assert.equal(get.sha, put.sha);
    }

    // 4. Delete through the third pod; gone everywhere.
    const deleter = others[1]!;
    {
      const { session } = await sessionOn(env, NAME, lb, "alice", deleter);
      const d = await session.op({ op: "delete", name: "report-final.bin" });
      session.close();
      assert.equal(d.ok, true, JSON.stringify(d));
      assert.match(String(d.reply), /^250/);
    }
    for (const p of podNames) {
      const names = await listed(p);
      assert.ok(!names.some((n) => n.startsWith("report")), `${p} after the delete through ${deleter}: ${JSON.stringify(names)}`);
    }
    log(`writer ${writer}, read through ${others.join(" and ")}, renamed through ${renamer}, deleted through ${deleter}: seen by all 3 pods`);
  });

  test("300 sequential sessions, no pause, default pool settings on the demo's range (10 ports per pod): 0 failed", { timeout: 200_000 }, async () => {
    const { records, summary } = await runClient(env, { host: lb, user: "bob", sessions: 300, parallel: 1, tag: "seq", noWhoami: true, deadline: 180 });
    const failed = records.filter((r) => !r.ok);
    const byError = new Map<string, number>();
    for (const r of failed) byError.set((r.error ?? "").slice(0, 60), (byError.get((r.error ?? "").slice(0, 60)) ?? 0) + 1);
    log(`300 sequential: ${summarize(records)} in ${summary.seconds}s; failures by error: ${JSON.stringify([...byError])}`);
    assert.equal(records.length, 300, "every session ran before the deadline");
    assert.equal(failed.length, 0, `failed sessions: ${JSON.stringify(failed.slice(0, 3))}`);
    for (const r of records) {
      assert.equal(r.sha_ok, true);
      for (const port of r.ports) assert.ok(port >= DEMO_BASE_PORT && port < DEMO_BASE_PORT + DEMO_PORTS, `port ${port} in the demo's range`);
    }
    assert.equal(summary.retried, 0, "no connect retried");
  });
});

describe("per-pod storage with 3 replicas", { timeout: 120_000 }, () => {
  test("StorageShared=False (PerPodStorage) with a message and a Warning Event", async () => {
    const name = "ftp-emptydir";
    const obj = demoServer(name, CLAIM) as { spec: Record<string, unknown> };
    delete obj.spec.storage;
    obj.spec.replicas = 3;
    obj.spec.passive = { basePort: 32000, numberOfPorts: 30, portsPerReplica: 10 };
    await applyFtpServer(env, obj);
    const c = await waitFor("StorageShared condition", 60_000, () => cond(getJson<FtpServerObj>(env, "ftpserver", name), "StorageShared"));
    assert.equal(c.status, "False");
    assert.equal(c.reason, "PerPodStorage");
    assert.match(c.message ?? "", /uploads through one pod are invisible from the others/);
    const ev = await waitFor("Warning Event PerPodStorage", 60_000, () => {
      const list = JSON.parse(env.kubectl(["get", "events", "-n", NS, "--field-selector", `involvedObject.name=${name},type=Warning`, "-o", "json"])) as { items: { reason: string; message: string }[] };
      return list.items.find((e) => e.reason === "PerPodStorage" || /invisible from the others/.test(e.message));
    });
    log(`per-pod storage: StorageShared=False/${c.reason}; Warning Event ${ev.reason}: ${ev.message.slice(0, 100)}`);
    env.kubectl(["delete", "ftpserver", name, "-n", NS, "--wait=false"]);
  });
});


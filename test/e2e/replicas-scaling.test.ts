// Scaling without a dropped session, end to end: the demo's FtpServer (fixed port blocks:
// passive.portsPerReplica 10, shared storage) under continuous load from Python ftplib (3 sessions
// at a time, each login + STOR + RETR + checksum + QUIT) while replicas go 3 -> 4 -> 2 -> 3.
// A session FAILS when anything after the 220 greeting goes wrong; before the greeting (nothing
// sent yet) a refused/reset connection may be retried, and those are counted and reported.
// Bar: >= 1,000 sessions, 0 failed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CLIENT_PY, NS, PASSWORD, applyFtpServer, getJson, pods, setup, summarize, waitFor, waitReady, waitReadyAndServing, type Env, type FtpServerObj, type SessionRecord } from "./lib.ts";
import { DEMO_BASE_PORT, DEMO_PORTS_PER_REPLICA, createSharedClaim, demoServer, log, loginsByPod, waitClaimBound } from "./replicas-lib.ts";

const NAME = "ftp-scale";
const CLAIM = "ftp-scale-files";
const MIN_SESSIONS = 1000;
const PARALLEL = 3;

let env: Env;
let lb = "";
before(async () => {
  env = await setup();
  createSharedClaim(env, CLAIM);
  await waitClaimBound(env, CLAIM);
  const server = demoServer(NAME, CLAIM) as { spec: { passive: Record<string, unknown> } };
  // E2E_SCALING_EVEN_SPLIT=1: the old layout (no portsPerReplica, re-sliced on every scale), to see
  // this test fail without fixed blocks.
  if (process.env.E2E_SCALING_EVEN_SPLIT === "1") delete server.spec.passive.portsPerReplica;
  await applyFtpServer(env, server);
  lb = await waitReadyAndServing(env, NAME, 3, 180_000);
}, { timeout: 300_000 });
after(async () => {
  await env?.stop();
}, { timeout: 120_000 });

/** Continuous load whose progress the test can read while it runs (lib.ts's runClient reports at the end only). */
function startLoad(stopFile: string): { records: SessionRecord[]; done: Promise<void> } {
  const records: SessionRecord[] = [];
  const argv = [CLIENT_PY, "run", "--host", lb, "--user", "alice", "--password", PASSWORD, "--sessions", "20000", "--parallel", String(PARALLEL),
    "--no-whoami", "--tag", "scale", "--retries", "8", "--deadline", "420", "--stop-file", stopFile];
  const p = spawn("ip", ["netns", "exec", env.client.netns, "python3", ...argv], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  p.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  createInterface({ input: p.stdout }).on("line", (l) => {
    const o = JSON.parse(l) as SessionRecord & { summary?: boolean };
    if (!o.summary) records.push(o);
  });
  const done = new Promise<void>((res, rej) => p.on("close", (code) => (code === 0 ? res() : rej(new Error(`ftp_client.py exited ${code}: ${err.slice(-2000)}`)))));
  return { records, done };
}

/** The FtpServer converged on `n` ready pods and no pod of it is terminating any more. */
async function converged(n: number): Promise<number> {
  const t0 = Date.now();
  await waitReady(env, NAME, n, 150_000);
  await waitFor(`only ${n} pods of ${NAME}, none terminating`, 150_000, () => {
    const ps = pods(env, NAME);
    return ps.length === n && ps.every((p) => p.ready && !p.deleting);
  });
  return Date.now() - t0;
}

function scale(n: number): void {
  env.kubectl(["patch", "ftpserver", NAME, "-n", NS, "--type", "merge", "-p", JSON.stringify({ spec: { replicas: n } })]);
}

describe("replicas 3 -> 4 -> 2 -> 3 under load", { timeout: 600_000 }, () => {
  test(`>= ${MIN_SESSIONS} sessions (${PARALLEL} in parallel) while scaling: 0 failed`, { timeout: 480_000 }, async () => {
    const stopFile = join(env.logDir, "stop-scale-load");
    rmSync(stopFile, { force: true });
    const configBefore = getJson<{ metadata: { resourceVersion: string } }>(env, "configmap", `${NAME}-config`).metadata.resourceVersion;
    const load = startLoad(stopFile);
    const t0 = Date.now();
    const at = (): string => `${((Date.now() - t0) / 1000).toFixed(1)}s/${load.records.length} sessions`;
    const steps: string[] = [];
    try {
      await waitFor("load running (50 sessions)", 60_000, () => load.records.length >= 50);
      for (const n of [4, 2, 3]) {
        const from = pods(env, NAME).length;
        scale(n);
        const ms = await converged(n);
        steps.push(`${from}->${n} converged in ${(ms / 1000).toFixed(1)}s (at ${at()})`);
        log(`scale ${from}->${n}: converged in ${ms} ms, at ${at()}`);
        if (n > from) {
          // The new pods take sessions through their own blocks before the next step.
          const fresh = pods(env, NAME).filter((p) => Number(p.name.slice(NAME.length + 1)) >= from);
          await waitFor(`new pods ${fresh.map((p) => p.name).join(",")} served sessions`, 60_000, async () => {
            const l = await loginsByPod(fresh);
            return [...l.values()].every((v) => v >= 10);
          });
        }
        await sleep(5_000); // traffic on the new layout before the next change
      }
      await waitFor(`${MIN_SESSIONS} sessions`, 240_000, () => load.records.length >= MIN_SESSIONS, 1000);
    } finally {
      writeFileSync(stopFile, "stop");
      await load.done;
    }
    const records = load.records;
    const failed = records.filter((r) => !r.ok);
    const retried = records.filter((r) => (r.retried ?? []).length > 0);
    const kinds = new Map<string, number>();
    for (const r of retried) for (const k of r.retried ?? []) kinds.set(k.slice(0, 40), (kinds.get(k.slice(0, 40)) ?? 0) + 1);
    log(`scaling: ${summarize(records)}; steps: ${steps.join("; ")}; retried before the greeting: ${retried.length} ${JSON.stringify([...kinds])}`);
    assert.ok(records.length >= MIN_SESSIONS, `${records.length} sessions`);
    assert.equal(failed.length, 0, `failed sessions (after the greeting): ${JSON.stringify(failed.slice(0, 5))}`);
    for (const r of records) {
      assert.equal(r.sha_ok, true, `session ${r.i}: checksum`);
      for (const p of r.ports) assert.ok(p >= DEMO_BASE_PORT && p < DEMO_BASE_PORT + 4 * DEMO_PORTS_PER_REPLICA, `port ${p} in the 4 blocks`);
    }
    // Fixed blocks: the rendered config never changed while the replica count did.
    const configAfter = getJson<{ metadata: { resourceVersion: string } }>(env, "configmap", `${NAME}-config`).metadata.resourceVersion;
    assert.equal(configAfter, configBefore, "scaling did not touch the ConfigMap");
    const fs = getJson<FtpServerObj>(env, "ftpserver", NAME);
    assert.deepEqual(fs.status?.passive?.slices?.map((s) => s.portStart), [31000, 31010, 31020]);
  });
});

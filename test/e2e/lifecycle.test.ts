// Day-2 operations end to end, PortPartitioned with 3 replicas:
// - the load-balancer address changes -> new PASV replies carry it, no pod restarts, and a control
//   session kept open across the change still transfers afterwards;
// - the server image is rolled under load -> zero failed sessions (definition below);
// - a pod is killed mid-upload -> the client sees an error and no truncated file exists under the
//   final name (the server uploads to a temp name and renames).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { execFileSync, spawn } from "node:child_process";
import {
  IMAGE, ROOT, Session, applyFtpServer, ftpServer, getJson, log, parse227, pods, podFiles, runClient, seedWhoami, setup, waitEveryPodPasv, waitFor,
  waitReady, waitServing, type Env, type FtpServerObj, type SessionRecord,
} from "./lib.ts";

const NAME = "ftp-life";
const NEW_LB = "203.0.113.29";
const ROLLED_IMAGE = IMAGE.replace(/:[^:/]+$/, "") + ":e2e-roll";

let env: Env;
before(async () => {
  env = await setup();
  await applyFtpServer(env, ftpServer(NAME, "PortPartitioned", 31000));
  const fs = await waitReady(env, NAME, 3);
  await waitServing(env, fs.status?.passive?.externalAddress ?? "");
  seedWhoami(env, pods(env, NAME).map((p) => p.name));
});
after(async () => {
  await env?.stop();
});

function ctr(args: string[]): string {
  const socket = env.state.node?.socket;
  if (!socket) throw new Error("no node");
  return execFileSync("ctr", ["--address", socket, "--namespace", "k8s.io", ...args], { encoding: "utf8" });
}

/**
 * The address the FtpServer serves now, once every pod answers PASV with it. Each test starts
 * from here, so a test that failed half-way (say, before all pods reloaded a new address) does
 * not leave the next one talking to the old address.
 */
async function servingAddress(): Promise<string> {
  const lb = await waitFor("status.passive.externalAddress", 60_000, () => getJson<FtpServerObj>(env, "ftpserver", NAME).status?.passive?.externalAddress);
  await waitServing(env, lb);
  await waitEveryPodPasv(env, NAME, 3, lb, "alice");
  return lb;
}

interface StsObj {
  metadata: { generation?: number };
  spec: { template: unknown };
  status?: { updateRevision?: string; currentRevision?: string };
}

describe("lifecycle", () => {
  test("LB address change: new PASV replies carry it, no pod restarted, an open session keeps working", async () => {
    const oldLb = await servingAddress();
    assert.notEqual(oldLb, NEW_LB);
    const podsBefore = pods(env, NAME);
    const stsBefore = getJson<StsObj>(env, "statefulset", NAME);
    const session = new Session(env, oldLb, "alice");
    try {
      const g = await session.greeting;
      assert.match(String(g.greeting), /^220/);
      const who = await session.op({ op: "whoami" });
      assert.equal(who.ok, true, JSON.stringify(who));
      const t0 = Date.now();
      env.kubectl(["patch", "ftpserver", NAME, "--type", "merge", "-p", JSON.stringify({ spec: { service: { annotations: { "metallb.io/loadBalancerIPs": NEW_LB } } } })]);
      await waitFor(`status.passive.externalAddress = ${NEW_LB}`, 60_000, () => getJson<FtpServerObj>(env, "ftpserver", NAME).status?.passive?.externalAddress === NEW_LB);
      const tStatus = Date.now() - t0;
      await waitServing(env, NEW_LB);
      // The kubelet refreshes the mounted ConfigMap (up to its sync period), each server hot-reloads
      // it on its own schedule: ask every pod on its own IP until all say the new address.
      await waitEveryPodPasv(env, NAME, 3, NEW_LB, "alice");
      const tPasv = Date.now() - t0;
      log(`LB ${oldLb} -> ${NEW_LB}: FtpServer status after ${tStatus} ms, every pod's PASV after ${tPasv} ms`);
      // The session opened before the change: its control connection (to the old address) is intact
      // and it transfers; its PASV now names the new address, which routes to its pod.
      const noop = await session.op({ op: "noop" });
      assert.equal(noop.ok, true, JSON.stringify(noop));
      const pasvText = await session.op({ op: "pasv" });
      assert.equal(pasvText.ok, true, JSON.stringify(pasvText));
      assert.equal(parse227(String(pasvText.reply)).address, NEW_LB);
      const put = await session.op({ op: "put", name: "across-change.bin", size: 1 << 20 });
      assert.equal(put.ok, true, JSON.stringify(put));
      const get = await session.op({ op: "get", name: "across-change.bin" });
      assert.equal(get.ok, true, JSON.stringify(get));
      assert.equal(get.sha, put.sha, "checksum");
      const whoAfter = await session.op({ op: "whoami" });
      assert.equal(whoAfter.pod, who.pod, "same pod, same session");
      const quit = await session.op({ op: "quit" });
      assert.match(String(quit.reply), /^221/);
    } finally {
      session.close();
    }
    const podsAfter = pods(env, NAME);
    assert.deepEqual(podsAfter.map((x) => [x.name, x.uid, x.restarts]), podsBefore.map((x) => [x.name, x.uid, x.restarts]), "no pod recreated or restarted");
    const stsAfter = getJson<StsObj>(env, "statefulset", NAME);
    assert.deepEqual(stsAfter.spec.template, stsBefore.spec.template, "the pod template did not change (the address reaches the pods through the ConfigMap)");
    assert.equal(stsAfter.status?.updateRevision, stsBefore.status?.updateRevision, "no new StatefulSet revision");
    // New sessions through the new address, spread over the pods by kube-proxy: none fails, every
    // PASV carries the new address, and all three pods are seen (bounded: a batch of 6 at a time).
    const seen = new Set<string>();
    const failed: SessionRecord[] = [];
    let sessions = 0;
    await waitFor("sessions through the new address reach all 3 pods", 120_000, async () => {
      const { records } = await runClient(env, { host: NEW_LB, user: "alice", sessions: 6, parallel: 1, tag: `addr-${sessions}` });
      sessions += records.length;
      for (const r of records) {
        if (!r.ok) failed.push(r);
        else if (r.pod && r.addresses.length > 0 && r.addresses.every((a) => a === NEW_LB)) seen.add(r.pod);
      }
      return seen.size === 3 || failed.length > 0;
    }, 500).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; ${sessions} sessions, ${failed.length} failed, pods seen with ${NEW_LB}: ${[...seen].join(", ")}`);
    });
    assert.equal(failed.length, 0, `failed sessions through ${NEW_LB}: ${JSON.stringify(failed.slice(0, 3))}`);
    log(`after the change: ${sessions} sessions through ${NEW_LB}, 0 failed, all 3 pods`);
  });

  test("roll the server image under load: zero failed sessions", async () => {
    const lb = await servingAddress();
    ctr(["images", "tag", "--force", IMAGE, ROLLED_IMAGE]);
    const stopFile = join(env.logDir, "stop-load");
    rmSync(stopFile, { force: true });
    // Load: 4 workers, sessions back to back. A session FAILS when anything after the 220 greeting
    // goes wrong (login, PASV, data connection, transfer, checksum, QUIT). Before the greeting
    // (the client sent nothing yet) a refused/reset/unreachable connection or a 421 is retried, up
    // to 8 times with backoff 0.2 s x attempt, and each kind is counted and reported.
    const watchLog = join(ROOT, "out/e2e/roll-endpointslices.jsonl");
    mkdirSync(dirname(watchLog), { recursive: true });
    const watch = spawn(join(env.state.binDir, "kubectl"), ["--kubeconfig", env.state.kubeconfig, "get", "endpointslices", "-n", "default",
      "-l", "ftp.pasv.dev/role=control", "-w", "-o", "json", "--output-watch-events"], { stdio: ["ignore", openSync(watchLog, "w"), "ignore"] });
    const load = runClient(env, { host: lb, user: "alice", sessions: 20000, parallel: 4, pause: 0.1, retries: 8, deadline: 300, tag: "roll", noWhoami: true, stopFile });
    load.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
    const before = pods(env, NAME);
    let rollMs = 0;
    try {
      await sleep(3000);
      const t0 = Date.now();
      env.kubectl(["patch", "ftpserver", NAME, "--type", "merge", "-p", JSON.stringify({ spec: { image: ROLLED_IMAGE } })]);
      await waitFor("all 3 pods replaced, on the new image and ready", 300_000, () => {
        const ps = pods(env, NAME);
        const sts = getJson<{ status?: { updatedReplicas?: number; readyReplicas?: number; currentRevision?: string; updateRevision?: string } }>(env, "statefulset", NAME);
        return ps.length === 3 && ps.every((p) => p.ready && !p.deleting && p.image === ROLLED_IMAGE) &&
          sts.status?.updateRevision === sts.status?.currentRevision && sts.status?.readyReplicas === 3;
      }, 1000);
      rollMs = Date.now() - t0;
      await sleep(3000);
    } finally {
      // Also on failure: stop the load and the watch now, not at the client's 300 s deadline.
      writeFileSync(stopFile, "");
      watch.kill();
    }
    const { records, summary } = await load;
    writeFileSync(join(ROOT, "out/e2e/roll-sessions.jsonl"), records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const after = pods(env, NAME);
    for (const p of after) assert.ok(!before.some((b) => b.uid === p.uid), `${p.name} was replaced`);
    const failed = records.filter((r) => !r.ok);
    log(`roll: ${rollMs} ms for 3 pods; ${summary.sessions} sessions during it, ${summary.failed} failed, ${summary.retried} retried before the greeting`);
    const retriedWhy = new Map<string, number>();
    for (const r of records) for (const w of r.retried ?? []) retriedWhy.set(w.replace(/\d+/g, "N"), (retriedWhy.get(w.replace(/\d+/g, "N")) ?? 0) + 1);
    if (retriedWhy.size) log(`roll: retries: ${JSON.stringify([...retriedWhy])}`);
    assert.ok(summary.sessions > 50, "the load ran throughout the roll");
    assert.equal(failed.length, 0, `failed sessions during the roll: ${JSON.stringify(failed.slice(0, 5))}`);
    assert.ok(existsSync(stopFile));
  });

  test("kill a pod mid-upload: the client sees an error, no truncated file under the final name", async () => {
    const lb = await servingAddress();
    seedWhoami(env, pods(env, NAME).map((p) => p.name));
    const session = new Session(env, lb, "alice");
    let victim = "";
    try {
      await session.greeting;
      const who = await session.op({ op: "whoami" });
      victim = String(who.pod);
      const target = pods(env, NAME).find((p) => p.name === victim);
      assert.ok(target, `pod ${victim}`);
      // 32 MiB at about 1.3 MB/s: flowing for ~25 s unless something cuts it.
      session.send({ op: "put_slow", name: "big-upload.bin", size: 32 << 20, delay: 0.05 });
      const flowing = await session.next(30_000);
      assert.equal(flowing.op, "flowing", JSON.stringify(flowing));
      const partial = podFiles(env, victim, "alice");
      log(`mid-upload on ${victim}: files ${JSON.stringify(partial)}`);
      assert.ok(!partial.includes("big-upload.bin"), "while uploading, the final name does not exist yet");
      // SIGKILL the server container (no drain, no cleanup): what a node or OOM kill does.
      ctr(["tasks", "kill", "--signal", "SIGKILL", target.containerId]);
      const res = await session.next(60_000);
      log(`client after the kill: ${JSON.stringify(res)}`);
      assert.equal(res.ok, false, "the client saw an error");
      assert.ok(Number(res.sent) < 32 << 20, "the upload was cut");
    } finally {
      session.close();
    }
    await waitFor(`${victim} restarted and ready`, 120_000, () => pods(env, NAME).find((p) => p.name === victim && p.ready && p.restarts > 0));
    const files = podFiles(env, victim, "alice");
    log(`after the restart, ${victim}:/data/alice = ${JSON.stringify(files)}`);
    assert.ok(!files.includes("big-upload.bin"), "no file under the final name");
    // And through FTP: a new session on that pod (its IP, from the host; EPSV, so the data
    // connection goes to that pod too) does not list the name.
    const restarted = pods(env, NAME).find((p) => p.name === victim);
    assert.ok(restarted?.ip, `${victim} has an IP`);
    const check = new Session(env, restarted.ip, "alice", "host");
    try {
      await check.greeting;
      const who = await check.op({ op: "whoami", mode: "epsv" });
      assert.equal(who.pod, victim, JSON.stringify(who));
      const ls = await check.op({ op: "nlst", mode: "epsv" });
      assert.equal(ls.ok, true, JSON.stringify(ls));
      const names = (ls.names as string[]).map((n) => n.replace(/^.*\//, ""));
      log(`NLST on ${victim} after the restart: ${JSON.stringify(names)}`);
      assert.ok(names.includes("whoami.txt"), "the listing is of alice's home");
      assert.ok(!names.includes("big-upload.bin"), "FTP does not show the final name");
    } finally {
      check.close();
    }
  });
});

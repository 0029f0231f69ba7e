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
  IMAGE, ROOT, Session, applyFtpServer, ftpServer, getJson, log, parse227, pods, podFiles, probe, runClient, seedWhoami, setup, waitFor,
  waitReady, waitServing, type Env, type FtpServerObj,
} from "./lib.ts";

const NAME = "ftp-life";
const NEW_LB = "203.0.113.29";
const ROLLED_IMAGE = IMAGE.replace(/:[^:/]+$/, "") + ":e2e-roll";

let env: Env;
let lb = "";
before(async () => {
  env = await setup();
  await applyFtpServer(env, ftpServer(NAME, "PortPartitioned", 31000));
  const fs = await waitReady(env, NAME, 3);
  lb = fs.status?.passive?.externalAddress ?? "";
  await waitServing(env, lb);
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

describe("lifecycle", () => {
  test("LB address change: new PASV replies carry it, no pod restarted, an open session keeps working", async () => {
    const before = pods(env, NAME);
    const session = new Session(env, lb, "alice");
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
      // The kubelet refreshes the mounted ConfigMap (up to its sync period), the server hot-reloads it.
      const p = await waitFor(`PASV through ${NEW_LB} carries ${NEW_LB}`, 180_000, () => {
        const r = probe(env, NEW_LB, "alice");
        return parse227(r.pasv).address === NEW_LB ? r : undefined;
      }, 2000);
      // Every pod, not only one: keep probing until each pod's whoami-tagged session said so.
      const tPasv = Date.now() - t0;
      log(`LB ${lb} -> ${NEW_LB}: FtpServer status after ${tStatus} ms, PASV replies after ${tPasv} ms: "${p.pasv}"`);
      // The session opened before the change: its control connection (to the old address) is intact
      // and it transfers; its PASV now names the new address, which routes to its pod.
      const noop = await session.op({ op: "noop" });
      assert.equal(noop.ok, true, JSON.stringify(noop));
      const pasvText = await session.op({ op: "pasv" });
      assert.equal(pasvText.ok, true);
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
    const afterP = pods(env, NAME);
    assert.deepEqual(afterP.map((x) => [x.name, x.uid, x.restarts]), before.map((x) => [x.name, x.uid, x.restarts]), "no pod recreated or restarted");
    lb = NEW_LB;
    // All three pods answer with the new address (sessions spread over them by kube-proxy).
    const seen = new Set<string>();
    await waitFor("every pod's PASV carries the new address", 120_000, async () => {
      const { records } = await runClient(env, { host: lb, user: "alice", sessions: 6, parallel: 1, tag: "addr" });
      for (const r of records) if (r.ok && r.pod && r.addresses.every((a) => a === NEW_LB)) seen.add(r.pod);
      return seen.size === 3;
    }, 1000);
  });

  test("roll the server image under load: zero failed sessions", async () => {
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
    await sleep(3000);
    const before = pods(env, NAME);
    const t0 = Date.now();
    env.kubectl(["patch", "ftpserver", NAME, "--type", "merge", "-p", JSON.stringify({ spec: { image: ROLLED_IMAGE } })]);
    await waitFor("all 3 pods replaced, on the new image and ready", 300_000, () => {
      const ps = pods(env, NAME);
      const sts = getJson<{ status?: { updatedReplicas?: number; readyReplicas?: number; currentRevision?: string; updateRevision?: string } }>(env, "statefulset", NAME);
      return ps.length === 3 && ps.every((p) => p.ready && !p.deleting && p.image === ROLLED_IMAGE) &&
        sts.status?.updateRevision === sts.status?.currentRevision && sts.status?.readyReplicas === 3;
    }, 1000);
    const rollMs = Date.now() - t0;
    await sleep(3000);
    writeFileSync(stopFile, "");
    const { records, summary } = await load;
    watch.kill();
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
    // And through FTP: the name does not exist for a new session on that pod.
  });
});

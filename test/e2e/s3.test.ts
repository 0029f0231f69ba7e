// Three replicas on S3 object storage, end to end through MetalLB and kube-proxy with Python ftplib:
// a real S3 server (SeaweedFS, built by `make seaweedfs`; server-image/test/seaweedfs.ts) runs on
// the host bound to the node bridge's address 10.213.0.1 — the pods' gateway, an address on an
// interface the test's node created — and the FtpServer has storage.type S3 with its credentials
// from a Secret (workload identity, storage.s3.serviceAccountName, is documented only: nothing
// here can issue IRSA / Pod Identity tokens).
// - STOR through one pod; LIST and RETR (byte-identical) through each other pod; the object in the
//   bucket at <prefix><user>/<name>. Which pod holds a session: the pods' own login counters.
// - a big STOR (1 GiB; E2E_S3_BIG_MIB makes it smaller for a slow CI, and the test's name says so)
//   with the serving pod's RSS sampled from the host's /proc (the container's process): growth
//   < 64 MB; RETR through another pod byte-identical (SHA-256 on both sides, streamed); REST+RETR
//   through the third pod returns exactly the tail.
// - a pod SIGKILLed mid-upload (after its multipart upload has started): no object under the name,
//   nothing listed through the other pods.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { NODE_IP } from "../cluster/node.ts";
import { startWeed, type Weed } from "../../server-image/test/seaweedfs.ts";
import { NS, applyFtpServer, cond, ftpServer, getJson, pods, setup, waitFor, waitReadyAndServing, type Env, type FtpServerObj } from "./lib.ts";
import { assertReadableThroughOthers, log, sessionOn } from "./replicas-lib.ts";

const NAME = "ftp-s3";
const BUCKET = "ftp-e2e";
const PREFIX = "e2e/";
const CREDENTIALS = "ftp-s3-credentials";
const MiB = 1 << 20;
/** The bar is 1 GiB; a CI that cannot afford it sets E2E_S3_BIG_MIB (the test's name then says so). */
const BIG_MIB = Number(process.env.E2E_S3_BIG_MIB ?? 1024);
const BIG_LABEL = BIG_MIB === 1024 ? "1 GiB" : `${BIG_MIB} MiB (E2E_S3_BIG_MIB; the bar is 1 GiB)`;
/** The bar: the serving pod's RSS grows by less than this during the upload. */
const RSS_GROWTH_LIMIT = 64 * 1000 * 1000;

let env: Env;
let weed: Weed;
let lb = "";

before(async () => {
  env = await setup();
  // After setup: the bridge (and its address) exists only once the node is up.
  weed = await startWeed({ ip: NODE_IP });
  await weed.createBucket(BUCKET);
  log(`SeaweedFS S3 at ${weed.endpoint}, bucket ${BUCKET}`);
  env.kubectl(["apply", "-f", "-"], JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: CREDENTIALS, namespace: NS },
    type: "Opaque",
    stringData: { accessKeyId: weed.accessKey, secretAccessKey: weed.secretKey },
  }));
  await applyFtpServer(env, ftpServer(NAME, "PortPartitioned", 30000, {
    storage: {
      type: "S3",
      s3: { endpoint: weed.endpoint, region: weed.region, bucket: BUCKET, prefix: PREFIX, forcePathStyle: true, credentialsSecret: { name: CREDENTIALS } },
    },
  }));
  lb = await waitReadyAndServing(env, NAME, 3, 180_000);
}, { timeout: 300_000 });

after(async () => {
  await env?.stop();
  await weed?.stop();
}, { timeout: 120_000 });

function ctr(args: string[]): string {
  const socket = env.state.node?.socket;
  if (!socket) throw new Error("no node");
  return execFileSync("ctr", ["--address", socket, "--namespace", "k8s.io", ...args], { encoding: "utf8" });
}

/** The host pid of a pod's server process (the container's init: node, the image's ENTRYPOINT). */
function serverPid(pod: string): number {
  const id = pods(env, NAME).find((p) => p.name === pod)?.containerId;
  assert.ok(id, `${pod} has a container`);
  const line = ctr(["tasks", "ls"]).split("\n").find((l) => l.startsWith(id));
  const pid = Number(line?.trim().split(/\s+/)[1]);
  assert.ok(pid > 0, `task of ${pod}: ${line}`);
  assert.match(readFileSync(`/proc/${pid}/cmdline`, "latin1"), /server-image\/src\/main\.(js|ts)/, "the pid is the FTP server's");
  return pid;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) * 1024 : 0;
}

async function keys(prefix: string): Promise<string[]> {
  const r = await weed.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key ?? "");
}

describe("3 replicas on S3 (SeaweedFS on the node bridge)", { timeout: 600_000 }, () => {
  test("StorageShared=True (ObjectStorage); the pods take the S3 credentials from the Secret, not from the ConfigMap", () => {
    const fs = getJson<FtpServerObj>(env, "ftpserver", NAME);
    const c = cond(fs, "StorageShared");
    assert.equal(c?.status, "True", JSON.stringify(c));
    assert.equal(c?.reason, "ObjectStorage");
    const sts = getJson<{ spec: { template: { spec: { containers: { env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] }[] } } } }>(env, "statefulset", NAME);
    const envVars = sts.spec.template.spec.containers[0]?.env ?? [];
    assert.deepEqual(envVars.find((e) => e.name === "AWS_ACCESS_KEY_ID")?.valueFrom?.secretKeyRef, { name: CREDENTIALS, key: "accessKeyId" });
    assert.deepEqual(envVars.find((e) => e.name === "AWS_SECRET_ACCESS_KEY")?.valueFrom?.secretKeyRef, { name: CREDENTIALS, key: "secretAccessKey" });
    const cms = env.kubectl(["get", "configmaps", "-n", NS, "-o", "json"]);
    assert.ok(!cms.includes(weed.secretKey), "the secret key is in no ConfigMap");
  });

  test("STOR through one pod; LIST and RETR (identical bytes) through each other pod; the object is <prefix>alice/<name>", { timeout: 180_000 }, async () => {
    const podNames = pods(env, NAME).map((p) => p.name);
    assert.equal(podNames.length, 3);
    const first = await sessionOn(env, NAME, lb, "alice");
    const writer = first.pod;
    const put = await first.session.op({ op: "put", name: "report.bin", size: 3 * MiB + 17 });
    first.session.close();
    assert.equal(put.ok, true, JSON.stringify(put));
    const head = await weed.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}alice/report.bin` }));
    assert.equal(head.ContentLength, 3 * MiB + 17);
    await assertReadableThroughOthers(env, NAME, lb, "alice", podNames, writer, "report.bin", put.sha);
    log(`report.bin stored through ${writer}, listed and read back byte-identical through the 2 others`);
  });

  test(`${BIG_LABEL} STOR through one pod with its RSS sampled (growth < 64 MB); RETR through another byte-identical; REST+RETR through the third returns the tail`, { timeout: 480_000 }, async () => {
    const size = BIG_MIB * MiB;
    const restAt = size - 5 * MiB - 12_345; // not on a part or block boundary
    const podNames = pods(env, NAME).map((p) => p.name);
    const up = await sessionOn(env, NAME, lb, "alice");
    const writer = up.pod;
    let baseline = 0;
    let peak = 0;
    let samples = 0;
    let put: Record<string, unknown>;
    try {
      const pid = serverPid(writer);
      // Warm up on this pod (SDK client, part buffers), then the baseline.
      const warm = await up.session.op({ op: "put_stream", name: "warm.bin", size: 9 * MiB });
      assert.equal(warm.ok, true, JSON.stringify(warm));
      await sleep(500);
      baseline = rssBytes(pid);
      peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssBytes(pid));
        samples++;
      }, 200);
      try {
        put = await up.session.op({ op: "put_stream", name: "big.bin", size, tail_from: restAt }, 420_000);
      } finally {
        clearInterval(sampler);
      }
    } finally {
      up.session.close();
    }
    assert.equal(put.ok, true, JSON.stringify(put));
    assert.match(String(put.final), /^226/);
    const storS = Number(put.seconds);
    const growth = peak - baseline;
    log(`${BIG_MIB} MiB STOR through ${writer} in ${storS.toFixed(1)} s (${(size / storS / 1e6).toFixed(1)} MB/s); RSS ${(baseline / MiB).toFixed(0)} MiB -> peak ${(peak / MiB).toFixed(0)} MiB, growth ${(growth / MiB).toFixed(1)} MiB (${samples} samples, every 200 ms)`);
    assert.ok(samples >= 5, "the RSS was sampled during the upload");
    assert.ok(growth < RSS_GROWTH_LIMIT, `RSS grew by ${(growth / MiB).toFixed(1)} MiB during the upload`);
    const head = await weed.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}alice/big.bin` }));
    assert.equal(head.ContentLength, size);

    const [reader, rester] = podNames.filter((p) => p !== writer) as [string, string];
    {
      const { session } = await sessionOn(env, NAME, lb, "alice", reader);
      const get = await session.op({ op: "get_stream", name: "big.bin" }, 420_000);
      session.close();
      assert.equal(get.ok, true, JSON.stringify(get));
      assert.equal(get.bytes, size);
      assert.equal(get.sha, put.sha, `${reader} returns the ${BIG_MIB} MiB stored through ${writer}`);
      log(`${BIG_MIB} MiB RETR through ${reader} in ${Number(get.seconds).toFixed(1)} s (${(size / Number(get.seconds) / 1e6).toFixed(1)} MB/s), SHA-256 identical`);
    }
    {
      const { session } = await sessionOn(env, NAME, lb, "alice", rester);
      const tail = await session.op({ op: "get_stream", name: "big.bin", rest: restAt }, 120_000);
      session.close();
      assert.equal(tail.ok, true, JSON.stringify(tail));
      assert.equal(tail.bytes, size - restAt);
      assert.equal(tail.sha, put.tail_sha, `REST ${restAt} + RETR through ${rester} returns the tail`);
      log(`REST ${restAt} + RETR through ${rester}: ${String(tail.bytes)} bytes, SHA-256 of the tail identical`);
    }
  });

  test("a pod SIGKILLed mid-upload leaves no object under the name; the other pods do not list it", { timeout: 240_000 }, async () => {
    const key = `${PREFIX}alice/cut.bin`;
    const { session, pod: victim } = await sessionOn(env, NAME, lb, "alice");
    const target = pods(env, NAME).find((p) => p.name === victim);
    assert.ok(target);
    try {
      // 64 MiB at about 3 MB/s: in flight for ~20 s unless something cuts it.
      session.send({ op: "put_slow", name: "cut.bin", size: 64 * MiB, delay: 0.02 });
      const flowing = await session.next(30_000);
      assert.equal(flowing.op, "flowing", JSON.stringify(flowing));
      // Wait until the server has sent parts (its multipart upload exists), so the kill cuts a
      // multipart upload in progress, not a buffer that was never sent.
      const upload = await waitFor("the multipart upload of cut.bin", 30_000, async () => {
        const r = await weed.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }));
        return r.Uploads?.find((u) => u.Key === key);
      }, 250);
      assert.deepEqual(await keys(key), [], "while uploading, no object under the name");
      // SIGKILL the server container (no drain, no abort): what a node or OOM kill does.
      ctr(["tasks", "kill", "--signal", "SIGKILL", target.containerId]);
      const res = await session.next(60_000);
      log(`killed ${victim} mid-upload (multipart upload ${String(upload.UploadId).slice(0, 12)}…); client: ${JSON.stringify(res).slice(0, 200)}`);
      assert.equal(res.ok, false, "the client saw an error");
      assert.ok(Number(res.sent) < 64 * MiB, "the upload was cut");
    } finally {
      session.close();
    }
    assert.deepEqual(await keys(key), [], "no object under the name after the kill");
    await assert.rejects(weed.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), (e: Error) => e.name === "NotFound" || /404|NotFound/.test(e.message));
    // sessionOn reads every ready pod's metrics: wait until the killed one is back.
    await waitFor(`${victim} restarted and ready`, 120_000, () => pods(env, NAME).find((p) => p.name === victim && p.ready && p.restarts > 0));
    const other = pods(env, NAME).find((p) => p.name !== victim)!.name;
    const { session: check } = await sessionOn(env, NAME, lb, "alice", other);
    try {
      const ls = await check.op({ op: "nlst" });
      assert.equal(ls.ok, true, JSON.stringify(ls));
      const names = (ls.names as string[]).map((n) => n.replace(/^.*\//, ""));
      assert.ok(!names.includes("cut.bin"), `${other} does not list cut.bin: ${JSON.stringify(names)}`);
    } finally {
      check.close();
    }
    const pending = await weed.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }));
    log(`after the kill: no object ${key}; ${pending.Uploads?.length ?? 0} unfinished multipart upload(s) left (invisible; aborted by a pod's start-up sweep after 24 h or a lifecycle rule)`);
  });
});

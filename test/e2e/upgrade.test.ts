// `helm upgrade` to a new appVersion, end to end: the chart at appVersion A runs the operator as a
// pod (image images.pasv.dev/pasv-operator:A) that gives FtpServers without spec.image the
// FTP-server image of A; the chart packaged at appVersion B (what a release publishes) is
// installed over it while clients run sessions back to back. Asserts: the FTP pods roll to
// images.pasv.dev/ftp-server:B, the FtpServer was not edited (same generation, still no
// spec.image), and no session failed (same definition as the image roll in lifecycle.test.ts).
// B is the same build re-tagged in the node's containerd (a release builds it anew; the names and
// the roll are what is under test).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { importImage } from "../cluster/node.ts";
import { appVersion, operatorImage, serverImage } from "../images/names.ts";
import { Kube } from "../integration/chart-lib.ts";
import {
  IMAGE, OPERATOR_IMAGE, OPERATOR_IMAGE_TAR, ROOT, applyFtpServer, ftpServer, getJson, log, pods, runClient, setup, waitFor, waitReady, waitServing,
  type Env, type FtpServerObj,
} from "./lib.ts";

const NAME = "ftp-upgrade";
const RELEASE = "pasv-operator";
const OPERATOR_NS = "pasv-system";
const A = appVersion();
const B = `${A}-e2e.1`;

let env: Env;
let kube: Kube;
let work: string;

function ctr(args: string[]): string {
  const socket = env.state.node?.socket;
  if (!socket) throw new Error("no node");
  return execFileSync("ctr", ["--address", socket, "--namespace", "k8s.io", ...args], { encoding: "utf8" });
}

/** The chart as a release packages it: `helm package --app-version V` (the image tags follow appVersion). */
async function chartAt(version: string): Promise<string> {
  const dir = join(work, `chart-${version}`);
  cpSync(join(ROOT, "charts/pasv-operator"), join(dir, "pasv-operator"), { recursive: true });
  await kube.helm(["package", join(dir, "pasv-operator"), "--app-version", version, "--version", version, "--destination", dir]);
  return join(dir, `pasv-operator-${version}.tgz`);
}

/** Installs or upgrades the release and waits for the operator pod (helm --wait) and its Lease holder. */
async function helmUpgrade(chart: string): Promise<void> {
  const t0 = Date.now();
  await kube.helm([
    "upgrade", "--install", RELEASE, chart, "--namespace", OPERATOR_NS, "--create-namespace",
    // setup() applied crds/ already (server-side); one operator pod keeps the test light.
    "--set", "crds.enabled=false", "--set", "replicaCount=1", "--wait", "--timeout", "150s",
  ]);
  log(`helm upgrade --install ${chart.split("/").pop()}: ${Date.now() - t0} ms`);
}

function operatorPods(): { name: string; image: string; ready: boolean }[] {
  const list = JSON.parse(env.kubectl(["get", "pods", "-n", OPERATOR_NS, "-l", `app.kubernetes.io/instance=${RELEASE}`, "-o", "json"])) as {
    items: { metadata: { name: string; deletionTimestamp?: string }; spec: { containers: { image: string }[] }; status?: { conditions?: { type: string; status: string }[] } }[];
  };
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({ name: p.metadata.name, image: p.spec.containers[0]?.image ?? "", ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false }));
}

before(async () => {
  env = await setup({ operator: false });
  work = mkdtempSync(join(tmpdir(), "pasv-upgrade-"));
  kube = new Kube(env.state.kubeconfig, {
    helm: execFileSync(join(ROOT, "test/tools/helm/build.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim(),
    kubectl: join(env.state.binDir, "kubectl"),
  });
  const refs = importImage(env.state, OPERATOR_IMAGE_TAR);
  if (!refs.includes(OPERATOR_IMAGE)) throw new Error(`${OPERATOR_IMAGE_TAR} holds ${refs.join(", ")}, not ${OPERATOR_IMAGE}`);
  // Release B's images, under their published names (the same bits; pulled by nobody: IfNotPresent).
  ctr(["images", "tag", "--force", IMAGE, serverImage(B)]);
  ctr(["images", "tag", "--force", OPERATOR_IMAGE, operatorImage(B)]);
});
after(async () => {
  await env?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("helm upgrade to a new appVersion", () => {
  test("the FTP pods roll to the new FTP-server image, no edit to the FtpServer, zero failed sessions", async () => {
    assert.equal(IMAGE, serverImage(A), "the e2e image is the published name at the chart's appVersion");
    await helmUpgrade(await chartAt(A));
    assert.deepEqual(operatorPods().map((p) => p.image), [operatorImage(A)]);

    await applyFtpServer(env, ftpServer(NAME, "PortPartitioned", 31500));
    const ready = await waitReady(env, NAME, 3, 150_000);
    const lb = ready.status?.passive?.externalAddress ?? "";
    await waitServing(env, lb);
    const fsBefore = getJson<FtpServerObj & { spec: Record<string, unknown> }>(env, "ftpserver", NAME);
    assert.equal(fsBefore.spec.image, undefined, "no image stored in the FtpServer");
    assert.deepEqual([...new Set(pods(env, NAME).map((p) => p.image))], [serverImage(A)], "pods on the operator's default at A");
    const podsBefore = pods(env, NAME);

    const stopFile = join(env.logDir, "stop-upgrade-load");
    rmSync(stopFile, { force: true });
    // Load as in lifecycle.test.ts: 4 workers, sessions back to back; a session fails when anything
    // after the 220 greeting goes wrong; before it, refused/reset connections are retried and counted.
    const load = runClient(env, { host: lb, user: "alice", sessions: 20000, parallel: 4, pause: 0.1, retries: 8, deadline: 240, tag: "upgrade", noWhoami: true, stopFile });
    load.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
    let rollMs = 0;
    try {
      await sleep(3000);
      const t0 = Date.now();
      await helmUpgrade(await chartAt(B));
      await waitFor(`all 3 FTP pods replaced, on ${serverImage(B)} and ready`, 180_000, () => {
        const ps = pods(env, NAME);
        const sts = getJson<{ status?: { readyReplicas?: number; currentRevision?: string; updateRevision?: string } }>(env, "statefulset", NAME);
        return ps.length === 3 && ps.every((p) => p.ready && !p.deleting && p.image === serverImage(B)) &&
          sts.status?.updateRevision === sts.status?.currentRevision && sts.status?.readyReplicas === 3;
      }, 1000);
      rollMs = Date.now() - t0;
      await sleep(3000);
    } finally {
      writeFileSync(stopFile, ""); // also on failure: stop the load now, not at its deadline
    }
    const { records, summary } = await load;
    writeFileSync(join(env.logDir, "upgrade-sessions.jsonl"), records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    log(`upgrade ${A} -> ${B}: FTP pods on the new image ${rollMs} ms after helm upgrade began; ${summary.sessions} sessions, ${summary.failed} failed, ${summary.retried} retried before the greeting`);

    assert.deepEqual(operatorPods().map((p) => p.image), [operatorImage(B)], "the operator runs release B");
    for (const p of pods(env, NAME)) assert.ok(!podsBefore.some((b) => b.uid === p.uid), `${p.name} was replaced`);
    const fsAfter = getJson<FtpServerObj & { spec: Record<string, unknown> }>(env, "ftpserver", NAME);
    assert.equal(fsAfter.metadata.generation, fsBefore.metadata.generation, "generation unchanged: the FtpServer was not edited");
    assert.deepEqual(fsAfter.spec, fsBefore.spec);
    assert.ok(summary.sessions > 50, "the load ran throughout the upgrade");
    const failed = records.filter((r) => !r.ok);
    assert.equal(failed.length, 0, `failed sessions during the upgrade: ${JSON.stringify(failed.slice(0, 5))}`);
    // the CRD has no image default either: read it from the API server, not from our files
    const crd = env.kubectl(["get", "crd", "ftpservers.ftp.pasv.dev", "-o", "jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.image}"]);
    assert.doesNotMatch(crd, /"default"/, crd);
  });
});

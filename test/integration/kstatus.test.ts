// docs/install.md says an FtpServer's status is kstatus-compatible, so Flux's health checks work.
// Proved with the real library: test/tools/kstatus runs sigs.k8s.io/cli-utils' kstatus on
// FtpServers read from a real API server while the operator (a real process) reconciles them:
// InProgress while the operator is still working (Reconciling=True), Current once Ready,
// Failed when the spec is stalled (Stalled=True), and back when the spec is fixed.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources, type KubeObject } from "../../operator/src/runtime/types.ts";
import { uniqueName } from "../cluster/harness.ts";
import { FtpServers, condition, ensureNamespace, eventually, ftpServerObject, startTestEnv, type TestEnv } from "./operator-helpers.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ns = uniqueName("ftp-kstatus");

type Fs = KubeObject & { metadata: { generation?: number }; status?: { observedGeneration?: number } };

interface KStatus {
  status: "InProgress" | "Current" | "Failed" | "Terminating" | "NotFound" | "Unknown";
  message: string;
}

describe("kstatus (sigs.k8s.io/cli-utils) on FtpServers through their lifecycle", () => {
  let env: TestEnv;
  let client: ApiClient;
  let kstatusBin = "";

  /** The FtpServer as the API server serves it, and kstatus' verdict on exactly that object. */
  const observe = async (name: string): Promise<{ fs: Fs; ks: KStatus }> => {
    const fs = await client.get<Fs>(FtpServers, name, ns);
    assert.ok(fs, `FtpServer ${name} exists`);
    const ks = JSON.parse(execFileSync(kstatusBin, { input: JSON.stringify(fs), encoding: "utf8", timeout: 10_000 })) as KStatus;
    return { fs, ks };
  };
  /** Waits until the operator has reconciled the current generation and kstatus says `want`. */
  const waitStatus = (name: string, want: KStatus["status"], timeoutMs = 60_000) =>
    eventually(`kstatus of ${name} = ${want} at the observed generation`, async () => {
      const o = await observe(name);
      return o.ks.status === want && o.fs.status?.observedGeneration === o.fs.metadata.generation ? o : undefined;
    }, timeoutMs, 250);
  const patchSpec = (name: string, spec: Record<string, unknown>) =>
    client.mergePatch(FtpServers, name, ns, { spec });

  before(async () => {
    // Built (and cached) before the cluster starts: a cold build takes about a minute.
    kstatusBin = execFileSync(join(ROOT, "test/tools/kstatus/build.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 600_000 }).trim();
    env = await startTestEnv({ namespace: ns });
    ({ client } = env);
    const hash = execFileSync(process.execPath, [join(ROOT, "server-image/src/hash-password.ts"), "--cost", "1024"], { env: { ...process.env, PASSWORD: "pw-1" }, encoding: "utf8" }).trim();
    await client.create(Resources.Secret, {
      apiVersion: "v1", kind: "Secret", metadata: { name: "users", namespace: ns }, type: "Opaque",
      stringData: { "users.json": JSON.stringify({ users: [{ name: "alice", password: hash, groups: [] }] }) },
    });
    env.spawnOperator("kstatus", ["--namespace", ns, "--no-leader-elect"]);
  });
  after(() => env?.stop());

  const spec = (extra: Record<string, unknown> = {}) => ({
    replicas: 2,
    passive: { basePort: 30000, numberOfPorts: 10 },
    users: { secretName: "users" },
    service: { type: "ClusterIP" },
    ...extra,
  });

  test("Current exactly when Ready; InProgress while the operator waits (Reconciling=True); Current again after", async () => {
    await client.create(FtpServers, ftpServerObject("ks-life", ns, spec()));
    const ready = await waitStatus("ks-life", "Current");
    assert.equal(condition(ready.fs, "Ready")?.status, "True", "Current only with Ready=True");
    assert.equal(ready.fs.status?.observedGeneration, ready.fs.metadata.generation);

    // A LoadBalancer Service on a control plane without a load-balancer controller never gets an
    // address: the operator keeps Reconciling=True (waiting for it) — kstatus must say InProgress,
    // and keep saying it (not flip to Current or Failed).
    await patchSpec("ks-life", { service: { type: "LoadBalancer" } });
    const waiting = await waitStatus("ks-life", "InProgress");
    for (let i = 0; i < 6; i++) {
      const o = i === 0 ? waiting : await observe("ks-life");
      assert.equal(o.ks.status, "InProgress", `still waiting: ${JSON.stringify(o.ks)}`);
      assert.equal(condition(o.fs, "Reconciling")?.status, "True", "InProgress comes from the operator's Reconciling=True");
      assert.equal(o.ks.message, condition(o.fs, "Reconciling")?.message, "kstatus reports the operator's message");
      assert.notEqual(condition(o.fs, "Ready")?.status, "True");
      await sleep(500);
    }
    await patchSpec("ks-life", { service: { type: "ClusterIP" } });
    const again = await waitStatus("ks-life", "Current");
    assert.equal(condition(again.fs, "Ready")?.status, "True");
  });

  test("caveat: an FtpServer no operator has seen (no status at all) is Current to kstatus", async () => {
    // kstatus' rule for a custom resource without status.observedGeneration or conditions is
    // "Current". The operator here watches only its namespace, so this one never gets a status:
    // a Flux health check would pass on it (docs/install.md says so).
    const other = uniqueName("ftp-unwatched");
    await ensureNamespace(client, other);
    await client.create(FtpServers, ftpServerObject("ks-orphan", other, spec()));
    await sleep(2000);
    const fs = await client.get<Fs>(FtpServers, "ks-orphan", other);
    assert.equal(fs?.status, undefined, "no operator wrote a status");
    const ks = JSON.parse(execFileSync(kstatusBin, { input: JSON.stringify(fs), encoding: "utf8", timeout: 10_000 })) as KStatus;
    assert.equal(ks.status, "Current");
  });

  test("Failed on a stalled spec (Stalled=True), with the operator's reason; fixing the spec clears it", async () => {
    // 60 passive ports + the control port behind an AWS NLB: more listeners than it allows (50).
    await client.create(FtpServers, ftpServerObject("ks-stalled", ns, spec({
      passive: { basePort: 31000, numberOfPorts: 60 },
      service: { type: "LoadBalancer", provider: "AWSNLB" },
    })));
    const failed = await waitStatus("ks-stalled", "Failed");
    const stalled = condition(failed.fs, "Stalled");
    assert.equal(stalled?.status, "True");
    assert.equal(stalled?.reason, "TooManyListeners");
    assert.equal(failed.ks.message, stalled?.message, "kstatus reports the Stalled message");
    assert.match(failed.ks.message, /NLB/);

    await patchSpec("ks-stalled", { passive: { basePort: 31000, numberOfPorts: 40 } });
    // No longer stalled; on this control plane the NLB never gives an address, so: InProgress.
    const fixed = await waitStatus("ks-stalled", "InProgress");
    assert.equal(condition(fixed.fs, "Stalled")?.status, "False");
  });
});

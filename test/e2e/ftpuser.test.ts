// FtpUsers end to end on the full node, the way a user does it: `kubectl create secret` with an
// `htpasswd -nbB` hash, `kubectl apply` of an FtpUser, then curl logs in through the load balancer;
// disabling and deleting the FtpUser make the login fail. Each change must reach every pod within
// 10 s without a restart. The kubelet runs with its own default syncFrequency (1m, not the 10 s the
// test node uses elsewhere), so the 10 s can only come from the operator's pod touch
// (operator/src/controller/ftpusers.ts), not from a periodic sync. Time to effect = from the
// kubectl command to the users-file reload seen on every pod (ftp_config_reloads_total), each
// confirmed by a real login through the LB right after; printed per change.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { IMAGE, NS, log, metric, podMetrics, pods, setup, waitFor, waitReadyAndServing, type Env, type PodInfo } from "./lib.ts";

const NAME = "ftp-users-e2e";
const USER = "dora";
const PW = "dora-pw-1";
const LIMIT_MS = 10_000;

let env: Env;
let lb = "";
let before0: PodInfo[] = [];
before(async () => {
  env = await setup({ node: { kubeletSyncFrequency: "1m" } });
});
after(async () => {
  await env?.stop();
});

/** curl's exit code for one login (+ NLST over a passive data connection) through the LB: 0 = in, 67 = login denied. */
function curlLogin(): number {
  const r = spawnSync("ip", ["netns", "exec", env.client.netns, "curl", "-sS", "--max-time", "20", "--user", `${USER}:${PW}`, "--list-only", `ftp://${lb}/`], { encoding: "utf8" });
  return r.status ?? -1;
}

async function reloads(ps: PodInfo[]): Promise<number[]> {
  return Promise.all(ps.map(async (p) => metric(await podMetrics(p.ip), 'ftp_config_reloads_total{file="users",result="ok"}')));
}

/** Runs `change`, waits until every pod reloaded its users file, returns the ms from the change to the last pod's reload. */
async function timeToReload(what: string, change: () => void): Promise<number> {
  const ps = pods(env, NAME);
  const base = await reloads(ps);
  const t0 = Date.now();
  change();
  await waitFor(`${what}: users file reloaded on every pod`, 30_000, async () => (await reloads(ps)).every((n, i) => n > base[i]!), 100);
  return Date.now() - t0;
}

describe("FtpUser with kubectl (full node, kubelet syncFrequency 1m)", () => {
  test("setup: an FtpServer with 2 pods serving through the LB", async () => {
    env.kubectl(["apply", "-f", "-"], JSON.stringify({
      apiVersion: "ftp.pasv.dev/v1alpha1", kind: "FtpServer", metadata: { name: NAME, namespace: NS },
      spec: {
        replicas: 2, image: IMAGE, imagePullPolicy: "Never", routing: { mode: "PortPartitioned" },
        passive: { basePort: 32100, numberOfPorts: 20, addressRules: [{ userClass: "*", address: "auto" }] },
        users: { secretName: "ftp-users" },
      },
    }));
    lb = await waitReadyAndServing(env, NAME, 2, 150_000);
    before0 = pods(env, NAME);
    assert.equal(curlLogin(), 67, `${USER} does not exist yet: login denied`);
  });

  test("add: kubectl create secret (htpasswd -nbB) + kubectl apply FtpUser → login works within 10 s", async () => {
    const hash = execFileSync("htpasswd", ["-nbB", "-C", "5", USER, PW], { encoding: "utf8" }).trim().split(":").slice(1).join(":");
    env.kubectl(["create", "secret", "generic", "dora-password", "-n", NS, `--from-literal=password=${hash}`]);
    const ms = await timeToReload("add", () =>
      env.kubectl(["apply", "-f", "-"], JSON.stringify({
        apiVersion: "ftp.pasv.dev/v1alpha1", kind: "FtpUser", metadata: { name: "dora", namespace: NS },
        spec: { serverRef: { name: NAME }, userName: USER, passwordSecretRef: { name: "dora-password" }, home: "dora" },
      })));
    const ready = env.kubectl(["get", "ftpuser", "dora", "-n", NS, "-o", "jsonpath={.status.conditions[0].status}/{.status.conditions[0].reason}"]);
    assert.equal(ready, "True/Active");
    // Both pods serve the LB's control port: log in a few times so each is asked.
    for (let i = 0; i < 4; i++) assert.equal(curlLogin(), 0, `login ${i + 1} after the add`);
    log(`FtpUser add → every pod reloaded in ${ms} ms; curl login through ${lb} OK`);
    assert.ok(ms < LIMIT_MS, `add took ${ms} ms`);
  });

  test("disable: spec.enabled=false → login refused within 10 s", async () => {
    const ms = await timeToReload("disable", () => env.kubectl(["patch", "ftpuser", "dora", "-n", NS, "--type=merge", "-p", '{"spec":{"enabled":false}}']));
    for (let i = 0; i < 2; i++) assert.equal(curlLogin(), 67, `login ${i + 1} after the disable`);
    log(`FtpUser disable → every pod reloaded in ${ms} ms; curl login refused`);
    assert.ok(ms < LIMIT_MS, `disable took ${ms} ms`);
  });

  test("delete: enabled again (login works), then kubectl delete → login refused within 10 s; no pod restarted", async () => {
    const back = await timeToReload("re-enable", () => env.kubectl(["patch", "ftpuser", "dora", "-n", NS, "--type=merge", "-p", '{"spec":{"enabled":true}}']));
    // The failed logins above throttle this client (up to 8 s per failure): one success clears it.
    await sleep(1000);
    assert.equal(curlLogin(), 0, "login after the re-enable");
    const ms = await timeToReload("delete", () => env.kubectl(["delete", "ftpuser", "dora", "-n", NS]));
    assert.equal(curlLogin(), 67, "login after the delete");
    log(`FtpUser re-enable → ${back} ms; delete → every pod reloaded in ${ms} ms; curl login refused`);
    assert.ok(back < LIMIT_MS && ms < LIMIT_MS, `re-enable ${back} ms, delete ${ms} ms`);
    const now = pods(env, NAME);
    assert.deepEqual(now.map((p) => [p.name, p.uid, p.restarts]), before0.map((p) => [p.name, p.uid, p.restarts]), "same pods, restartCount unchanged");
  });

  test("a bad Secret: a plain password → Ready=False InvalidHash", async () => {
    env.kubectl(["create", "secret", "generic", "eve-password", "-n", NS, "--from-literal=password=not-a-hash"]);
    env.kubectl(["apply", "-f", "-"], JSON.stringify({
      apiVersion: "ftp.pasv.dev/v1alpha1", kind: "FtpUser", metadata: { name: "eve", namespace: NS },
      spec: { serverRef: { name: NAME }, passwordSecretRef: { name: "eve-password" } },
    }));
    await waitFor("eve Ready=False InvalidHash", 20_000, () =>
      env.kubectl(["get", "ftpuser", "eve", "-n", NS, "-o", "jsonpath={.status.conditions[0].status}/{.status.conditions[0].reason}"]) === "False/InvalidHash");
    log(env.kubectl(["get", "ftpusers", "-n", NS]).trim());
  });
});

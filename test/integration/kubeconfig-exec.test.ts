// Exec credential plugins against a real kube-apiserver: a real plugin script prints an
// ExecCredential (a bearer token the apiserver knows from --token-auth-file, or the admin client
// certificate); the apiserver's own SelfSubjectReview says who we were. The token is cached until
// its expirationTimestamp and then fetched again; the operator itself (main.ts, out of cluster)
// runs on an exec kubeconfig taken from a two-file $KUBECONFIG list and takes its Lease.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestCluster, type TestCluster } from "../cluster/harness.ts";
import { freePort } from "../cluster/cluster.ts";
import { ApiClient } from "../../operator/src/runtime/client.ts";
import { loadDefaultKubeConfig, loadKubeConfigFile } from "../../operator/src/runtime/kubeconfig.ts";
import { Resources, type KubeObject } from "../../operator/src/runtime/types.ts";
import { eventually, installCrd } from "./operator-helpers.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "pasv-exec-"));
let cluster: TestCluster;
let admin: ApiClient;

// Two identities the apiserver accepts by bearer token (token,user,uid,"groups").
const tokens = join(dir, "tokens.csv");
writeFileSync(tokens, ['exec-token-1,exec-one,1,"system:masters"', 'exec-token-2,exec-two,2,"system:masters"', ""].join("\n"));

// The plugin: prints $d/token (or the admin cert/key when $d/mode is "cert") with $d/exp as the
// expiry, and appends a line to $d/runs each time it runs.
const plugin = join(dir, "plugin.sh");
writeFileSync(plugin, [
  "#!/bin/sh",
  `d=${dir}`,
  'echo x >> "$d/runs"',
  'exp=""; [ -s "$d/exp" ] && exp=",\\"expirationTimestamp\\":\\"$(cat "$d/exp")\\""',
  'if [ "$(cat "$d/mode")" = cert ]; then',
  '  node -e \'const f=require("fs");process.stdout.write(JSON.stringify({apiVersion:"client.authentication.k8s.io/v1beta1",kind:"ExecCredential",status:{clientCertificateData:f.readFileSync(process.argv[1],"utf8"),clientKeyData:f.readFileSync(process.argv[2],"utf8")}}))\' "$(cat "$d/cert")" "$(cat "$d/key")"',
  "else",
  '  printf \'{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"%s}}\' "$(cat "$d/token")" "$exp"',
  "fi",
  "",
].join("\n"), { mode: 0o755 });
const runs = () => readFileSync(join(dir, "runs"), "utf8").split("\n").filter(Boolean).length;
function serve(mode: "token" | "cert", token = "", exp = ""): void {
  writeFileSync(join(dir, "mode"), mode);
  writeFileSync(join(dir, "token"), token);
  writeFileSync(join(dir, "exp"), exp);
  writeFileSync(join(dir, "runs"), "");
}

/** A kubeconfig whose user is the exec plugin; the cluster entry is copied from the harness's file. */
function execKubeconfig(path: string, opts: { server?: string; ca?: string; withCluster?: boolean; withUser?: boolean } = {}): string {
  const cfg: Record<string, unknown> = { apiVersion: "v1", kind: "Config" };
  if (opts.withCluster !== false) {
    cfg["current-context"] = "exec";
    cfg.clusters = [{ name: "local", cluster: { server: opts.server, "certificate-authority": opts.ca } }];
    cfg.contexts = [{ name: "exec", context: { cluster: "local", user: "exec-user" } }];
  }
  if (opts.withUser !== false) {
    cfg.users = [{ name: "exec-user", user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: plugin, env: [{ name: "PATH", value: `${process.execPath.replace(/\/node$/, "")}:${process.env.PATH ?? ""}` }] } } }];
  }
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

async function whoAmI(client: ApiClient): Promise<string> {
  const r = await client.request<{ status: { userInfo: { username: string } } }>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  });
  return r.status.userInfo.username;
}

before(async () => {
  cluster = await startTestCluster({ extraApiserverArgs: [`--token-auth-file=${tokens}`] });
  admin = new ApiClient(cluster.kubeConfig);
});
after(async () => {
  admin?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function clusterOf(): { server: string; ca: string } {
  const c = cluster.kubeConfig.getCurrentCluster()!;
  return { server: c.server, ca: c.caFile! };
}

test("an exec plugin's token authenticates; it is cached until its expirationTimestamp, then the plugin runs again", async () => {
  const kc = execKubeconfig(join(dir, "token.kubeconfig"), clusterOf());
  serve("token", "exec-token-1", new Date(Date.now() + 3000).toISOString());
  const client = new ApiClient(loadKubeConfigFile(kc));
  try {
    assert.equal(await whoAmI(client), "exec-one");
    await client.list(Resources.Namespace);
    assert.equal(runs(), 1, "cached while it has not expired");
    writeFileSync(join(dir, "token"), "exec-token-2");
    writeFileSync(join(dir, "exp"), new Date(Date.now() + 600_000).toISOString());
    await sleep(3200);
    assert.equal(await whoAmI(client), "exec-two", "after expiry the plugin ran again");
    assert.equal(runs(), 2);
  } finally {
    client.close();
  }
});

test("an exec plugin that returns a client certificate and key authenticates with it", async () => {
  const kc = execKubeconfig(join(dir, "cert.kubeconfig"), clusterOf());
  serve("cert");
  const adminUser = cluster.kubeConfig.getCurrentUser()!;
  writeFileSync(join(dir, "cert"), adminUser.certFile!);
  writeFileSync(join(dir, "key"), adminUser.keyFile!);
  const client = new ApiClient(loadKubeConfigFile(kc));
  try {
    assert.equal(await whoAmI(client), "pasv-admin");
    assert.equal(runs(), 1);
  } finally {
    client.close();
  }
});

test("the operator runs out of cluster on an exec user from a two-file KUBECONFIG list and takes its Lease as that user", async () => {
  await installCrd(admin);
  const { server, ca } = clusterOf();
  const clusters = execKubeconfig(join(dir, "clusters.kubeconfig"), { server, ca, withUser: false });
  const users = execKubeconfig(join(dir, "users.kubeconfig"), { withCluster: false });
  const env = { ...process.env, KUBECONFIG: [join(dir, "missing.kubeconfig"), clusters, users].join(delimiter), LOG_LEVEL: "warn" };
  assert.equal(loadDefaultKubeConfig(undefined, env).cluster.server, server);
  serve("token", "exec-token-2");
  const port = await freePort();
  const op = spawn(process.execPath, [join(repo, "operator/src/main.ts"), "--health-port", String(port), "--health-host", "127.0.0.1",
    "--leader-election-namespace", "default", "--leader-election-id", "pasv-exec-test", "--workload-readiness", "applied"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let logs = "";
  op.stdout.on("data", (d: Buffer) => (logs += d.toString()));
  op.stderr.on("data", (d: Buffer) => (logs += d.toString()));
  try {
    const lease = await eventually("the operator's Lease", async () => {
      const l = await admin.get<KubeObject & { spec?: { holderIdentity?: string } }>(Resources.Lease, "pasv-exec-test", "default");
      return l?.spec?.holderIdentity ? l : undefined;
    }, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\noperator output:\n${logs}`);
    });
    const managers = (lease.metadata?.managedFields ?? []).map((f) => f.manager);
    assert.ok(managers.length > 0, "the Lease was written");
    await eventually("readyz", async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok, 30_000);
    assert.equal(runs(), 1, "the plugin ran once for all the operator's requests (concurrent ones share the run)");
  } finally {
    op.kill("SIGTERM");
    await new Promise((r) => op.once("exit", r));
  }
});

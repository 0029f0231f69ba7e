// Kubeconfigs as people have them: the $KUBECONFIG list merged as kubectl merges it, exec
// credential plugins (a real plugin script, cached until expiry, re-run after a 401),
// auth-provider users through a lazily loaded client-node, a User-Agent on every request, and
// proof that the operator's own import graph never loads @kubernetes/client-node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ApiClient } from "../../../operator/src/runtime/client.ts";
import {
  ExecPlugin, USER_AGENT, loadDefaultKubeConfig, loadKubeConfigFile, mergeKubeConfigFiles, resolveContext,
} from "../../../operator/src/runtime/kubeconfig.ts";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "pasv-kubeconfig-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, text, { mode });
  return p;
}

/**
 * A real exec plugin: a shell script that counts its runs, records KUBERNETES_EXEC_INFO and one env
 * var, and prints an ExecCredential whose token and expiry come from files the test writes.
 */
function plugin(name: string): { path: string; runs: () => number; info: () => unknown; env: () => string; setToken: (t: string, exp?: string) => void } {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const path = file(`${name}/plugin.sh`, [
    "#!/bin/sh",
    `d=${d}`,
    'echo x >> "$d/runs"',
    'printf %s "$KUBERNETES_EXEC_INFO" > "$d/info"',
    'printf %s "$PLUGIN_GREETING" > "$d/env"',
    'if [ -f "$d/fail" ]; then echo "plugin says no: $(cat "$d/fail")" >&2; exit 3; fi',
    'exp=""; [ -s "$d/exp" ] && exp=",\\"expirationTimestamp\\":\\"$(cat "$d/exp")\\""',
    'printf \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"%s}}\' "$(cat "$d/token")" "$exp"',
    "",
  ].join("\n"), 0o755);
  const p = {
    path,
    runs: () => { try { return readFileSync(join(d, "runs"), "utf8").split("\n").filter(Boolean).length; } catch { return 0; } },
    info: () => JSON.parse(readFileSync(join(d, "info"), "utf8")) as unknown,
    env: () => readFileSync(join(d, "env"), "utf8"),
    setToken: (t: string, exp = "") => { writeFileSync(join(d, "token"), t); writeFileSync(join(d, "exp"), exp); },
  };
  p.setToken("t0");
  return p;
}

const execUser = (command: string, extra: Record<string, unknown> = {}) => ({
  exec: { apiVersion: "client.authentication.k8s.io/v1", command, interactiveMode: "Never", env: [{ name: "PLUGIN_GREETING", value: "hello" }], ...extra },
});

function kubeconfig(name: string, cfg: Record<string, unknown>): string {
  return file(name, JSON.stringify({ apiVersion: "v1", kind: "Config", ...cfg }));
}

/** A plain-HTTP stand-in for the API server that records each request's headers and can answer 401. */
async function apiServer(): Promise<{ url: string; seen: IncomingHttpHeaders[]; reject: Set<string>; close: () => Promise<void> }> {
  const seen: IncomingHttpHeaders[] = [];
  const reject = new Set<string>();
  const srv = createServer((req, res) => {
    seen.push(req.headers);
    const unauthorized = reject.has(req.headers.authorization ?? "");
    res.writeHead(unauthorized ? 401 : 200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(unauthorized ? { kind: "Status", code: 401, message: "Unauthorized" } : { kind: "Namespace", metadata: { name: "x" } }));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, seen, reject, close: () => new Promise((r) => srv.close(() => r())) };
}

test("the KUBECONFIG list is merged as kubectl merges it: first definition of a name wins, first current-context wins, missing files skipped, paths relative to their own file", () => {
  const a = kubeconfig("merge/a/config", {
    "current-context": "ctx-a",
    clusters: [{ name: "shared", cluster: { server: "https://a.example:6443", "certificate-authority": "ca-a.crt" } }],
    users: [{ name: "alice", user: { token: "from-a" } }],
    contexts: [{ name: "ctx-a", context: { cluster: "shared", user: "bob" } }],
  });
  const b = kubeconfig("merge/b/config", {
    "current-context": "ctx-b",
    clusters: [{ name: "shared", cluster: { server: "https://b.example:6443" } }, { name: "only-b", cluster: { server: "https://only-b.example" } }],
    users: [{ name: "alice", user: { token: "from-b" } }, { name: "bob", user: { "client-certificate": "bob.crt", "client-key": "/abs/bob.key" } }],
    contexts: [{ name: "ctx-a", context: { cluster: "only-b", user: "alice" } }, { name: "ctx-b", context: { cluster: "only-b", user: "alice" } }],
  });
  const missing = join(dir, "merge/none/config");
  const env = { KUBECONFIG: [missing, a, "", b].join(delimiter), HOME: dir };
  const kc = loadDefaultKubeConfig(undefined, env);
  // current-context from a; ctx-a from a (b's ctx-a is ignored); cluster "shared" from a; user bob only in b
  assert.equal(kc.cluster.server, "https://a.example:6443");
  assert.equal(kc.cluster.caFile, join(dir, "merge/a/ca-a.crt"));
  assert.equal(kc.user.name, "bob");
  assert.equal(kc.user.certFile, join(dir, "merge/b/bob.crt"), "a relative path is relative to the file that defines it");
  assert.equal(kc.user.keyFile, "/abs/bob.key");
  const other = loadDefaultKubeConfig("ctx-b", env);
  assert.equal(other.cluster.server, "https://only-b.example");
  assert.equal(other.user.token, "from-a", "user alice comes from the first file that defines it");
  assert.deepEqual(mergeKubeConfigFiles([missing, a, b]).files, [a, b]);
  assert.throws(() => loadDefaultKubeConfig("nope", env), /context nope not found/);
});

test("without KUBECONFIG ~/.kube/config is read; with no file at all the in-cluster account is used", () => {
  const home = join(dir, "home");
  kubeconfig("home/.kube/config", {
    "current-context": "c", clusters: [{ name: "k", cluster: { server: "https://home.example" } }], contexts: [{ name: "c", context: { cluster: "k" } }],
  });
  assert.equal(loadDefaultKubeConfig(undefined, { HOME: home }).cluster.server, "https://home.example");
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  try {
    process.env.KUBERNETES_SERVICE_HOST = "10.96.0.1";
    process.env.KUBERNETES_SERVICE_PORT = "443";
    const kc = loadDefaultKubeConfig(undefined, { KUBECONFIG: join(dir, "absent-1") + delimiter + join(dir, "absent-2"), HOME: home });
    assert.equal(kc.cluster.server, "https://10.96.0.1:443");
    assert.match(kc.user.tokenFile ?? "", /serviceaccount\/token$/);
  } finally {
    for (const [k, v] of [["KUBERNETES_SERVICE_HOST", saved.host], ["KUBERNETES_SERVICE_PORT", saved.port]] as const) {
      if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  }
  assert.throws(() => loadKubeConfigFile(join(dir, "absent-3")), /ENOENT/, "an explicit --kubeconfig must exist");
});

test("exec plugin: runs the command (relative to the kubeconfig) with its env and KUBERNETES_EXEC_INFO, caches the credential until expirationTimestamp", async () => {
  const p = plugin("exec-cache");
  const path = kubeconfig("exec-cache/config", {
    "current-context": "c",
    clusters: [{ name: "k", cluster: { server: "https://api.example:6443", "certificate-authority-data": "Q0E=", extensions: [{ name: "client.authentication.k8s.io/exec", extension: { audience: "pasv" } }] } }],
    users: [{ name: "u", user: execUser("./plugin.sh", { provideClusterInfo: true }) }],
    contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
  });
  let now = Date.parse("2030-01-01T00:00:00Z");
  const kc = resolveContext(mergeKubeConfigFiles([path], true), undefined, { now: () => now });
  p.setToken("first", "2030-01-01T00:10:00Z");
  assert.deepEqual(await kc.credentials(), { token: "first" });
  assert.equal(p.env(), "hello");
  assert.deepEqual(p.info(), {
    apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential",
    spec: { interactive: false, cluster: { server: "https://api.example:6443", "certificate-authority-data": "Q0E=", config: { audience: "pasv" } } },
  });
  p.setToken("second", "2030-01-01T00:20:00Z");
  now += 9 * 60_000;
  assert.deepEqual(await kc.credentials(), { token: "first" }, "cached before expiry");
  assert.equal(p.runs(), 1);
  now += 2 * 60_000;
  const all = await Promise.all([kc.credentials(), kc.credentials(), kc.credentials()]);
  assert.deepEqual(all, [{ token: "second" }, { token: "second" }, { token: "second" }], "expired: re-run, concurrent callers share one run");
  assert.equal(p.runs(), 2);
});

test("exec plugin: failures say why (stderr, install hint, bad output) and are not cached", async () => {
  const p = plugin("exec-fail");
  writeFileSync(join(dir, "exec-fail/fail"), "no session");
  const ex = new ExecPlugin({ apiVersion: "client.authentication.k8s.io/v1", command: p.path, interactiveMode: "Never" }, { baseDir: dir });
  await assert.rejects(ex.get(), /exited with 3: plugin says no: no session/);
  rmSync(join(dir, "exec-fail/fail"));
  assert.deepEqual(await ex.get(), { token: "t0" }, "the next call runs the plugin again");
  const missing = new ExecPlugin({ apiVersion: "client.authentication.k8s.io/v1beta1", command: "pasv-no-such-plugin", installHint: "install it with: apt-get install pasv-plugin" }, { baseDir: dir });
  await assert.rejects(missing.get(), /ENOENT[\s\S]*install it with: apt-get install pasv-plugin/);
  const wrong = new ExecPlugin({ apiVersion: "client.authentication.k8s.io/v1beta1", command: p.path, interactiveMode: "Never" }, { baseDir: dir });
  await assert.rejects(wrong.get(), /want client.authentication.k8s.io\/v1beta1\/ExecCredential/);
  assert.throws(() => new ExecPlugin({ apiVersion: "client.authentication.k8s.io/v1alpha1", command: "x" }, { baseDir: dir }), /not supported/);
  assert.throws(() => new ExecPlugin({ apiVersion: "client.authentication.k8s.io/v1", command: "x" }, { baseDir: dir }), /interactiveMode must be specified/);
  assert.throws(() => new ExecPlugin({ apiVersion: "client.authentication.k8s.io/v1", command: "x", interactiveMode: "Always" }, { baseDir: dir }), /needs a terminal/);
});

test("ApiClient: every request carries the User-Agent and the exec token; a 401 makes the next request re-run the plugin", async () => {
  const p = plugin("exec-client");
  const api = await apiServer();
  try {
    const path = kubeconfig("exec-client/config", {
      "current-context": "c",
      clusters: [{ name: "k", cluster: { server: api.url } }],
      users: [{ name: "u", user: execUser("./plugin.sh") }],
      contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
    });
    const client = new ApiClient(loadKubeConfigFile(path));
    p.setToken("good-1");
    await client.request("GET", "/api/v1/namespaces/x");
    await client.request("GET", "/api/v1/namespaces/x");
    assert.equal(p.runs(), 1, "no expiry: cached");
    api.reject.add("Bearer good-1");
    p.setToken("good-2");
    await assert.rejects(client.request("GET", "/api/v1/namespaces/x"), /401/);
    await client.request("GET", "/api/v1/namespaces/x");
    assert.equal(p.runs(), 2);
    assert.deepEqual(api.seen.map((h) => h.authorization), ["Bearer good-1", "Bearer good-1", "Bearer good-1", "Bearer good-2"]);
    assert.ok(api.seen.every((h) => h["user-agent"] === USER_AGENT));
    assert.match(USER_AGENT, /^pasv-operator\/v\d+\.\d+\.\d+\S* \(linux\/\w+\) node\/v24\./);
    client.close();
  } finally {
    await api.close();
  }
});

// The in-cluster RSS saving: nothing on the operator's paths may import @kubernetes/client-node.
// A child process records every module it resolves (module.registerHooks), loads main.ts (--help
// exits after every static import ran), then makes requests as a token user and an exec user; an
// auth-provider user is the positive control (that one must load client-node, lazily).
test("the operator's import graph loads @kubernetes/client-node only for auth-provider users", async () => {
  const api = await apiServer();
  try {
    const p = plugin("exec-graph");
    const cfg = (user: Record<string, unknown>) => JSON.stringify({
      apiVersion: "v1", kind: "Config", "current-context": "c", clusters: [{ name: "k", cluster: { server: api.url } }],
      users: [{ name: "u", user }], contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
    });
    const token = file("graph/token.yaml", cfg({ token: "static" }));
    const exec = file("graph/exec.yaml", cfg(execUser(p.path)));
    const gcp = file("graph/gcp.yaml", cfg({ "auth-provider": { name: "gcp", config: { "access-token": "gcp-token", expiry: "2999-01-01T00:00:00Z" } } }));
    const child = file("graph/child.mts", `
      import { registerHooks } from "node:module";
      const seen = [];
      registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.push(r.url); return r; } });
      const loaded = () => seen.some((u) => u.includes("@kubernetes/client-node"));
      const realExit = process.exit;
      process.exit = (() => { throw new Error("exit"); });
      try { await import(${JSON.stringify(join(repo, "operator/src/main.ts"))}); } catch {}
      process.exit = realExit;
      const out = { main: seen.length, afterMain: loaded() };
      const { ApiClient } = await import(${JSON.stringify(join(repo, "operator/src/runtime/client.ts"))});
      const { loadKubeConfigFile } = await import(${JSON.stringify(join(repo, "operator/src/runtime/kubeconfig.ts"))});
      for (const [name, path] of [["token", ${JSON.stringify(token)}], ["exec", ${JSON.stringify(exec)}], ["gcp", ${JSON.stringify(gcp)}]]) {
        const c = new ApiClient(loadKubeConfigFile(path));
        await c.request("GET", "/api/v1/namespaces/x");
        c.close();
        out[name] = loaded();
      }
      console.log(JSON.stringify(out));
    `);
    // async: the parent's event loop must keep serving the stand-in API server
    const r = await promisify(execFile)(process.execPath, [child, "--help"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, HOME: dir, KUBECONFIG: "" } });
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    assert.ok((out.main as number) > 20, `main.ts's graph was loaded (${String(out.main)} modules)`);
    assert.deepEqual(out, { main: out.main, afterMain: false, token: false, exec: false, gcp: true });
    assert.deepEqual(api.seen.map((h) => h.authorization), ["Bearer static", "Bearer t0", "Bearer gcp-token"]);
  } finally {
    await api.close();
  }
});

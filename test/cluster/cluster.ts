// A real Kubernetes control plane as local processes on 127.0.0.1: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, built from the pinned Go modules by
// test/cluster/build.sh. Every cluster gets its own directory, PKI and free ports, so
// several can run at once. State (pids, ports) is written to <dir>/state.json so a
// later process (`cli.ts down`) can stop what an earlier one started.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  NODE_IP, SERVICE_CIDR, buildNodeArtifacts, prepareNodeHost, recoverHost, releaseHost, startNode, stopNode, type NodeOptions, type NodeState,
} from "./node.ts";
import { generatePki, type Pki } from "./pki.ts";
import { freePort } from "../support/ports.ts";

const here = import.meta.dirname;

export interface ClusterOptions {
  /** State directory; created, and removed again by stop() unless keepDir. */
  dir: string;
  controllerManager?: boolean;
  scheduler?: boolean;
  /** Address the apiserver advertises (the `kubernetes` Service endpoint). Loopback = no endpoint reconciler. */
  advertiseAddress?: string;
  serviceClusterIpRange?: string;
  extraApiserverArgs?: string[];
  extraControllerManagerArgs?: string[];
  /**
   * Also run a full node (containerd, kubelet, kube-proxy, MetalLB; see node.ts). The apiserver then
   * binds and advertises the node bridge's address (NODE_IP) so pods reach it through the
   * `kubernetes` Service, and the service range defaults to SERVICE_CIDR. One such cluster per machine.
   */
  node?: boolean | NodeOptions;
  /** Seconds to wait for readiness. */
  timeoutSeconds?: number;
  /** Aborts the start at its next wait; startCluster then stops what it started and rejects. */
  signal?: AbortSignal;
}

export interface ClusterState {
  dir: string;
  binDir: string;
  kubeconfig: string;
  server: string;
  ports: { etcd: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number };
  pids: Record<string, number>;
  pki: Pki;
  version: string;
  /** Present when the cluster runs a full node. */
  node?: NodeState;
  /** Set when startCluster returned: a state.json without it is a start that was interrupted. */
  ready?: boolean;
}

/** Builds (or finds in the cache) the binaries and returns their directory. */
export function binaries(target: "control-plane" | "node" | "all" = "control-plane"): string {
  return execFileSync(join(here, "build.sh"), [target], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

/** Re-exported: callers of this module pick ports for the servers they start. */
export { freePort };

export function kubeconfigYaml(server: string, ca: string, cert: string, key: string, user: string): string {
  return [
    "apiVersion: v1", "kind: Config", "clusters:", "- name: local", "  cluster:",
    `    server: ${server}`, `    certificate-authority: ${ca}`,
    "users:", `- name: ${user}`, "  user:", `    client-certificate: ${cert}`, `    client-key: ${key}`,
    "contexts:", "- name: local", "  context:", "    cluster: local", `    user: ${user}`,
    "current-context: local", "",
  ].join("\n");
}

/** Starts `bin` (a name in binDir, or an absolute path) detached, logging to logs/<name>.log. */
export function startProcess(state: ClusterState, name: string, bin: string, args: string[], env?: NodeJS.ProcessEnv): void {
  const log = openSync(join(state.dir, "logs", `${name}.log`), "a");
  // detached: own process group, so `down` can kill it and its children, and `up` may exit.
  const child = spawn(bin.startsWith("/") ? bin : join(state.binDir, bin), args, { stdio: ["ignore", log, log], detached: true, env: env ?? process.env });
  child.unref();
  if (child.pid === undefined) throw new Error(`failed to start ${name}`);
  state.pids[name] = child.pid;
  writeFileSync(join(state.dir, "state.json"), JSON.stringify(state, null, 2));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface TlsGet { host?: string; port: number; path: string; ca?: Buffer; cert?: Buffer; key?: Buffer; insecure?: boolean; timeoutMs?: number }

function httpsGet(o: TlsGet): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(
      {
        host: o.host ?? "127.0.0.1", port: o.port, path: o.path, method: "GET", ca: o.ca, cert: o.cert, key: o.key,
        // Only for the health endpoints of local components whose self-signed serving certs we did not issue.
        rejectUnauthorized: !o.insecure, timeout: o.timeoutMs ?? 2000,
      },
      (r) => {
        let body = "";
        r.setEncoding("utf8");
        r.on("data", (c: string) => (body += c));
        r.on("end", () => res({ status: r.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", rej);
    req.end();
  });
}

/** GET an apiserver path with the admin client cert. */
export function apiGet(state: ClusterState, path: string): Promise<{ status: number; body: string }> {
  const admin = state.pki.clients.admin;
  if (!admin) throw new Error("no admin identity");
  return httpsGet({
    host: new URL(state.server).hostname, port: state.ports.apiserver, path,
    ca: readFileSync(state.pki.caCert), cert: readFileSync(admin.cert), key: readFileSync(admin.key),
  });
}

/** The abort signal of a start in progress (ClusterOptions.signal), seen by every wait of that start. */
const startSignals = new WeakMap<ClusterState, AbortSignal>();

export async function waitFor(what: string, state: ClusterState, deadline: number, check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (startSignals.get(state)?.aborted) throw new Error(`start interrupted while waiting for ${what}`);
    for (const [name, pid] of Object.entries(state.pids)) {
      if (!alive(pid)) throw new Error(`${name} exited while waiting for ${what}; see ${join(state.dir, "logs", `${name}.log`)}:\n${tail(join(state.dir, "logs", `${name}.log`))}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; logs in ${join(state.dir, "logs")}`);
    await sleep(200);
  }
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** The `kubernetes` Service's ClusterIP (first address of the range), which pods dial with TLS. */
function firstServiceIp(cidr: string): string {
  const base = cidr.split("/")[0] ?? "";
  const parts = base.split(".").map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n))) return "127.0.0.1"; // IPv6 range: not handled here
  const n = (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) + 1;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export async function startCluster(opts: ClusterOptions): Promise<ClusterState> {
  const dir = resolve(opts.dir);
  if (existsSync(join(dir, "state.json"))) throw new Error(`${dir} already holds a cluster; stop it first`);
  // No state.json: whatever data is left is from a start that failed; it must not leak into this one.
  if (existsSync(join(dir, "node"))) recoverHost(dir);
  removeData(dir);
  mkdirSync(join(dir, "logs"), { recursive: true });
  mkdirSync(join(dir, "pki"), { recursive: true });
  const binDir = binaries(opts.node ? "all" : "control-plane");
  // Build what the node runs now, before any start deadline begins (a cold build takes minutes).
  if (opts.node) buildNodeArtifacts(typeof opts.node === "object" ? (opts.node.metallb ?? true) : true);
  // A full node needs its bridge (and the address the apiserver binds) before the apiserver starts.
  const node = opts.node ? prepareNodeHost(dir) : undefined;
  const bind = node ? NODE_IP : "127.0.0.1";
  const advertise = opts.advertiseAddress ?? bind;
  const serviceRange = opts.serviceClusterIpRange ?? (node ? SERVICE_CIDR : "10.0.0.0/24");
  const pki = generatePki(join(dir, "pki"), [
    { name: "admin", commonName: "pasv-admin", organizations: ["system:masters"] },
    { name: "controller-manager", commonName: "system:kube-controller-manager" },
    { name: "scheduler", commonName: "system:kube-scheduler" },
    { name: "apiserver-kubelet-client", commonName: "kube-apiserver-kubelet-client", organizations: ["system:masters"] },
  ], [...new Set(["127.0.0.1", bind, advertise, firstServiceIp(serviceRange)])]);
  const ports = {
    etcd: await freePort(), etcdPeer: await freePort(), apiserver: await freePort(),
    controllerManager: await freePort(), scheduler: await freePort(),
  };
  const server = `https://${bind}:${ports.apiserver}`;
  const version = execFileSync(join(binDir, "kube-apiserver"), ["--version"], { encoding: "utf8" }).trim().split(" ").pop() ?? "";
  const state: ClusterState = { dir, binDir, kubeconfig: join(dir, "kubeconfig"), server, ports, pids: {}, pki, version, node };

  for (const [name, id] of [["kubeconfig", "admin"], ["controller-manager.kubeconfig", "controller-manager"], ["scheduler.kubeconfig", "scheduler"]] as const) {
    const c = pki.clients[id];
    if (!c) throw new Error(`missing identity ${id}`);
    writeFileSync(join(dir, name), kubeconfigYaml(server, pki.caCert, c.cert, c.key, id), { mode: 0o600 });
  }

  const deadline = Date.now() + (opts.timeoutSeconds ?? 120) * 1000;
  if (opts.signal) startSignals.set(state, opts.signal);
  try {
    const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
    const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    startProcess(state, "etcd", "etcd", [
      "--name=default", `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=default=${peerUrl}`,
      // Test data is disposable: skipping fsync makes the control plane several times faster on a VM disk.
      "--unsafe-no-fsync=true", "--log-level=warn", "--quota-backend-bytes=4294967296",
    ]);
    const issuer = "https://kubernetes.default.svc.cluster.local";
    const kubeletClient = pki.clients["apiserver-kubelet-client"];
    startProcess(state, "kube-apiserver", "kube-apiserver", [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${bind}`, `--secure-port=${ports.apiserver}`, `--advertise-address=${advertise}`,
      `--cert-dir=${join(dir, "pki")}`,
      `--tls-cert-file=${pki.serverCert}`, `--tls-private-key-file=${pki.serverKey}`, `--client-ca-file=${pki.caCert}`,
      `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
      `--service-account-issuer=${issuer}`, `--api-audiences=${issuer}`,
      `--kubelet-client-certificate=${kubeletClient?.cert ?? ""}`, `--kubelet-client-key=${kubeletClient?.key ?? ""}`,
      "--authorization-mode=Node,RBAC", "--allow-privileged=true",
      `--service-cluster-ip-range=${serviceRange}`,
      // With a loopback advertise address the `kubernetes` Endpoints would be invalid: don't reconcile them.
      ...(advertise === "127.0.0.1" ? ["--endpoint-reconciler-type=none"] : []),
      // Reach kubelets by IP: the default tries the node name first, i.e. a DNS query off the machine.
      ...(node ? ["--kubelet-preferred-address-types=InternalIP"] : []),
      "--v=1",
      ...(opts.extraApiserverArgs ?? []),
    ]);
    await waitFor("kube-apiserver /readyz", state, deadline, async () => (await apiGet(state, "/readyz")).status === 200);

    if (opts.controllerManager ?? true) {
      const kc = join(dir, "controller-manager.kubeconfig");
      startProcess(state, "kube-controller-manager", "kube-controller-manager", [
        `--kubeconfig=${kc}`, `--authentication-kubeconfig=${kc}`, `--authorization-kubeconfig=${kc}`,
        "--bind-address=127.0.0.1", `--secure-port=${ports.controllerManager}`, `--cert-dir=${join(dir, "pki")}`,
        `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.caCert}`,
        "--use-service-account-credentials=true",
        `--cluster-signing-cert-file=${pki.caCert}`, `--cluster-signing-key-file=${pki.caKey}`,
        "--leader-elect=false", "--v=1",
        ...(opts.extraControllerManagerArgs ?? []),
      ]);
      // Functional readiness: the service-account controllers have created `default/default`.
      await waitFor("kube-controller-manager (default ServiceAccount)", state, deadline,
        async () => (await apiGet(state, "/api/v1/namespaces/default/serviceaccounts/default")).status === 200);
    }
    if (opts.scheduler ?? true) {
      const kc = join(dir, "scheduler.kubeconfig");
      startProcess(state, "kube-scheduler", "kube-scheduler", [
        `--kubeconfig=${kc}`, `--authentication-kubeconfig=${kc}`, `--authorization-kubeconfig=${kc}`,
        "--bind-address=127.0.0.1", `--secure-port=${ports.scheduler}`, "--leader-elect=false", "--v=1",
      ]);
      await waitFor("kube-scheduler /healthz", state, deadline,
        async () => (await httpsGet({ port: ports.scheduler, path: "/healthz", insecure: true })).status === 200);
    }
    if (opts.node) await startNode(state, typeof opts.node === "object" ? opts.node : {});
  } catch (err) {
    // Keep the logs (the error points at them), drop the data: the next start begins clean.
    await stopCluster(state, { keepDir: true });
    throw err;
  }
  state.ready = true;
  writeFileSync(join(dir, "state.json"), JSON.stringify(state, null, 2));
  return state;
}

/** Removes a cluster directory's data (etcd, node, kubeconfigs, PKI), keeping logs/. */
function removeData(dir: string): void {
  for (const d of ["etcd", "node", "pki"]) rmSync(join(dir, d), { recursive: true, force: true });
}

export function loadState(dir: string): ClusterState | null {
  const f = join(resolve(dir), "state.json");
  if (!existsSync(f)) return null;
  return JSON.parse(readFileSync(f, "utf8")) as ClusterState;
}

/** Stops one recorded process and its process group: SIGTERM, then SIGKILL after a grace. */
export async function stopProcess(state: ClusterState, name: string, graceMs = 10_000): Promise<void> {
  const pid = state.pids[name];
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    /* already gone */
  }
  const until = Date.now() + graceMs;
  while (alive(pid) && Date.now() < until) await sleep(50);
  if (alive(pid)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* raced with exit */
    }
    while (alive(pid)) await sleep(20);
  }
  delete state.pids[name];
}

/** Stops every process of the cluster (SIGTERM, then SIGKILL after a grace), then removes the directory. */
export async function stopCluster(state: ClusterState, opts: { keepDir?: boolean } = {}): Promise<void> {
  // The node first: its pods, mounts, iptables chains and interfaces (needs the processes' state).
  if (state.node) await stopNode(state);
  // Reverse start order: clients of the apiserver first, etcd last.
  for (const name of Object.keys(state.pids).reverse()) await stopProcess(state, name);
  if (state.node) {
    releaseHost(state.dir);
    delete state.node;
  }
  state.pids = {};
  if (opts.keepDir) {
    rmSync(join(state.dir, "state.json"), { force: true });
    removeData(state.dir);
  } else {
    rmSync(state.dir, { recursive: true, force: true });
  }
}

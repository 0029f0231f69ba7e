// A full single node for the local cluster: containerd + runc (Debian's), CNI bridge with
// Debian's plugins, a locally built pause image, kubelet and kube-proxy (iptables) from the
// pinned Go modules, and MetalLB's controller assigning LoadBalancer addresses. See
// test/cluster/README.md "Full node" for the address plan and the reasons behind each choice.
//
// Address plan (all on interfaces this file creates; nothing is routed off the machine):
//   pasv-br0         10.213.0.1/24   node bridge = pod CIDR gateway = node IP = apiserver address
//   pods             10.213.0.2-254  host-local IPAM on pasv-br0
//   Services         10.214.0.0/24   ClusterIPs (`kubernetes` = 10.214.0.1 -> 10.213.0.1:<port>)
//   clients          10.215.<k>.0/30 "outside world" netns pasv-client-<k> via veth pasv-x<k>
//   LoadBalancer     203.0.113.16/28 MetalLB IPAddressPool (TEST-NET-3), local on the node
//
// Only one full node can run on a machine (bridge name, kube-proxy's global iptables chains);
// a lock file /run/pasv-operator-node.json names the owner and startNode refuses while it lives.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  alive, apiGet, binaries, freePort, kubeconfigYaml, startProcess, stopProcess, tail, waitFor, type ClusterState,
} from "./cluster.ts";
import { issueClientCert } from "./pki.ts";

const here = import.meta.dirname;

export const NODE_NAME = "pasv-node";
export const NODE_BRIDGE = "pasv-br0";
export const POD_CIDR = "10.213.0.0/24";
export const NODE_IP = "10.213.0.1";
export const SERVICE_CIDR = "10.214.0.0/24";
export const CLIENT_NET_PREFIX = "10.215";
export const LB_POOL = "203.0.113.16/28";
export const METALLB_NAMESPACE = "metallb-system";
export const LB_POOL_NAME = "pasv-lb";
/** Images the node always has (built by node/build.sh, imported at start). */
export const PAUSE_IMAGE = "pasv.local/pause:1";
export const ECHO_IMAGE = "pasv.local/echo:1";

const LOCK = "/run/pasv-operator-node.json";
const FORWARD_CHAIN = "PASV-NODE-FWD";
const CNI_BIN = "/usr/lib/cni";
const CLIENT_NS_PREFIX = "pasv-client-";

export interface NodeOptions {
  /** Run MetalLB's controller and configure the LB_POOL IPAddressPool (default true). */
  metallb?: boolean;
  /** More `docker save` tars to import into the node's containerd before it registers. */
  images?: string[];
  timeoutSeconds?: number;
  /**
   * The kubelet's syncFrequency (default 10s here, to keep ConfigMap-refresh waits short; the
   * kubelet's own default is 1m). test/e2e/ftpuser.test.ts runs with 1m to show its 10 s come
   * from the operator's pod touch, not from a short sync period.
   */
  kubeletSyncFrequency?: string;
}

export interface NodeState {
  name: string;
  dir: string;
  /** containerd's socket (CRI and `ctr`). */
  socket: string;
  artifacts?: string;
  ports?: { kubelet: number; kubeletHealthz: number; proxyHealthz: number; proxyMetrics: number; metallbMetrics: number };
  nodeIp: string;
  podCidr: string;
  serviceCidr: string;
  lbPool: string;
  /** Client network namespaces created by createClientNamespace (removed on stop). */
  clients: string[];
}

interface Check { ok: boolean; reason: string }

function run(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input, stdio: ["pipe", "pipe", "pipe"] });
  if ((r.status !== 0 || r.error) && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr.trim()}`);
  }
  return r.stdout ?? "";
}

function ok(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
}

function which(cmd: string): boolean {
  return ok("sh", ["-c", `command -v ${cmd}`]);
}

interface Lock { dir: string; pids: number[] }

function readLock(): Lock | null {
  try {
    return JSON.parse(readFileSync(LOCK, "utf8")) as Lock;
  } catch {
    return null;
  }
}

function liveOwner(): Lock | null {
  const l = readLock();
  return l && l.pids.some(alive) ? l : null;
}

function writeLock(state: ClusterState): void {
  writeFileSync(LOCK, JSON.stringify({ dir: state.dir, pids: [process.pid, ...Object.values(state.pids)] }));
}

/**
 * Can a full node run on this machine? Checks root, the Debian packages (hack/apt/node.txt),
 * kernel features (bridge netfilter, overlayfs, cgroups) and that no other full node runs.
 */
/** `ownDir`: a node owned by this cluster directory does not count (it is about to be reused or replaced). */
export function canRunNode(ownDir?: string): Check {
  if (process.platform !== "linux") return { ok: false, reason: `full node needs Linux, not ${process.platform}` };
  if (process.getuid?.() !== 0) return { ok: false, reason: "full node needs root (containerd, iptables, network namespaces)" };
  for (const c of ["containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables", "go"]) {
    if (!which(c)) return { ok: false, reason: `${c} not found; run hack/install-system-deps.sh (hack/apt/node.txt)` };
  }
  for (const p of ["bridge", "host-local", "portmap", "loopback"]) {
    if (!existsSync(join(CNI_BIN, p))) return { ok: false, reason: `CNI plugin ${CNI_BIN}/${p} missing; install containernetworking-plugins` };
  }
  if (!existsSync("/proc/sys/net/bridge/bridge-nf-call-iptables")) {
    return { ok: false, reason: "kernel has no bridge netfilter (br_netfilter): kube-proxy cannot see bridged pod traffic" };
  }
  if (!readFileSync("/proc/filesystems", "utf8").includes("overlay")) return { ok: false, reason: "kernel has no overlayfs (containerd snapshotter)" };
  if (!existsSync("/sys/fs/cgroup/memory") && !existsSync("/sys/fs/cgroup/cgroup.controllers")) {
    return { ok: false, reason: "no memory cgroup mounted under /sys/fs/cgroup" };
  }
  if (!ok("iptables", ["-t", "nat", "-S", "PREROUTING"])) return { ok: false, reason: "iptables nat table unusable" };
  const owner = liveOwner();
  if (owner && owner.dir !== ownDir) return { ok: false, reason: `a full node already runs (cluster ${owner.dir}); stop it first: node test/cluster/cli.ts down --dir ${owner.dir}` };
  return { ok: true, reason: "" };
}

/**
 * Claims the machine's single node slot and creates the node bridge with NODE_IP, so the
 * apiserver can bind it. Called by startCluster({node}) before the control plane starts.
 * A stale claim (its processes are gone) is cleaned up first.
 */
export function prepareNodeHost(clusterDir: string): NodeState {
  const check = canRunNode();
  if (!check.ok) throw new Error(`cannot start a full node: ${check.reason}`);
  const stale = readLock();
  if (stale || existsSync(`/sys/class/net/${NODE_BRIDGE}`)) {
    console.error(`[node] cleaning up after a node that did not stop (${stale?.dir ?? "unknown cluster"})`);
    cleanupHost(stale?.dir ?? null, null);
    releaseHost(stale?.dir ?? null);
  }
  writeFileSync(LOCK, JSON.stringify({ dir: clusterDir, pids: [process.pid] }));
  const dir = join(clusterDir, "node");
  mkdirSync(dir, { recursive: true });
  const node: NodeState = {
    name: NODE_NAME, dir, socket: join(dir, "containerd", "containerd.sock"),
    nodeIp: NODE_IP, podCidr: POD_CIDR, serviceCidr: SERVICE_CIDR, lbPool: LB_POOL, clients: [],
  };
  try {
    // `ip netns add` turns /run/netns into a shared bind mount of itself the first time it runs;
    // done after containerd mounted pod namespaces there, it hides them (their teardown then fails
    // with EBUSY). Make it happen now, before any pod exists.
    if (!readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === "/run/netns")) {
      run("ip", ["netns", "add", "pasv-probe"]);
      run("ip", ["netns", "delete", "pasv-probe"]);
    }
    run("ip", ["link", "add", NODE_BRIDGE, "type", "bridge"]);
    run("ip", ["addr", "add", `${NODE_IP}/24`, "dev", NODE_BRIDGE]);
    run("ip", ["link", "set", NODE_BRIDGE, "up"]);
    // The LoadBalancer pool is local to the node (what MetalLB's L2 speaker would make true on a
    // LAN by answering ARP): host-originated traffic to it never takes the default route, and
    // kube-proxy DNATs it to pods in PREROUTING/OUTPUT before routing matters.
    run("ip", ["route", "add", "local", LB_POOL, "dev", NODE_BRIDGE]);
    // Docker sets FORWARD to DROP. Allow exactly pod<->pod and pod<->client-netns forwarding;
    // drop anything else from pods or clients, so nothing leaves the machine.
    run("iptables", ["-N", FORWARD_CHAIN]);
    for (const r of [
      ["-i", NODE_BRIDGE, "-o", NODE_BRIDGE, "-j", "ACCEPT"],
      ["-i", NODE_BRIDGE, "-o", "pasv-x+", "-j", "ACCEPT"],
      ["-i", "pasv-x+", "-o", NODE_BRIDGE, "-j", "ACCEPT"],
      ["-i", NODE_BRIDGE, "-j", "DROP"],
      ["-i", "pasv-x+", "-j", "DROP"],
    ]) run("iptables", ["-A", FORWARD_CHAIN, ...r]);
    run("iptables", ["-I", "FORWARD", "1", "-j", FORWARD_CHAIN]);
  } catch (err) {
    releaseHost(clusterDir);
    throw err;
  }
  return node;
}

function nodeKubeconfig(state: ClusterState, id: string, commonName: string, organizations: string[] = []): string {
  const c = issueClientCert(state.pki, { name: id, commonName, organizations });
  const path = join(state.dir, `${id}.kubeconfig`);
  writeFileSync(path, kubeconfigYaml(state.server, state.pki.caCert, c.cert, c.key, id), { mode: 0o600 });
  return path;
}

function httpOk(port: number, path: string): Promise<boolean> {
  return new Promise((res) => {
    const req = request({ host: "127.0.0.1", port, path, timeout: 2000 }, (r) => {
      r.resume();
      res(r.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => res(false));
    req.end();
  });
}

/** kubectl against the cluster as admin; returns stdout. */
export function kubectl(state: ClusterState, args: string[], input?: string): string {
  return run(join(state.binDir, "kubectl"), ["--kubeconfig", state.kubeconfig, ...args], { input });
}

/** Imports a `docker save` (or OCI) tar into the node's containerd `k8s.io` namespace; returns the image refs. */
export function importImage(state: ClusterState, tarPath: string): string[] {
  const node = requireNode(state);
  const out = run("ctr", ["--address", node.socket, "--namespace", "k8s.io", "images", "import", tarPath]);
  // "unpacking <ref> (sha256:...)...done"
  return [...out.matchAll(/unpacking (\S+) \(/g)].map((m) => m[1] ?? "").filter(Boolean);
}

/** Image refs the kubelet sees (CRI). */
export function nodeImages(state: ClusterState): string[] {
  const node = requireNode(state);
  return run(join(node.artifacts ?? "", "pasv-cri"), ["-endpoint", `unix://${node.socket}`, "images"]).split("\n").filter(Boolean);
}

function requireNode(state: ClusterState): NodeState {
  if (!state.node) throw new Error("this cluster has no full node; start it with startCluster({ node: true })");
  return state.node;
}

function containerdConfig(node: NodeState): string {
  const d = join(node.dir, "containerd");
  return `version = 2
root = "${d}/root"
state = "${d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${node.socket}"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # This VM's root lacks CAP_SYS_RESOURCE (CapBnd bit 24): nobody may lower oom_score_adj below 0,
  # and runc fails the pause container's -998 ("can't get final child's PID from pipe: EOF").
  # Clamp container scores to containerd's own (0), as for rootless containerd.
  restrict_oom_score_adj = true
  # What containerd 2.x defaults to: pods may bind ports < 1024 without NET_BIND_SERVICE (FTP on 21).
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN}"
    conf_dir = "${join(node.dir, "cni", "net.d")}"
    max_conf_num = 1
`;
}

function cniConfig(node: NodeState): string {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: "pasv",
    plugins: [
      {
        type: "bridge", bridge: NODE_BRIDGE, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: {
          type: "host-local", dataDir: join(node.dir, "cni", "ipam"),
          ranges: [[{ subnet: POD_CIDR, gateway: NODE_IP }]],
          // Default route via the node: Service IPs and client addresses (ETP=Local keeps them)
          // are not on-link. Anything bound off the machine is dropped by FORWARD_CHAIN.
          routes: [{ dst: "0.0.0.0/0" }],
        },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  }, null, 2);
}

function kubeletConfig(state: ClusterState, node: NodeState, ports: NonNullable<NodeState["ports"]>, syncFrequency = "10s"): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The host has cgroup v1 only; kubelet 1.35 refuses it unless allowed explicitly.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${node.socket}
imageServiceEndpoint: unix://${node.socket}
address: ${NODE_IP}
port: ${ports.kubelet}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.kubeletHealthz}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${state.pki.caCert}}
authorization:
  mode: Webhook
rotateCertificates: false
serverTLSBootstrap: false
failSwapOn: false
cpuManagerPolicy: none
memoryManagerPolicy: None
topologyManagerPolicy: none
# A test VM shares its disk and memory with other work: only evict when really out.
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
  imagefs.inodesFree: "1%"
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
maxPods: 110
clusterDomain: cluster.local
resolvConf: ${join(node.dir, "resolv.conf")}
volumePluginDir: ${join(node.dir, "kubelet", "volume-plugins")}
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
nodeStatusUpdateFrequency: 5s
syncFrequency: ${syncFrequency}
fileCheckFrequency: 10s
`;
}

function kubeProxyConfig(node: NodeState, kubeconfig: string, ports: NonNullable<NodeState["ports"]>): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${kubeconfig}
hostnameOverride: ${NODE_NAME}
bindAddress: ${NODE_IP}
healthzBindAddress: 127.0.0.1:${ports.proxyHealthz}
metricsBindAddress: 127.0.0.1:${ports.proxyMetrics}
mode: iptables
clusterCIDR: ${node.podCidr}
detectLocalMode: ClusterCIDR
# NodePorts only on the node bridge, never on eth0.
nodePortAddresses: ["${NODE_IP}/32"]
iptables:
  # true would set net.ipv4.conf.all.route_localnet; not needed here.
  localhostNodePorts: false
  masqueradeAll: false
  syncPeriod: 30s
  minSyncPeriod: 0s
# Zero = leave the kernel's conntrack sysctls alone (a shared VM; some are not writable in netns).
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`;
}

/** Is the node registered and Ready? */
async function nodeReady(state: ClusterState): Promise<boolean> {
  const r = await apiGet(state, `/api/v1/nodes/${NODE_NAME}`);
  if (r.status !== 200) return false;
  const n = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } };
  return n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/**
 * Starts containerd, kubelet, kube-proxy and (by default) MetalLB's controller for a cluster
 * started with `node: true` (startCluster calls this). Times are logged to logs/node-timings.log.
 */
export async function startNode(state: ClusterState, opts: NodeOptions = {}): Promise<NodeState> {
  const node = requireNode(state);
  const t0 = Date.now();
  const timings: string[] = [];
  const mark = (what: string): void => {
    timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  };
  // Everything built before the first wait: a cold build must never eat a start deadline.
  const built = buildNodeArtifacts(opts.metallb ?? true);
  node.artifacts = built.artifacts;
  mark("artifacts built/found");
  node.ports = {
    kubelet: await freePort(), kubeletHealthz: await freePort(), proxyHealthz: await freePort(),
    proxyMetrics: await freePort(), metallbMetrics: await freePort(),
  };
  const ports = node.ports;
  const deadline = Date.now() + (opts.timeoutSeconds ?? 120) * 1000;
  for (const d of ["containerd", "cni/net.d", "cni/ipam", "kubelet/pki", "kubelet/volume-plugins"]) mkdirSync(join(node.dir, d), { recursive: true });
  writeFileSync(join(node.dir, "containerd", "config.toml"), containerdConfig(node));
  writeFileSync(join(node.dir, "cni", "net.d", "10-pasv.conflist"), cniConfig(node));
  // No cluster DNS here: pods get an empty resolver config rather than the host's upstream servers.
  writeFileSync(join(node.dir, "resolv.conf"), "options ndots:1\n");
  writeLock(state);

  // containerd
  startProcess(state, "containerd", "/usr/bin/containerd", ["--config", join(node.dir, "containerd", "config.toml")]);
  writeLock(state);
  const cri = join(node.artifacts, "pasv-cri");
  await waitFor("containerd CRI", state, deadline, async () => ok(cri, ["-endpoint", `unix://${node.socket}`, "-timeout", "2s", "images"]));
  mark("containerd CRI up");
  for (const tar of [join(node.artifacts, "pause.tar"), join(node.artifacts, "echo.tar"), ...(opts.images ?? [])]) importImage(state, tar);
  mark("images imported");

  // kubelet
  const kubeletKc = nodeKubeconfig(state, "kubelet", `system:node:${NODE_NAME}`, ["system:nodes"]);
  writeFileSync(join(node.dir, "kubelet.yaml"), kubeletConfig(state, node, ports, opts.kubeletSyncFrequency));
  startProcess(state, "kubelet", "kubelet", [
    `--config=${join(node.dir, "kubelet.yaml")}`, `--kubeconfig=${kubeletKc}`,
    `--hostname-override=${NODE_NAME}`, `--node-ip=${NODE_IP}`,
    `--root-dir=${join(node.dir, "kubelet")}`, `--cert-dir=${join(node.dir, "kubelet", "pki")}`, "--v=1",
  ]);
  writeLock(state);

  // kube-proxy (does not need the node to be Ready; start it while the kubelet registers)
  const proxyKc = nodeKubeconfig(state, "kube-proxy", "system:kube-proxy");
  writeFileSync(join(node.dir, "kube-proxy.yaml"), kubeProxyConfig(node, proxyKc, ports));
  startProcess(state, "kube-proxy", "kube-proxy", [`--config=${join(node.dir, "kube-proxy.yaml")}`, "--v=1"]);
  writeLock(state);

  await withLogs(state, ["kubelet", "containerd"], waitFor(`node ${NODE_NAME} Ready`, state, deadline, () => nodeReady(state)));
  mark("node Ready");
  await withLogs(state, ["kube-proxy"], waitFor("kube-proxy /healthz", state, deadline, () => httpOk(ports.proxyHealthz, "/healthz")));
  mark("kube-proxy synced");

  if (opts.metallb ?? true) {
    if (!built.metallb) throw new Error("MetalLB was not built");
    await withLogs(state, ["metallb-controller"], startMetalLB(state, node, built.metallb, deadline));
    mark("MetalLB pool ready");
  }
  writeFileSync(join(state.dir, "state.json"), JSON.stringify(state, null, 2));
  writeFileSync(join(state.dir, "logs", "node-timings.log"), `${timings.join("\n")}\n`);
  return node;
}

/** On failure, appends the last error lines of the named components' logs: the exact reason, in the error. */
async function withLogs<T>(state: ClusterState, names: string[], p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const logs = names.map((n) => {
      const lines = tail(join(state.dir, "logs", `${n}.log`), 400).split("\n").filter((l) => /^E\d{4}|level=(error|fatal)|"level":"error"/.test(l));
      return `--- ${n}.log (errors) ---\n${lines.slice(-15).join("\n")}`;
    });
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs.join("\n")}`, { cause: err });
  }
}

interface NodeArtifacts { artifacts: string; metallb?: { controller: string; crds: string } }

/**
 * Builds (or finds in the cache) every binary and image the node runs: kubelet, kube-proxy,
 * the node artifacts and MetalLB. Exported so `make k8s-binaries` and startCluster can call it
 * before any start deadline begins.
 */
export function buildNodeArtifacts(metallb = true): NodeArtifacts {
  binaries("node");
  const artifacts = execFileSync(join(here, "node", "build.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  if (!metallb) return { artifacts };
  const [controller, crds] = execFileSync(join(here, "node", "build-metallb.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split(" ");
  if (!controller || !crds) throw new Error("build-metallb.sh printed no controller path");
  return { artifacts, metallb: { controller, crds } };
}

async function startMetalLB(state: ClusterState, node: NodeState, metallb: { controller: string; crds: string }, deadline: number): Promise<void> {
  const { controller, crds } = metallb;
  kubectl(state, ["apply", "--server-side", "-f", crds]);
  // apply, not create: idempotent if a previous start got this far.
  kubectl(state, ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: METALLB_NAMESPACE } }));
  kubectl(state, ["wait", "--for=condition=Established", "--timeout=60s", "-f", crds]);
  // Out of cluster, as the admin: the controller only needs a kubeconfig (controller-runtime reads
  // KUBECONFIG). No webhooks (they would need a Service routing to this process) and no speaker:
  // the pool is local to the node (see prepareNodeHost).
  startProcess(state, "metallb-controller", controller, [
    `--namespace=${METALLB_NAMESPACE}`, "--webhook-mode=disabled", "--disable-cert-rotation=true",
    `--port=${node.ports?.metallbMetrics ?? 0}`, "--log-level=warn",
  ], { ...process.env, KUBECONFIG: state.kubeconfig });
  writeLock(state);
  kubectl(state, ["apply", "-f", "-"], JSON.stringify({
    apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool",
    metadata: { name: LB_POOL_NAME, namespace: METALLB_NAMESPACE },
    spec: { addresses: [LB_POOL], autoAssign: true },
  }));
  // Ready when the controller has read the pool (it reports it in the pool's status).
  await waitFor("MetalLB controller reads the IPAddressPool", state, deadline, async () => {
    const r = await apiGet(state, `/apis/metallb.io/v1beta1/namespaces/${METALLB_NAMESPACE}/ipaddresspools/${LB_POOL_NAME}`);
    const p = JSON.parse(r.body) as { status?: { availableIPv4?: number } };
    return r.status === 200 && (p.status?.availableIPv4 ?? 0) > 0;
  });
}

export interface ClientNamespace {
  /** netns name, for `ip netns exec`. */
  netns: string;
  /** The client's address and the node's address on their link. */
  ip: string;
  hostIp: string;
  /** Runs a command inside the namespace (synchronously); returns stdout. */
  exec(cmd: string, args: string[], input?: string): string;
  /** Opens a TCP connection from inside the namespace and returns the first line the server sends. */
  firstLine(host: string, port: number): string;
  remove(): void;
}

/**
 * A network namespace standing for the outside world: one veth to the node (pasv-x<k>), and a
 * route to the LoadBalancer pool only — it can reach LB addresses and nothing else.
 */
export function createClientNamespace(state: ClusterState): ClientNamespace {
  const node = requireNode(state);
  let k = 1;
  while (node.clients.includes(`${CLIENT_NS_PREFIX}${k}`) || existsSync(`/run/netns/${CLIENT_NS_PREFIX}${k}`)) k++;
  if (k > 250) throw new Error("too many client namespaces");
  const netns = `${CLIENT_NS_PREFIX}${k}`;
  const hostIf = `pasv-x${k}`;
  const peer = `pasv-xp${k}`;
  const hostIp = `${CLIENT_NET_PREFIX}.${k}.1`;
  const ip = `${CLIENT_NET_PREFIX}.${k}.2`;
  node.clients.push(netns);
  writeFileSync(join(state.dir, "state.json"), JSON.stringify(state, null, 2));
  run("ip", ["netns", "add", netns]);
  run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", peer]);
  run("ip", ["link", "set", peer, "netns", netns]);
  run("ip", ["addr", "add", `${hostIp}/30`, "dev", hostIf]);
  run("ip", ["link", "set", hostIf, "up"]);
  const inNs = (args: string[]): string => run("ip", ["netns", "exec", netns, ...args]);
  inNs(["ip", "link", "set", "lo", "up"]);
  inNs(["ip", "link", "set", peer, "name", "eth0"]);
  inNs(["ip", "addr", "add", `${ip}/30`, "dev", "eth0"]);
  inNs(["ip", "link", "set", "eth0", "up"]);
  inNs(["ip", "route", "add", LB_POOL, "via", hostIp]);
  return {
    netns, ip, hostIp,
    exec: (cmd, args, input) => run("ip", ["netns", "exec", netns, cmd, ...args], { input }),
    firstLine: (host, port) => run("ip", ["netns", "exec", netns, process.execPath, "-e", FIRST_LINE, host, String(port)]).trim(),
    remove: () => {
      removeNetns(netns);
      node.clients = node.clients.filter((n) => n !== netns);
    },
  };
}

// A client the namespace runs with this very Node binary: connect, print the first line, close.
const FIRST_LINE = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), timeout: 5000 });
let d = "";
s.setEncoding("utf8");
s.on("data", (c) => { d += c; const i = d.indexOf("\\n"); if (i >= 0) { process.stdout.write(d.slice(0, i + 1)); s.destroy(); } });
s.on("timeout", () => { console.error("timeout connecting to " + host + ":" + port); process.exit(1); });
s.on("error", (e) => { console.error(e.message); process.exit(1); });
`;

function removeNetns(netns: string): void {
  // Deleting the namespace deletes its veth end, and with it the host end.
  run("ip", ["netns", "delete", netns], { allowFail: true });
}

/**
 * Stops the node: pods through CRI (CNI DEL), kubelet, kube-proxy, containerd; then removes their
 * host state. The bridge (the apiserver's address) stays until releaseHost, after the control plane.
 */
export async function stopNode(state: ClusterState): Promise<void> {
  const node = state.node;
  if (!node) return;
  await stopProcess(state, "metallb-controller");
  await stopProcess(state, "kubelet");
  await stopProcess(state, "kube-proxy");
  const cri = node.artifacts ? join(node.artifacts, "pasv-cri") : "";
  if (state.pids.containerd !== undefined && alive(state.pids.containerd) && cri) {
    const r = spawnSync(cri, ["-endpoint", `unix://${node.socket}`, "-timeout", "60s", "teardown"], { encoding: "utf8" });
    if (r.status !== 0) console.error(`[node] pod teardown: ${r.stderr.trim()}`);
  }
  await stopProcess(state, "containerd");
  cleanupHost(state.dir, state);
}

function killPodProcesses(): void {
  // Every process in the kubelet's pod cgroups is ours (one node per machine).
  for (const root of ["/sys/fs/cgroup/pids/kubepods", "/sys/fs/cgroup/memory/kubepods", "/sys/fs/cgroup/kubepods"]) {
    if (!existsSync(root)) continue;
    const pids = run("sh", ["-c", `find ${root} -name cgroup.procs -exec cat {} + 2>/dev/null`], { allowFail: true })
      .split("\n").filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
}

function killShims(socket: string): void {
  const pids = run("pgrep", ["-f", `containerd-shim-runc-v2 .*-address ${socket}`], { allowFail: true }).split("\n").filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n")
    .map((l) => (l.split(" ")[4] ?? "").replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) run("umount", ["-l", m], { allowFail: true });
}

/** Cleans the host after a node whose cluster left no state (a start killed hard). */
export function recoverHost(clusterDir: string): void {
  const lock = readLock();
  if (!lock && !existsSync(`/sys/class/net/${NODE_BRIDGE}`) && !existsSync(join(clusterDir, "node"))) return;
  cleanupHost(lock?.dir ?? clusterDir, null);
  releaseHost(lock?.dir ?? clusterDir);
}

/**
 * Removes what a node's processes leave on the host: leftover pod processes and shims, mounts
 * under the node dir, kube-proxy's and the CNI plugins' iptables chains, client and pod network
 * namespaces. Safe to run repeatedly.
 */
function cleanupHost(clusterDir: string | null, state: ClusterState | null): void {
  const nodeDir = clusterDir ? join(clusterDir, "node") : null;
  killPodProcesses();
  if (nodeDir) killShims(join(nodeDir, "containerd", "containerd.sock"));
  if (nodeDir && existsSync(nodeDir)) unmountUnder(nodeDir);
  // kube-proxy's own cleanup knows its KUBE-* chains (iptables, ip6tables, nftables).
  const proxy = state ? join(state.binDir, "kube-proxy") : findKubeProxy();
  if (proxy && existsSync(proxy)) run(proxy, ["--cleanup", "--v=0"], { allowFail: true });
  flushChains("KUBE-");
  flushChains("CNI-");
  const netns = existsSync("/run/netns") ? readdirSync("/run/netns") : [];
  // Client namespaces, and pod namespaces containerd could not tear down (only this node's
  // containerd creates cni-* namespaces on this machine).
  for (const ns of netns) if (ns.startsWith(CLIENT_NS_PREFIX) || ns.startsWith("cni-")) removeNetns(ns);
}

/**
 * Gives the machine's node slot back: our FORWARD chain, the bridge (and with it the LB pool
 * route and NODE_IP), the lock. Called by stopCluster after the control plane has stopped (the
 * apiserver's own shutdown talks to itself on NODE_IP).
 */
export function releaseHost(clusterDir: string | null): void {
  while (ok("iptables", ["-D", "FORWARD", "-j", FORWARD_CHAIN]));
  run("iptables", ["-F", FORWARD_CHAIN], { allowFail: true });
  run("iptables", ["-X", FORWARD_CHAIN], { allowFail: true });
  run("ip", ["link", "delete", NODE_BRIDGE], { allowFail: true });
  const lock = readLock();
  if (!lock || !clusterDir || lock.dir === clusterDir) rmSync(LOCK, { force: true });
}

function findKubeProxy(): string | null {
  const cache = process.env.PASV_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache"), "pasv-operator");
  if (!existsSync(cache)) return null;
  for (const d of readdirSync(cache)) {
    const p = join(cache, d, "bin", "kube-proxy");
    if (d.startsWith("k8s-") && existsSync(p)) return p;
  }
  return null;
}

/** Deletes every chain named <prefix>* in filter/nat/mangle (references first), for iptables and ip6tables. */
function flushChains(prefix: string): void {
  for (const bin of ["iptables", "ip6tables"]) {
    for (const table of ["filter", "nat", "mangle"]) {
      const rules = run(bin, ["-t", table, "-S"], { allowFail: true }).split("\n");
      const chains = rules.filter((l) => l.startsWith(`-N ${prefix}`)).map((l) => l.slice(3).trim());
      if (chains.length === 0) continue;
      // Rules in other chains that jump to ours.
      for (const l of rules) {
        if (!l.startsWith("-A ")) continue;
        const chain = l.split(" ")[1] ?? "";
        if (chains.includes(chain)) continue;
        if (!chains.some((c) => l.includes(`-j ${c}`) || l.includes(`-g ${c}`))) continue;
        run("sh", ["-c", `${bin} -t ${table} -D ${l.slice(3)}`], { allowFail: true });
      }
      for (const c of chains) run(bin, ["-t", table, "-F", c], { allowFail: true });
      for (const c of chains) run(bin, ["-t", table, "-X", c], { allowFail: true });
    }
  }
}

/** Waits until a pod is Running and Ready; returns its pod IP. */
export async function waitPodReady(state: ClusterState, namespace: string, name: string, timeoutMs = 60_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const r = await apiGet(state, `/api/v1/namespaces/${namespace}/pods/${name}`);
    if (r.status === 200) {
      const p = JSON.parse(r.body) as { status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] } };
      last = `${p.status?.phase ?? "?"} ${JSON.stringify(p.status?.conditions ?? [])}`;
      if (p.status?.phase === "Running" && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") && p.status.podIP) {
        return p.status.podIP;
      }
    }
    if (Date.now() > until) throw new Error(`pod ${namespace}/${name} not Ready after ${timeoutMs} ms: ${last}\n${kubectl(state, ["describe", "pod", "-n", namespace, name])}`);
    await sleep(250);
  }
}

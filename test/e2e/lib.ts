// Shared setup for the end-to-end tests: one full single-node cluster per test file (the node is
// a machine-wide singleton, so files run one after another), the FTP-server image imported into
// the node's containerd, the CRD, the operator, a users Secret, and a client network namespace
// (the outside world, routed only to the LoadBalancer pool) running Python's ftplib.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestCluster, type TestCluster } from "../cluster/harness.ts";
import { canRunNode, createClientNamespace, importImage, kubectl, type ClientNamespace, type NodeOptions } from "../cluster/node.ts";
import type { ClusterState } from "../cluster/cluster.ts";
import { operatorImage, serverImage } from "../images/names.ts";

export const ROOT = resolve(import.meta.dirname, "../..");
// The images' published names (test/images/names.ts): imported into the node's containerd under
// exactly those names, so FtpServers need no spec.image and pull nothing (IfNotPresent).
export const IMAGE = process.env.E2E_SERVER_IMAGE ?? serverImage();
export const IMAGE_TAR = process.env.E2E_SERVER_IMAGE_TAR ?? join(ROOT, "out/images/ftp-server.tar");
export const OPERATOR_IMAGE = process.env.E2E_OPERATOR_IMAGE ?? operatorImage();
export const OPERATOR_IMAGE_TAR = process.env.E2E_OPERATOR_IMAGE_TAR ?? join(ROOT, "out/images/pasv-operator.tar");
export const CLIENT_PY = join(ROOT, "test/e2e/ftp_client.py");
export const PASSWORD = "e2e-secret-1";
export const NS = "default";

/** alice: group staff (class `office`); bob: group partners (class `partners`); carol: no group. */
export const USERS = [
  { name: "alice", groups: ["staff"] },
  { name: "bob", groups: ["partners"] },
  { name: "carol", groups: [] as string[] },
];

export interface Env {
  cluster: TestCluster;
  state: ClusterState;
  client: ClientNamespace;
  operator: ChildProcess | null;
  logDir: string;
  kubectl(args: string[], input?: string): string;
  stop(): Promise<void>;
}

function log(msg: string): void {
  console.error(`# ${msg}`);
}

/** Starts everything a test file needs. Throws (never skips) with the reason when the node cannot run. */
export async function setup(opts: { operator?: boolean; node?: NodeOptions } = {}): Promise<Env> {
  const check = canRunNode();
  if (!check.ok) throw new Error(`full node cannot run on this machine: ${check.reason}`);
  if (!existsSync(IMAGE_TAR)) throw new Error(`${IMAGE_TAR} missing: run \`make image-tar\` (or \`make e2e\`, which builds it)`);
  const t0 = Date.now();
  const cluster = await startTestCluster({ node: opts.node ?? true });
  const state = cluster.state;
  if (!state) throw new Error("expected a cluster started by the harness");
  const logDir = join(cluster.dir, "logs");
  mkdirSync(logDir, { recursive: true });
  const refs = importImage(state, IMAGE_TAR);
  if (!refs.includes(IMAGE)) throw new Error(`${IMAGE_TAR} holds ${refs.join(", ")}, not ${IMAGE}`);
  const k = (args: string[], input?: string): string => kubectl(state, args, input);
  k(["apply", "--server-side", "-f", join(ROOT, "crds")]);
  k(["wait", "--for=condition=Established", "crd/ftpservers.ftp.pasv.dev", "crd/ftpusers.ftp.pasv.dev", "--timeout=30s"]);
  k(["apply", "-f", "-"], JSON.stringify(usersSecret()));
  let operator: ChildProcess | null = null;
  if (opts.operator !== false) operator = startOperator(state.kubeconfig, join(logDir, "operator.log"));
  const client = createClientNamespace(state);
  log(`cluster + node + image + operator ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (${cluster.dir})`);
  return {
    cluster,
    state,
    client,
    operator,
    logDir,
    kubectl: k,
    stop: async () => {
      // A test that failed between opening a session and its finally leaves the client running, and
      // its pipes would keep this test file's process alive until the suite's timeout.
      for (const session of openSessions) session.close();
      if (operator && operator.exitCode === null) {
        operator.kill("SIGTERM");
        await Promise.race([new Promise((r) => operator?.once("exit", r)), sleep(5000)]);
      }
      client.remove();
      await cluster.stop();
    },
  };
}

/** The operator as a local process against the admin kubeconfig (the chart's in-cluster pod is `make demo`'s job). */
export function startOperator(kubeconfig: string, logFile: string): ChildProcess {
  const out = createWriteStream(logFile, { flags: "a" });
  const args = ["--kubeconfig", kubeconfig, "--no-leader-elect", "--health-port", "0", "--ftp-server-image", IMAGE];
  const p = spawn(process.execPath, [join(ROOT, "operator/src/main.ts"), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "info" },
  });
  p.stdout?.pipe(out);
  p.stderr?.pipe(out);
  process.once("exit", () => p.kill("SIGKILL"));
  return p;
}

let hashCache: string | null = null;
function passwordHash(): string {
  // Low scrypt cost: thousands of logins in a test; the format is the production one.
  hashCache ??= execFileSync(process.execPath, [join(ROOT, "server-image/src/hash-password.ts"), "--cost", "1024"], {
    env: { ...process.env, PASSWORD },
    encoding: "utf8",
  }).trim();
  return hashCache;
}

export function usersFile(): string {
  return JSON.stringify({ users: USERS.map((u) => ({ name: u.name, password: passwordHash(), groups: u.groups })) });
}

function usersSecret(): object {
  return { apiVersion: "v1", kind: "Secret", metadata: { name: "ftp-users", namespace: NS }, type: "Opaque", stringData: { "users.json": usersFile() } };
}

// ---------------------------------------------------------------- Kubernetes helpers

export function getJson<T = Record<string, unknown>>(env: Env, kind: string, name: string): T {
  return JSON.parse(env.kubectl(["get", kind, name, "-n", NS, "-o", "json"])) as T;
}

export interface Cond {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
export interface FtpServerObj {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    readyReplicas?: number;
    passive?: { basePort?: number; portEnd?: number; externalAddress?: string; slices?: { slot: number; portStart: number; portEnd: number }[] };
    conditions?: Cond[];
  };
}

export function cond(fs: FtpServerObj, type: string): Cond | undefined {
  return fs.status?.conditions?.find((c) => c.type === type);
}

export async function waitFor<T>(what: string, timeoutMs: number, fn: () => T | undefined | false | Promise<T | undefined | false>, everyMs = 500): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown = "";
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${JSON.stringify(last)})` : ""}`);
    await sleep(everyMs);
  }
}

export interface PodInfo {
  name: string;
  uid: string;
  ip: string;
  ready: boolean;
  restarts: number;
  containerId: string;
  image: string;
  deleting: boolean;
}

export function pods(env: Env, instance: string): PodInfo[] {
  const list = JSON.parse(env.kubectl(["get", "pods", "-n", NS, "-l", `app.kubernetes.io/instance=${instance}`, "-o", "json"])) as {
    items: {
      metadata: { name: string; uid: string; deletionTimestamp?: string };
      spec: { containers: { image: string }[] };
      status?: { podIP?: string; conditions?: Cond[]; containerStatuses?: { restartCount: number; containerID?: string }[] };
    }[];
  };
  return list.items
    .map((p) => ({
      name: p.metadata.name,
      uid: p.metadata.uid,
      ip: p.status?.podIP ?? "",
      ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0,
      containerId: (p.status?.containerStatuses?.[0]?.containerID ?? "").replace(/^containerd:\/\//, ""),
      image: p.spec.containers[0]?.image ?? "",
      deleting: p.metadata.deletionTimestamp !== undefined,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Applies an FtpServer and waits until it is Ready with its LB address (or until `until` says so). */
export async function applyFtpServer(env: Env, obj: object): Promise<void> {
  env.kubectl(["apply", "-f", "-"], JSON.stringify(obj));
}

export async function waitReady(env: Env, name: string, replicas: number, timeoutMs = 120_000): Promise<FtpServerObj> {
  return waitFor(`FtpServer ${name} Ready with ${replicas} ready pods and an external address`, timeoutMs, () => {
    const fs = getJson<FtpServerObj>(env, "ftpserver", name);
    const ps = pods(env, name);
    return cond(fs, "Ready")?.status === "True" &&
      fs.status?.passive?.externalAddress &&
      ps.filter((p) => p.ready && !p.deleting).length === replicas &&
      fs.status.observedGeneration === fs.metadata.generation
      ? fs
      : undefined;
  });
}

/**
 * Writes whoami.txt (the pod's name) into every user's home on each pod, so a client learns from
 * a RETR which pod holds its control connection.
 */
export function seedWhoami(env: Env, podNames: string[]): void {
  const homes = USERS.map((u) => `/data/${u.name}`).join(" ");
  for (const p of podNames) {
    env.kubectl(["exec", "-n", NS, p, "--", "sh", "-c", `for h in ${homes}; do mkdir -p $h && echo "$POD_NAME" > $h/whoami.txt; done`]);
  }
}

/** Files in a user's home on one pod (through the kubelet: kubectl exec). */
export function podFiles(env: Env, pod: string, user: string): string[] {
  return env
    .kubectl(["exec", "-n", NS, pod, "--", "ls", "-a", `/data/${user}`])
    .split("\n")
    .filter((l) => l && l !== "." && l !== "..");
}

/** A pod's Prometheus metrics (pod IPs are on the node's bridge: reachable from the host). */
export async function podMetrics(ip: string): Promise<Map<string, number>> {
  const res = await fetch(`http://${ip}:9100/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

export function metric(m: Map<string, number>, key: string): number {
  return m.get(key) ?? 0;
}

// ---------------------------------------------------------------- the FTP client (Python ftplib in the client netns)

export interface SessionRecord {
  i: number;
  ok: boolean;
  pod: string | null;
  ports: number[];
  addresses: string[];
  attempts: number;
  retried?: string[];
  error?: string;
  name?: string;
  sha?: string;
  sha_ok?: boolean;
  ms?: number;
}
export interface RunSummary {
  sessions: number;
  ok: number;
  failed: number;
  retried: number;
  seconds: number;
}

export interface RunArgs {
  host: string;
  user: string;
  sessions: number;
  parallel: number;
  size?: number;
  mode?: "pasv" | "epsv";
  retries?: number;
  deadline?: number;
  tag?: string;
  start?: number;
  noWhoami?: boolean;
  stopFile?: string;
  pause?: number;
}

function runArgv(a: RunArgs): string[] {
  const argv = [CLIENT_PY, "run", "--host", a.host, "--user", a.user, "--password", PASSWORD, "--sessions", String(a.sessions), "--parallel", String(a.parallel)];
  if (a.size !== undefined) argv.push("--size", String(a.size));
  if (a.mode) argv.push("--mode", a.mode);
  if (a.retries !== undefined) argv.push("--retries", String(a.retries));
  argv.push("--deadline", String(a.deadline ?? 240));
  if (a.tag) argv.push("--tag", a.tag);
  if (a.start !== undefined) argv.push("--start", String(a.start));
  if (a.noWhoami) argv.push("--no-whoami");
  if (a.stopFile) argv.push("--stop-file", a.stopFile);
  if (a.pause !== undefined) argv.push("--pause", String(a.pause));
  return argv;
}

function parseRun(out: string): { records: SessionRecord[]; summary: RunSummary } {
  const records: SessionRecord[] = [];
  let summary: RunSummary | undefined;
  for (const line of out.split("\n")) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o.summary === true) summary = o as unknown as RunSummary;
    else records.push(o as unknown as SessionRecord);
  }
  if (!summary) throw new Error(`client printed no summary:\n${out.slice(-2000)}`);
  records.sort((x, y) => x.i - y.i);
  return { records, summary };
}

/** Runs sessions from the client namespace (asynchronously: the test can act on the cluster meanwhile). */
export function runClient(env: Env, a: RunArgs): Promise<{ records: SessionRecord[]; summary: RunSummary }> {
  return new Promise((res, rej) => {
    const p = spawn("ip", ["netns", "exec", env.client.netns, "python3", ...runArgv(a)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    p.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    p.on("error", rej);
    p.on("close", (code) => {
      if (code !== 0) rej(new Error(`ftp_client.py run exited ${code}: ${err.slice(-2000)}`));
      else {
        try {
          res(parseRun(out));
        } catch (e) {
          rej(e instanceof Error ? e : new Error(String(e)));
        }
      }
    });
  });
}

export interface Probe {
  greeting: string;
  pasv: string;
  epsv: string;
  epsv_nlst_ok: boolean;
  epsv_ports: number[];
}

export function probe(env: Env, host: string, user: string): Probe {
  const out = env.client.exec("python3", [CLIENT_PY, "probe", "--host", host, "--user", user, "--password", PASSWORD]);
  return JSON.parse(out) as Probe;
}

/**
 * The probe against one pod's IP, from the host (pod IPs are on the node's bridge): that pod and
 * no other answers, so a test can ask every pod in turn instead of whichever kube-proxy picks.
 */
export function probePod(pod: Pick<PodInfo, "name" | "ip">, user: string): Probe {
  if (!pod.ip) throw new Error(`pod ${pod.name} has no IP yet`);
  const out = execFileSync("python3", [CLIENT_PY, "probe", "--host", pod.ip, "--user", user, "--password", PASSWORD], { encoding: "utf8", timeout: 60_000 });
  return JSON.parse(out) as Probe;
}

/**
 * Waits (bounded) until every pod of `instance` answers PASV with `address`, asking each pod on
 * its own IP. Returns the ms waited. The kubelet refreshes a mounted ConfigMap late (its sync
 * period), and each pod hot-reloads on its own schedule, so one pod saying so proves nothing
 * about the others.
 */
export async function waitEveryPodPasv(env: Env, instance: string, replicas: number, address: string, user: string, timeoutMs = 180_000): Promise<number> {
  const t0 = Date.now();
  const pending = new Set<string>();
  await waitFor(`every pod of ${instance} answers PASV with ${address}`, timeoutMs, () => {
    const ps = pods(env, instance).filter((p) => p.ready && !p.deleting);
    if (ps.length !== replicas) return false;
    pending.clear();
    for (const p of ps) if (parse227(probePod(p, user).pasv).address !== address) pending.add(p.name);
    return pending.size === 0;
  }, 2000).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; pods still on another address: ${[...pending].join(", ") || "(none answered)"}`);
  });
  return Date.now() - t0;
}

/** "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)" -> address and port. */
export function parse227(reply: string): { address: string; port: number } {
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(reply);
  if (!m) throw new Error(`not a 227 reply: ${reply}`);
  const n = m.slice(1).map(Number);
  return { address: n.slice(0, 4).join("."), port: (n[4] ?? 0) * 256 + (n[5] ?? 0) };
}

export function parse229(reply: string): number {
  const m = /\(\|\|\|(\d+)\|\)/.exec(reply);
  if (!m) throw new Error(`not a 229 reply: ${reply}`);
  return Number(m[1]);
}

/** One long-lived control session driven op by op (keeps its control connection open across cluster changes). */
/** Sessions whose client process has not exited (closed by Env.stop). */
const openSessions = new Set<Session>();

export class Session {
  private readonly proc: ChildProcess;
  private readonly lines: string[] = [];
  private waiters: ((l: string) => void)[] = [];
  private stderr = "";
  readonly greeting: Promise<Record<string, unknown>>;

  /** `from: "host"` runs the client on the host (to reach a pod IP directly), else in the client namespace. */
  constructor(env: Env, host: string, user: string, from: "client-netns" | "host" = "client-netns") {
    const argv = [CLIENT_PY, "session", "--host", host, "--user", user, "--password", PASSWORD];
    this.proc = from === "host"
      ? spawn("python3", argv, { stdio: ["pipe", "pipe", "pipe"] })
      : spawn("ip", ["netns", "exec", env.client.netns, "python3", ...argv], { stdio: ["pipe", "pipe", "pipe"] });
    openSessions.add(this);
    this.proc.once("exit", () => openSessions.delete(this));
    this.proc.stderr?.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    const rl = createInterface({ input: this.proc.stdout! });
    rl.on("line", (l) => {
      const w = this.waiters.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
    this.greeting = this.next(20_000);
  }

  /** The next JSON line the client prints. */
  next(timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(JSON.parse(l) as Record<string, unknown>);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no reply from the FTP client within ${timeoutMs} ms; stderr: ${this.stderr.slice(-1000)}`)), timeoutMs);
      const w = (line: string): void => {
        clearTimeout(t);
        res(JSON.parse(line) as Record<string, unknown>);
      };
      this.waiters.push(w);
      this.proc.once("exit", () => {
        if (this.waiters.includes(w)) {
          this.waiters = this.waiters.filter((x) => x !== w);
          clearTimeout(t);
          rej(new Error(`FTP client exited; stderr: ${this.stderr.slice(-1000)}`));
        }
      });
    });
  }

  send(op: Record<string, unknown>): void {
    this.proc.stdin?.write(JSON.stringify(op) + "\n");
  }

  async op(op: Record<string, unknown>, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    this.send(op);
    return this.next(timeoutMs);
  }

  close(): void {
    this.proc.stdin?.end();
    if (this.proc.exitCode === null) this.proc.kill("SIGTERM");
  }
}

/**
 * FtpServer manifest used by the tests: 3 replicas, 300 ports (100 per pod when partitioned), a 1 s
 * quarantine (the default 60 s would exhaust a 100-port slice after 33 sessions of 3 transfers).
 */
export function ftpServer(name: string, mode: "PortPartitioned" | "ClientIPAffinity", basePort: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: "ftp.pasv.dev/v1alpha1",
    kind: "FtpServer",
    metadata: { name, namespace: NS },
    spec: {
      replicas: 3,
      // No image: the operator's default (--ftp-server-image), imported under its published name.
      routing: { mode },
      passive: {
        basePort,
        numberOfPorts: 300,
        expectedConcurrentConnections: 60,
        quarantineSeconds: 1,
        acceptTimeoutSeconds: 10,
        addressRules: [
          { userClass: "partners", address: "198.51.100.7", enabled: true },
          { userClass: "office", address: "198.51.100.9", enabled: false },
          { userClass: "*", address: "auto", enabled: true },
        ],
      },
      userClasses: [
        { name: "partners", match: { groups: ["partners"] } },
        { name: "office", match: { groups: ["staff"] } },
      ],
      users: { secretName: "ftp-users" },
      ...extra,
    },
  };
}

export function summarize(records: SessionRecord[]): string {
  const ok = records.filter((r) => r.ok).length;
  const ms = records.map((r) => r.ms ?? 0).sort((a, b) => a - b);
  const p = (q: number): number => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0;
  return `${ok}/${records.length} ok, session p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`;
}

export { log };

/** Sum of a metric's samples whose labels include every given label="value". */
export function sumMetric(m: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [k, v] of m) {
    const brace = k.indexOf("{");
    const n = brace < 0 ? k : k.slice(0, brace);
    if (n !== name) continue;
    if (Object.entries(labels).every(([l, val]) => k.includes(`${l}="${val}"`))) sum += v;
  }
  return sum;
}

/** Transfer counters of every pod, by pod name. */
export async function transferCounters(ps: PodInfo[]): Promise<Map<string, { upOk: number; downOk: number; failed: number; rejected: number; sessions: number }>> {
  const out = new Map<string, { upOk: number; downOk: number; failed: number; rejected: number; sessions: number }>();
  for (const p of ps) {
    const m = await podMetrics(p.ip);
    out.set(p.name, {
      upOk: sumMetric(m, "ftp_transfers_total", { direction: "upload", result: "ok" }),
      downOk: sumMetric(m, "ftp_transfers_total", { direction: "download", result: "ok" }),
      failed: sumMetric(m, "ftp_transfers_total", { result: "failed" }) + sumMetric(m, "ftp_transfers_total", { result: "aborted" }),
      rejected: sumMetric(m, "ftp_data_connections_rejected_total"),
      sessions: sumMetric(m, "ftp_sessions_total", { result: "accepted" }),
    });
  }
  return out;
}

/** Applies nothing: waits for `name` Ready with `replicas` pods and serving 220 through its LB address, which it returns. */
export async function waitReadyAndServing(env: Env, name: string, replicas: number, timeoutMs = 180_000): Promise<string> {
  const fs = await waitReady(env, name, replicas, timeoutMs);
  const lb = fs.status?.passive?.externalAddress;
  if (!lb) throw new Error(`${name} is Ready without status.passive.externalAddress`);
  await waitServing(env, lb);
  return lb;
}

/**
 * Waits until the control port answers 220 through the LB address from the client namespace:
 * FtpServer Ready says the pods and the Service exist; kube-proxy programs a 300-port Service a
 * moment later (until then the LB address refuses connections).
 */
export async function waitServing(env: Env, lb: string, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  await waitFor(`220 from ${lb}:21 in the client namespace`, timeoutMs, () => /^220[ -]/.test(env.client.firstLine(lb, 21)), 250);
  log(`${lb}:21 answered 220 ${Date.now() - t0} ms after the FtpServer was Ready`);
}

// make bench-operator: N FtpServers × P passive ports × R replicas on the local control plane
// (etcd + kube-apiserver + kube-controller-manager + kube-scheduler on 127.0.0.1, no kubelet).
// Sizes (--sizes, comma-separated): `N` (ports --ports, replicas --replicas), `NxP`, `NxPxR`, or
// `max` (one FtpServer at the schema's maximum port count). Default: 1000x100,100x1000,max
// (3 replicas). The operator runs as compiled JavaScript (hack/compile-js.sh), as the image ships
// it; --source ts runs the TypeScript sources instead.
//
// Per size, in fresh namespaces:
//   1. create N FtpServers (the operator is not running yet), and the same N in a second namespace
//      that no operator watches (for step 5);
//   2. start the operator as a child process (cold start) and time until every FtpServer is Ready
//      with observedGeneration = generation (counted by a watch in this process — the moment the
//      last one turns Ready — and confirmed by a LIST at the end);
//   3. read the operator's API writes (its /metrics), peak RSS (VmHWM of the operator process,
//      sampled from /proc every 250 ms and at the end), CPU seconds of the operator and of
//      kube-apiserver/etcd during the cold start (/proc/<pid>/stat);
//   4. restart the operator (cold caches, full resync of converged objects) and count its writes:
//      the no-op resync must write nothing;
//   5. the yardstick: bulk server-side apply of exactly the child objects the operator's pure
//      builders produce for the second namespace's FtpServers (bulk-apply.ts), same cluster, same
//      run; its wall time, writes and API-server CPU. ratio = operator time to all Ready / bulk time.
//   Both phases also record the CPU of every process (controller-manager, scheduler, the driver) and
//   the API server's requests by verb and resource (its apiserver_request_duration_seconds).
// Results: a table on stdout and JSON in out/bench/operator-results.json (--results FILE to change).
// Memory in bytes in the file (the table says MB = 10^6 bytes). BENCH_DOCS=1 is not supported for
// scale runs yet (hack/bench-docs.ts renders only the N-only shape): commit the file under
// docs/benchmarks/results/scale/.
//
// "Ready" here = the operator's --workload-readiness=applied: every child (Service, EndpointSlices,
// ConfigMap, StatefulSet) applied for the current generation, the Service's ports and the slot
// EndpointSlices consistent with the passive range, the external address resolved (ClusterIP
// Services: the cluster IP). Pod readiness is not part of it: no kubelet runs pods here.
//
// usage: node test/bench/operator/bench.ts [--sizes 1000x100,100x1000,max] [--replicas 3] [--ports 10] [--workers 16]
//          [--source js|ts] [--no-bulk] [--timeout-seconds 300] [--settle-seconds 300] [--results FILE] [--operator-log-dir DIR]
//          [--node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"]   (node flags for the operator process, after
//          the ones of operator/Dockerfile's ENTRYPOINT, which the bench always uses)
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeObject } from "../../../operator/src/runtime/types.ts";
import { Informer } from "../../../operator/src/runtime/informer.ts";
import { startTestCluster } from "../../cluster/harness.ts";
import { cacheReport } from "./cache-size.ts";
import { bulkApply } from "./bulk-apply.ts";
import { entrypointNodeFlags } from "../image-node-flags.ts";
import { MAX_PASSIVE_PORTS } from "../../../operator/src/api/v1alpha1.ts";
import { Resources } from "../../../operator/src/runtime/types.ts";
import { eventually, within } from "../../support/eventually.ts";
import { freePort } from "../../support/ports.ts";
import { FtpServers, condition, ensureNamespace, ensureUsersSecrets, ftpServerObject, installCrd, newClient } from "../../integration/operator-helpers.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000x100,100x1000,max" },
    replicas: { type: "string", default: "3" },
    ports: { type: "string", default: "10" },
    workers: { type: "string", default: "16" },
    "timeout-seconds": { type: "string", default: "300" },
    /** bound on waiting for the trailing Pod events after all Ready */
    "settle-seconds": { type: "string", default: "300" },
    /** js: compiled (hack/compile-js.sh), as in the image; ts: the sources, type-stripped */
    source: { type: "string", default: "js" },
    "no-bulk": { type: "boolean", default: false },
    results: { type: "string", default: "" },
    "node-args": { type: "string", default: "" },
    /** write a heap snapshot of the cold-start operator (after it settled) into this directory */
    "heap-snapshot-dir": { type: "string", default: "" },
    /** keep the operators' logs (stdout/stderr, e.g. with --node-args=--trace-gc) here instead of the cluster's temporary directory */
    "operator-log-dir": { type: "string", default: "" },
    /** after the cold start, print what each informer cache holds (run the bench with node --expose-gc) */
    "cache-report": { type: "boolean", default: false },
  },
});
interface Size {
  label: string;
  n: number;
  ports: number;
  replicas: number;
}
/** `N`, `NxP`, `NxPxR` or `max` (1 × MAX_PASSIVE_PORTS) */
function parseSize(text: string): Size {
  const spec = text === "max" ? `1x${MAX_PASSIVE_PORTS}` : text;
  const [n, p, r, extra] = spec.split("x").map(Number);
  const size = { label: text, n: n!, ports: p ?? Number(values.ports), replicas: r ?? Number(values.replicas) };
  if (extra !== undefined || ![size.n, size.ports, size.replicas].every((v) => Number.isInteger(v) && v > 0) || size.ports > MAX_PASSIVE_PORTS) {
    console.error(`--sizes: ${text}: want N, NxPORTS, NxPORTSxREPLICAS (PORTS <= ${MAX_PASSIVE_PORTS}) or max`);
    process.exit(2);
  }
  return size;
}
const sizes = values.sizes.split(",").map(parseSize);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const OUT = join(ROOT, "out/bench");
const resultsFile = values.results || join(OUT, "operator-results.json");
let MAIN: string;
if (values.source === "ts") MAIN = join(ROOT, "operator/src/main.ts");
else if (values.source === "js") {
  // Inside the checkout, so the emitted ESM finds package.json ("type": "module") and node_modules.
  const dir = join(OUT, "operator-js");
  execFileSync(join(ROOT, "hack/compile-js.sh"), ["operator", dir], { stdio: "inherit" });
  MAIN = join(dir, "operator/src/main.js");
} else {
  console.error("--source: js or ts");
  process.exit(2);
}
console.log(JSON.stringify({ operatorMain: MAIN }));

/** The node flags the operator image runs with (its ENTRYPOINT), so the bench measures the same process. */
const NODE_FLAGS = [...entrypointNodeFlags(join(ROOT, "operator/Dockerfile")), ...values["node-args"].split(" ").filter(Boolean)];
console.log(JSON.stringify({ operatorNodeFlags: NODE_FLAGS }));

/** user+system CPU seconds of a process (clock ticks of 10 ms) */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function vm(pid: number, field: "VmHWM" | "VmRSS"): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function metrics(port: number): Promise<{ writes: Record<string, number>; requests: Record<string, number>; reconciles: number; depth: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const writes: Record<string, number> = {};
  const requests: Record<string, number> = {};
  let reconciles = 0;
  let depth = 0;
  for (const line of text.split("\n")) {
    let m = /^pasv_operator_api_writes_total\{([^}]*)\} (\S+)/.exec(line);
    if (m) {
      const res = /resource="([^"]+)"/.exec(m[1]!)?.[1] ?? "?";
      writes[res] = (writes[res] ?? 0) + Number(m[2]);
      continue;
    }
    m = /^rest_client_requests_total\{([^}]*)\} (\S+)/.exec(line);
    if (m) {
      const method = /method="([^"]+)"/.exec(m[1]!)?.[1] ?? "?";
      requests[method] = (requests[method] ?? 0) + Number(m[2]);
      continue;
    }
    m = /^controller_runtime_reconcile_total\{[^}]*\} (\S+)/.exec(line);
    if (m) reconciles += Number(m[1]);
    m = /^workqueue_depth\{[^}]*\} (\S+)/.exec(line);
    if (m) depth += Number(m[1]);
  }
  return { writes, requests, reconciles, depth };
}

/**
 * The API server's own request counters (apiserver_request_duration_seconds: count and summed
 * latency per verb and resource), to say which requests a phase made and where their time went.
 */
type ApiRequests = Record<string, { count: number; seconds: number }>;
async function apiserverRequests(): Promise<ApiRequests> {
  const text = await client.request<string>("GET", "/metrics").catch(() => "");
  const out: ApiRequests = {};
  for (const line of typeof text === "string" ? text.split("\n") : []) {
    const m = /^apiserver_request_duration_seconds_(sum|count)\{([^}]*)\} (\S+)/.exec(line);
    if (!m) continue;
    const label = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(m[2]!)?.[1] ?? "";
    const key = `${label("verb")} ${label("resource")}${label("subresource") ? `/${label("subresource")}` : ""}`;
    const e = (out[key] ??= { count: 0, seconds: 0 });
    if (m[1] === "sum") e.seconds += Number(m[3]);
    else e.count += Number(m[3]);
  }
  return out;
}
/** after − before, largest summed latency first, rounded; watches (open for minutes) left out */
function requestDelta(before: ApiRequests, after: ApiRequests): ApiRequests {
  return Object.fromEntries(
    Object.entries(after)
      .filter(([k]) => !k.startsWith("WATCH"))
      .map(([k, v]) => [k, { count: v.count - (before[k]?.count ?? 0), seconds: +(v.seconds - (before[k]?.seconds ?? 0)).toFixed(2) }] as const)
      .filter(([, v]) => v.count > 0)
      .sort((a, b) => b[1].seconds - a[1].seconds),
  );
}

const sum = (w: Record<string, number>, exclude: string[] = []) =>
  Object.entries(w).filter(([k]) => !exclude.includes(k)).reduce((a, [, v]) => a + v, 0);

// 1,000 ClusterIP Services do not fit the harness default /24 service range.
const cluster = await startTestCluster({ serviceClusterIpRange: "10.96.0.0/16" });
const client = newClient(cluster.kubeConfig);
const children: ChildProcess[] = [];
async function startOperator(ns: string, tag: string): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const logDir = values["operator-log-dir"] || cluster.dir;
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(join(logDir, `bench-operator-${tag}.log`));
  const proc = spawn(
    process.execPath,
    [...NODE_FLAGS,
      ...(values["heap-snapshot-dir"] && tag.endsWith("cold") ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${values["heap-snapshot-dir"]}`] : []),
      MAIN, "--kubeconfig", cluster.kubeconfigPath, "--namespace", ns, "--no-leader-elect", "--workload-readiness", "applied",
      "--workers", values.workers, "--health-host", "127.0.0.1", "--health-port", String(port), "--resync-period", "0"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LOG_LEVEL: "warn" } },
  );
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  children.push(proc);
  return { proc, port };
}

async function stopOperator(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const gone = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  try {
    await within("the operator exits after SIGTERM", gone, 30_000);
  } catch (err) {
    p.kill("SIGKILL");
    throw err;
  }
}

/** The operator's /metrics once it answers (bounded: an operator that never serves fails the bench). */
function waitMetrics(port: number) {
  return eventually(`operator /metrics on 127.0.0.1:${port}`, () => metrics(port), 60_000, 100);
}

const results: Record<string, unknown>[] = [];
try {
  await installCrd(client);
  for (const size of sizes) {
    const { n, ports, replicas } = size;
    const tag = size.label;
    const ns = `bench-${tag}`;
    const bulkNs = `bulk-${tag}`;
    const loadBefore = loadavg().map((l) => +l.toFixed(2));
    // 1. create N FtpServers, 32 requests in flight (and the same N for the bulk apply)
    const createAll = async (namespace: string) => {
      await ensureNamespace(client, namespace);
      await ensureUsersSecrets(client, namespace, "users");
      let next = 0;
      // ClusterIP Services: ranges of different FtpServers may overlap; keep each below 65535.
      const slots = Math.max(1, Math.floor(50000 / ports));
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < n) {
            const i = next++;
            await client.create(
              FtpServers,
              ftpServerObject(`ftp-${i}`, namespace, {
                replicas,
                passive: { basePort: 10000 + (i % slots) * ports, numberOfPorts: ports, expectedConcurrentConnections: Math.max(1, Math.floor(ports / 5)) },
                users: { secretName: "users" },
                service: { type: "ClusterIP" },
              }),
            );
          }
        }),
      );
    };
    const tc = Date.now();
    await createAll(ns);
    const createMs = Date.now() - tc;
    if (!values["no-bulk"]) await createAll(bulkNs);

    const isReady = (f: KubeObject) =>
      condition(f, "Ready")?.status === "True" && (f.status as { observedGeneration?: number } | undefined)?.observedGeneration === f.metadata?.generation;
    const readyCount = async (): Promise<number> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return (await client.list<KubeObject>(FtpServers, { namespace: ns })).items.filter(isReady).length;
        } catch (err) {
          if (attempt >= 5) throw err;
          console.error(`LIST ftpservers failed (${(err as Error).message}), retrying`);
          await sleep(1000);
        }
      }
    };
    // A watch (the runtime's informer, in this process) sees each FtpServer turn Ready; the time of
    // the last one is the figure. A LIST confirms it at the end.
    const readySet = new Set<string>();
    let lastReadyAt = 0;
    const readyTimes: number[] = [];
    const watcher = new Informer<KubeObject>(client, FtpServers, { namespace: ns });
    const onObj = (f: KubeObject) => {
      const k = f.metadata!.name!;
      if (isReady(f)) {
        if (!readySet.has(k)) {
          lastReadyAt = Date.now();
          readyTimes.push(lastReadyAt);
        }
        readySet.add(k);
      } else readySet.delete(k);
    };
    watcher.addHandler({ onAdd: onObj, onUpdate: (_o, f) => onObj(f), onDelete: (f) => readySet.delete(f.metadata!.name!) });
    watcher.start();
    await watcher.waitForSync();
    const apiPids = ["kube-apiserver", "etcd"].map((k) => cluster.state?.pids[k]);
    // the rest of the control plane (their share of the 2 cores is not the operator's nor the bulk's)
    const otherPids = ["kube-controller-manager", "kube-scheduler"].map((k) => cluster.state?.pids[k]);
    const otherCpu = (before: number[]) => otherPids.map((p, i) => +(cpuSeconds(p) - before[i]!).toFixed(1));
    const apiCpu0 = apiPids.map(cpuSeconds);
    const otherCpu0 = otherPids.map(cpuSeconds);
    const requests0 = await apiserverRequests();

    // 2. cold start
    const t0 = Date.now();
    const op = await startOperator(ns, `${tag}-cold`);
    let peakRss = 0;
    const deadline = t0 + Number(values["timeout-seconds"]) * 1000;
    while (readySet.size < n && Date.now() < deadline && op.proc.exitCode === null) {
      peakRss = Math.max(peakRss, vm(op.proc.pid!, "VmHWM"));
      await sleep(250);
    }
    const readyMs = (readySet.size === n ? lastReadyAt : Date.now()) - t0;
    const opCpu = cpuSeconds(op.proc.pid);
    const apiCpu = apiPids.map((p, i) => cpuSeconds(p) - apiCpu0[i]!);
    const controlPlaneCpu = otherCpu(otherCpu0);
    const requestsToReady = requestDelta(requests0, await apiserverRequests());
    const reconcilesToReady = (await metrics(op.port).catch(() => undefined))?.reconciles;
    await watcher.stop();
    const ready = await readyCount();
    // let the trailing events settle, then read the counters
    let m = await waitMetrics(op.port);
    const settleDeadline = Date.now() + Number(values["settle-seconds"]) * 1000;
    for (let last = -1; (m.reconciles !== last || m.depth > 0) && Date.now() < settleDeadline; ) {
      last = m.reconciles;
      peakRss = Math.max(peakRss, vm(op.proc.pid!, "VmHWM"));
      await sleep(1000);
      m = await waitMetrics(op.port);
    }
    const settled = Date.now() < settleDeadline;
    const pods = (await client.list<KubeObject>(Resources.Pod, { namespace: ns, limit: 1 }).catch(() => undefined)) as { metadata?: { remainingItemCount?: number }; items: unknown[] } | undefined;
    const podCount = pods ? pods.items.length + (pods.metadata?.remainingItemCount ?? 0) : -1;
    peakRss = Math.max(peakRss, vm(op.proc.pid!, "VmHWM"));
    const rssAfter = vm(op.proc.pid!, "VmRSS");
    if (values["heap-snapshot-dir"]) {
      // --heapsnapshot-signal=SIGUSR2 is added to the operator's node flags below
      const dir = values["heap-snapshot-dir"];
      const before = new Set(readdirSync(dir));
      op.proc.kill("SIGUSR2");
      for (let i = 0; i < 600 && !readdirSync(dir).some((f) => !before.has(f) && f.endsWith(".heapsnapshot")); i++) await sleep(500);
      await sleep(5000);
    }
    const writes = m.writes;
    await stopOperator(op.proc);

    if (values["cache-report"]) for (const row of await cacheReport(client, ns)) console.log(JSON.stringify({ cache: row }));

    // 4. no-op resync: a fresh operator over converged objects
    const t1 = Date.now();
    const op2 = await startOperator(ns, `${tag}-resync`);
    let m2 = await waitMetrics(op2.port);
    const resyncDeadline = Date.now() + Number(values["timeout-seconds"]) * 1000;
    while ((m2.reconciles < n || m2.depth > 0) && Date.now() < resyncDeadline) {
      await sleep(200);
      m2 = await waitMetrics(op2.port);
    }
    const resyncMs = Date.now() - t1;
    await sleep(1000);
    m2 = await waitMetrics(op2.port);
    const rss2 = vm(op2.proc.pid!, "VmHWM");
    await stopOperator(op2.proc);

    // 5. the yardstick: bulk SSA of the same child objects, no operator
    let bulk: Record<string, number> | undefined;
    let bulkRequests: ApiRequests | undefined;
    if (!values["no-bulk"]) {
      const cpu0 = apiPids.map(cpuSeconds);
      const other0 = otherPids.map(cpuSeconds);
      const benchCpu0 = process.cpuUsage();
      const req0 = await apiserverRequests();
      const b = await bulkApply(client, bulkNs, Number(values.workers));
      const cpu = apiPids.map((p, i) => cpuSeconds(p) - cpu0[i]!);
      const benchCpu = process.cpuUsage(benchCpu0);
      const other = otherCpu(other0);
      bulk = {
        seconds: +b.seconds.toFixed(2),
        writes: b.objects,
        bodyMB: +(b.bytes / 1e6).toFixed(1),
        apiserverCpuSeconds: +cpu[0]!.toFixed(1),
        etcdCpuSeconds: +cpu[1]!.toFixed(1),
        /** the bench process itself (the driver builds and sends the objects) */
        driverCpuSeconds: +((benchCpu.user + benchCpu.system) / 1e6).toFixed(1),
        controllerManagerCpuSeconds: other[0]!,
        schedulerCpuSeconds: other[1]!,
        /** driver + kube-apiserver + etcd + controller-manager + scheduler */
        cpuSecondsAll: +((benchCpu.user + benchCpu.system) / 1e6 + cpu[0]! + cpu[1]! + other[0]! + other[1]!).toFixed(1),
      };
      bulkRequests = requestDelta(req0, await apiserverRequests());
    }
    // the largest child: the Service, as stored (JSON as served, managedFields included)
    const svc = await client.get<KubeObject>(Resources.Service, "ftp-0", ns).catch(() => undefined);
    const serviceJsonBytes = svc ? JSON.stringify(svc).length : 0;

    const r = {
      size: tag,
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadavg().map((l) => +l.toFixed(2)),
      operatorSource: values.source,
      ftpServers: n,
      replicas,
      passivePorts: ports,
      createSeconds: createMs / 1000,
      allReady: ready === n,
      ready,
      coldStartToAllReadySeconds: readyMs / 1000,
      /** when the first, 10th, 50th and 90th percentile FtpServer turned Ready (s from spawn) */
      readySecondsAtPercent: Object.fromEntries([0, 10, 50, 90].map((p) => [p, readyTimes.length ? +((readyTimes[Math.min(readyTimes.length - 1, Math.floor((p / 100) * n))]! - t0) / 1000).toFixed(2) : null])),
      operatorCpuSecondsToReady: +opCpu.toFixed(1),
      apiserverCpuSecondsToReady: +apiCpu[0]!.toFixed(1),
      etcdCpuSecondsToReady: +apiCpu[1]!.toFixed(1),
      controllerManagerCpuSecondsToReady: controlPlaneCpu[0],
      schedulerCpuSecondsToReady: controlPlaneCpu[1],
      reconcilesToReady,
      /** operator + kube-apiserver + etcd + controller-manager + scheduler: on 2 cores both phases are CPU-bound, so time follows this sum */
      cpuSecondsAllToReady: +(opCpu + apiCpu[0]! + apiCpu[1]! + controlPlaneCpu[0]! + controlPlaneCpu[1]!).toFixed(1),
      /** the API server's requests from spawn to all Ready (every client: operator, bench watch, controllers), by verb and resource */
      apiserverRequestsToReady: requestsToReady,
      apiWrites: sum(writes),
      apiWritesPerFtpServer: +(sum(writes, ["events"]) / n).toFixed(2),
      writesByResource: writes,
      /** every request of the operator by HTTP method (GET = gets, LISTs and watches) until settled */
      requestsByMethod: m.requests,
      peakRssBytes: peakRss,
      rssAfterBytes: rssAfter,
      noopResyncSeconds: resyncMs / 1000,
      noopResyncWrites: sum(m2.writes, ["leases"]),
      noopResyncWritesByResource: m2.writes,
      noopResyncPeakRssBytes: rss2,
      settledWithinBound: settled,
      pods: podCount,
      serviceJsonBytes,
      bulkApply: bulk,
      bulkApplyApiserverRequests: bulkRequests,
      ratioToBulkApply: bulk ? +(readyMs / 1000 / bulk.seconds!).toFixed(2) : undefined,
      apiserverCpuRatioToBulkApply: bulk && bulk.apiserverCpuSeconds! > 0 ? +(apiCpu[0]! / bulk.apiserverCpuSeconds!).toFixed(2) : undefined,
      cpuAllRatioToBulkApply: bulk && bulk.cpuSecondsAll! > 0 ? +((opCpu + apiCpu[0]! + apiCpu[1]! + controlPlaneCpu[0]! + controlPlaneCpu[1]!) / bulk.cpuSecondsAll!).toFixed(2) : undefined,
    };
    results.push(r);
    console.log(JSON.stringify(r));
  }
} finally {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await cluster.stop();
}

// Memory in bytes (tables: MB = 10^6 bytes); load averages per size in each row.
const run = {
  bench: "operator",
  date: new Date().toISOString(),
  machine: { cpu: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`, memBytes: totalmem(), kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(), node: process.version, kubernetes: cluster.state?.version ?? "" },
  config: { sizes: sizes.map((s) => s.label), workers: Number(values.workers), operatorSource: values.source, operatorNodeFlags: NODE_FLAGS },
  rows: results,
};
mkdirSync(dirname(resultsFile), { recursive: true });
writeFileSync(resultsFile, JSON.stringify(run, null, 2) + "\n");
console.log(`\nresults: ${resultsFile}`);
if (process.env.BENCH_DOCS === "1") {
  console.log("BENCH_DOCS=1: hack/bench-docs.ts does not render scale runs yet; copy the results file to docs/benchmarks/results/scale/ and update docs/benchmarks.md by hand");
}
console.log("\n| size (N×ports×replicas) | cold start → all Ready | bulk apply | ratio | API writes / FtpServer (bulk) | peak RSS, MB (10⁶ B) | no-op resync writes | CPU s to Ready: operator / apiserver / etcd (bulk: apiserver) | load avg |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of results as Record<string, number & Record<string, number>>[]) {
  const b = r.bulkApply as Record<string, number> | undefined;
  console.log(`| ${r.ftpServers}×${r.passivePorts}×${r.replicas} | ${r.coldStartToAllReadySeconds} s${r.allReady ? "" : ` (only ${r.ready} Ready)`} | ${b ? `${b.seconds} s` : "-"} | ${r.ratioToBulkApply ?? "-"} | ${r.apiWritesPerFtpServer}${b ? ` (${(b.writes! / r.ftpServers!).toFixed(2)})` : ""} | ${(r.peakRssBytes! / 1e6).toFixed(1)} | ${r.noopResyncWrites} | ${r.operatorCpuSecondsToReady} / ${r.apiserverCpuSecondsToReady} / ${r.etcdCpuSecondsToReady}${b ? ` (${b.apiserverCpuSeconds})` : ""} | ${(r.loadAverageBefore as unknown as number[])[0]} |`);
}

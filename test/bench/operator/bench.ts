// make bench-operator: N FtpServers (default 100 and 1,000) on the local control plane
// (etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, no kubelet).
//
// Per size, in a fresh namespace:
//   1. create N FtpServers (the operator is not running yet);
//   2. start the operator as a child process (cold start) and time until every FtpServer is Ready
//      with observedGeneration = generation (counted by a watch in this process — the moment the
//      last one turns Ready — and confirmed by a LIST at the end);
//   3. read the operator's API writes (its /metrics), peak RSS (VmHWM of the operator process,
//      sampled from /proc every 250 ms and at the end), CPU seconds of the operator and of
//      kube-apiserver/etcd during the cold start (/proc/<pid>/stat);
//   4. restart the operator (cold caches, full resync of converged objects) and count its writes:
//      the no-op resync must write nothing.
//
// Results: out/bench/operator-results.json (memory in bytes; the table says MB = 10^6 bytes);
// BENCH_DOCS=1 also records it in docs/benchmarks/results/ and regenerates docs/benchmarks.md.
//
// "Ready" here = the operator's --workload-readiness=applied: every child (Service, EndpointSlices,
// ConfigMap, StatefulSet) applied for the current generation, the Service's ports and the slot
// EndpointSlices consistent with the passive range, the external address resolved (ClusterIP
// Services: the cluster IP). Pod readiness is not part of it: no kubelet runs pods here.
//
// usage: node test/bench/operator/bench.ts [--sizes 100,1000] [--replicas 2] [--ports 10] [--workers 16]
//          [--node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"]   (node flags for the operator process, after
//          the ones of operator/Dockerfile's ENTRYPOINT, which the bench always uses)
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeObject } from "../../../operator/src/runtime/types.ts";
import { Informer } from "../../../operator/src/runtime/informer.ts";
import { startTestCluster } from "../../cluster/harness.ts";
import { cacheReport } from "./cache-size.ts";
import { eventually, within } from "../../support/eventually.ts";
import { renderOperatorResults, type OperatorResults, type OperatorRow } from "./results.ts";
import { recordResult } from "../../../hack/bench-docs.ts";
import { FtpServers, condition, ensureNamespace, ftpServerObject, installCrd, newClient } from "../../integration/operator-helpers.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100,1000" },
    replicas: { type: "string", default: "2" },
    ports: { type: "string", default: "10" },
    workers: { type: "string", default: "16" },
    "timeout-seconds": { type: "string", default: "300" },
    "node-args": { type: "string", default: "" },
    /** write a heap snapshot of the cold-start operator (after it settled) into this directory */
    "heap-snapshot-dir": { type: "string", default: "" },
    /** after the cold start, print what each informer cache holds (run the bench with node --expose-gc) */
    "cache-report": { type: "boolean", default: false },
  },
});
const sizes = values.sizes.split(",").map(Number);
const replicas = Number(values.replicas);
const ports = Number(values.ports);
const MAIN = fileURLToPath(new URL("../../../operator/src/main.ts", import.meta.url));

/** The node flags the operator image runs with (its ENTRYPOINT), so the bench measures the same process. */
function imageNodeFlags(): string[] {
  const df = readFileSync(new URL("../../../operator/Dockerfile", import.meta.url), "utf8");
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(df);
  const argv = m ? (JSON.parse(m[1]!) as string[]) : [];
  return argv.slice(1).filter((a) => a.startsWith("--"));
}
const NODE_FLAGS = [...imageNodeFlags(), ...values["node-args"].split(" ").filter(Boolean)];
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

async function metrics(port: number): Promise<{ writes: Record<string, number>; reconciles: number; depth: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const writes: Record<string, number> = {};
  let reconciles = 0;
  let depth = 0;
  for (const line of text.split("\n")) {
    let m = /^pasv_operator_api_writes_total\{([^}]*)\} (\S+)/.exec(line);
    if (m) {
      const res = /resource="([^"]+)"/.exec(m[1]!)?.[1] ?? "?";
      writes[res] = (writes[res] ?? 0) + Number(m[2]);
      continue;
    }
    m = /^controller_runtime_reconcile_total\{[^}]*\} (\S+)/.exec(line);
    if (m) reconciles += Number(m[1]);
    m = /^workqueue_depth\{[^}]*\} (\S+)/.exec(line);
    if (m) depth += Number(m[1]);
  }
  return { writes, reconciles, depth };
}

const sum = (w: Record<string, number>, exclude: string[] = []) =>
  Object.entries(w).filter(([k]) => !exclude.includes(k)).reduce((a, [, v]) => a + v, 0);

// 1,000 ClusterIP Services do not fit the harness default /24 service range.
const cluster = await startTestCluster({ serviceClusterIpRange: "10.96.0.0/16" });
const client = newClient(cluster.kubeConfig);
const children: ChildProcess[] = [];
let healthPort = 18380;

function startOperator(ns: string, tag: string): { proc: ChildProcess; port: number } {
  const port = healthPort++;
  const log = createWriteStream(join(cluster.dir, `bench-operator-${tag}.log`));
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

/** Polls /metrics until `done` says so, within the bench's --timeout-seconds. */
async function metricsUntil(port: number, what: string, done: (m: Awaited<ReturnType<typeof metrics>>, prev: Awaited<ReturnType<typeof metrics>> | null) => boolean, everyMs: number) {
  let prev: Awaited<ReturnType<typeof metrics>> | null = null;
  return eventually(what, async () => {
    const m = await metrics(port);
    const ok = done(m, prev);
    prev = m;
    return ok ? m : null;
  }, Number(values["timeout-seconds"]) * 1000, everyMs);
}

const results: OperatorRow[] = [];
const loadNow = (): string => loadavg().map((x) => x.toFixed(2)).join(" ");
const loadBefore = loadNow();
try {
  await installCrd(client);
  for (const n of sizes) {
    const ns = `bench-${n}`;
    await ensureNamespace(client, ns);
    // 1. create N FtpServers, 32 requests in flight
    const tc = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < n) {
          const i = next++;
          await client.create(
            FtpServers,
            ftpServerObject(`ftp-${i}`, ns, {
              replicas,
              passive: { basePort: 30000 + (i % 3000) * ports, numberOfPorts: ports, expectedConcurrentConnections: Math.max(1, Math.floor(ports / 5)) },
              users: { secretName: "users" },
              service: { type: "ClusterIP" },
            }),
          );
        }
      }),
    );
    const createMs = Date.now() - tc;

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
    const watcher = new Informer<KubeObject>(client, FtpServers, { namespace: ns });
    const onObj = (f: KubeObject) => {
      const k = f.metadata!.name!;
      if (isReady(f)) {
        if (!readySet.has(k)) lastReadyAt = Date.now();
        readySet.add(k);
      } else readySet.delete(k);
    };
    watcher.addHandler({ onAdd: onObj, onUpdate: (_o, f) => onObj(f), onDelete: (f) => readySet.delete(f.metadata!.name!) });
    watcher.start();
    await watcher.waitForSync();
    const apiPids = ["kube-apiserver", "etcd"].map((k) => cluster.state?.pids[k]);
    const apiCpu0 = apiPids.map(cpuSeconds);

    // 2. cold start
    const t0 = Date.now();
    const op = startOperator(ns, `${n}-cold`);
    let peakRss = 0;
    const deadline = t0 + Number(values["timeout-seconds"]) * 1000;
    while (readySet.size < n && Date.now() < deadline && op.proc.exitCode === null) {
      peakRss = Math.max(peakRss, vm(op.proc.pid!, "VmHWM"));
      await sleep(250);
    }
    const readyMs = (readySet.size === n ? lastReadyAt : Date.now()) - t0;
    const opCpu = cpuSeconds(op.proc.pid);
    const apiCpu = apiPids.map((p, i) => cpuSeconds(p) - apiCpu0[i]!);
    await watcher.stop();
    const ready = await readyCount();
    // let the trailing events settle, then read the counters
    await waitMetrics(op.port);
    const m = await metricsUntil(op.port, "the cold-start operator settles (reconcile count steady for 1 s, queue empty)",
      (cur, prev) => prev !== null && cur.reconciles === prev.reconciles && cur.depth === 0, 1000);
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
    const op2 = startOperator(ns, `${n}-resync`);
    await waitMetrics(op2.port);
    let m2 = await metricsUntil(op2.port, `the resync operator reconciles all ${n} FtpServers`, (cur) => cur.reconciles >= n && cur.depth === 0, 200);
    const resyncMs = Date.now() - t1;
    await sleep(1000);
    m2 = await waitMetrics(op2.port);
    const rss2 = vm(op2.proc.pid!, "VmHWM");
    await stopOperator(op2.proc);

    const r: OperatorRow = {
      ftpServers: n,
      replicas,
      passivePorts: ports,
      createSeconds: createMs / 1000,
      allReady: ready === n,
      ready,
      coldStartToAllReadySeconds: readyMs / 1000,
      operatorCpuSecondsToReady: +opCpu.toFixed(1),
      apiserverCpuSecondsToReady: +apiCpu[0]!.toFixed(1),
      etcdCpuSecondsToReady: +apiCpu[1]!.toFixed(1),
      apiWrites: sum(writes),
      apiWritesPerFtpServer: +(sum(writes, ["events"]) / n).toFixed(2),
      writesByResource: writes,
      peakRssBytes: peakRss,
      rssAfterBytes: rssAfter,
      noopResyncSeconds: resyncMs / 1000,
      noopResyncWrites: sum(m2.writes, ["leases"]),
      noopResyncPeakRssBytes: rss2,
    };
    results.push(r);
    console.log(JSON.stringify(r));
  }
} finally {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await cluster.stop();
}

const out: OperatorResults = {
  bench: "operator",
  date: new Date().toISOString(),
  machine: { cpu: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`, memBytes: totalmem(), kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(), node: process.version, loadBefore, loadAfter: loadNow() },
  config: { sizes, replicas, ports, workers: Number(values.workers), operatorNodeFlags: NODE_FLAGS },
  rows: results,
};
const outDir = fileURLToPath(new URL("../../../out/bench/", import.meta.url));
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "operator-results.json"), JSON.stringify(out, null, 2) + "\n");
console.log("\n" + renderOperatorResults(out));
// BENCH_DOCS=1: the raw file goes to docs/benchmarks/results/ and docs/benchmarks.md is regenerated from it.
if (process.env.BENCH_DOCS === "1") console.log(`recorded ${recordResult("operator", out)}; docs/benchmarks.md regenerated`);

// The operator benchmark's result file and its Markdown table, as a pure function of the file.
// bench.ts writes the file; hack/bench-docs.ts renders the committed ones
// (docs/benchmarks/results/operator-*.json) into docs/benchmarks.md. Units: MB = 10^6 bytes.

export interface OperatorRow {
  ftpServers: number;
  replicas: number;
  passivePorts: number;
  createSeconds: number;
  allReady: boolean;
  ready: number;
  coldStartToAllReadySeconds: number;
  operatorCpuSecondsToReady: number;
  apiserverCpuSecondsToReady: number;
  etcdCpuSecondsToReady: number;
  apiWrites: number;
  apiWritesPerFtpServer: number;
  writesByResource: Record<string, number>;
  /** VmHWM of the operator process through the cold start and the settling after it, bytes. */
  peakRssBytes: number;
  rssAfterBytes: number;
  noopResyncSeconds: number;
  /** Writes of a fresh operator over converged objects (leases excluded). */
  noopResyncWrites: number;
  noopResyncPeakRssBytes: number;
}

export interface OperatorResults {
  bench: "operator";
  date: string;
  machine: Record<string, string | number>;
  config: { sizes: number[]; replicas: number; ports: number; workers: number; operatorNodeFlags: string[] };
  rows: OperatorRow[];
}

const mb = (bytes: number): string => `${Math.round(bytes / 1e6)} MB`;
const int = (x: number): string => x.toLocaleString("en-US");

export function renderOperatorResults(r: OperatorResults): string {
  const lines: string[] = [];
  lines.push(`Run ${r.date}; ${r.machine.cpu}, Linux ${r.machine.kernel}, Node ${r.machine.node}; load average before ${r.machine.loadBefore}, after ${r.machine.loadAfter}; ` +
    `${r.config.replicas} replicas, ${r.config.ports} passive ports, ${r.config.workers} workers, operator node flags \`${r.config.operatorNodeFlags.join(" ") || "(none)"}\`.`);
  lines.push("");
  lines.push("| FtpServers | cold start → all Ready | API writes / FtpServer (total) | operator peak RSS | no-op resync: writes | no-op resync: time, peak RSS | CPU s to Ready: operator / apiserver / etcd |");
  lines.push("|---:|---:|---:|---:|---:|---:|---:|");
  for (const x of r.rows) {
    lines.push(`| ${int(x.ftpServers)} | ${x.coldStartToAllReadySeconds.toFixed(1)} s${x.allReady ? "" : ` (only ${x.ready} Ready)`} | ${x.apiWritesPerFtpServer.toFixed(2)} (${int(x.apiWrites)}) | ` +
      `${mb(x.peakRssBytes)} | ${x.noopResyncWrites} | ${x.noopResyncSeconds.toFixed(1)} s, ${mb(x.noopResyncPeakRssBytes)} | ` +
      `${x.operatorCpuSecondsToReady.toFixed(1)} / ${x.apiserverCpuSecondsToReady.toFixed(1)} / ${x.etcdCpuSecondsToReady.toFixed(1)} |`);
  }
  // The bars, judged on this run's figures.
  const at1000 = r.rows.find((x) => x.ftpServers === 1000);
  const met = (ok: boolean): string => (ok ? "met" : "**not met**");
  lines.push("");
  if (at1000) lines.push(`- 1,000 FtpServers Ready in < 60 s: ${met(at1000.allReady && at1000.coldStartToAllReadySeconds < 60)} (${at1000.coldStartToAllReadySeconds.toFixed(1)} s).`);
  lines.push(`- 0 writes on a no-op resync: ${met(r.rows.every((x) => x.noopResyncWrites === 0))} (${r.rows.map((x) => `${int(x.ftpServers)}: ${x.noopResyncWrites}`).join(", ")}).`);
  lines.push(`- Operator RSS < 200 MB: ${r.rows.map((x) => `${int(x.ftpServers)}: cold start ${mb(x.peakRssBytes)} (${met(x.peakRssBytes < 200e6)}), no-op resync ${mb(x.noopResyncPeakRssBytes)} (${met(x.noopResyncPeakRssBytes < 200e6)})`).join("; ")}.`);
  return lines.join("\n") + "\n";
}

/** A row of a scale run (`--sizes NxP[xR]`, `max`): the operator beside the bulk apply of the same children. */
export interface ScaleRow {
  size: string;
  ftpServers: number;
  passivePorts: number;
  replicas: number;
  coldStartToAllReadySeconds: number;
  operatorCpuSecondsToReady: number;
  apiserverCpuSecondsToReady: number;
  apiWritesPerFtpServer: number;
  ratioToBulkApply: number;
  apiserverCpuRatioToBulkApply: number;
  bulkApply: { seconds: number; writes: number; apiserverCpuSeconds: number; cpuSecondsAll?: number };
  noopResyncWrites: number;
  noopResyncSeconds: number;
  loadAverageBefore: number[];
  /** operator + apiserver + etcd + controller-manager + scheduler CPU s to all Ready (files from the `-rounds` run on) */
  cpuSecondsAllToReady?: number;
  cpuAllRatioToBulkApply?: number;
  /** bytes; files written before the unit change carry MB (10^6) in the *MBdecimal fields instead */
  peakRssBytes?: number;
  noopResyncPeakRssBytes?: number;
  peakRssMBdecimal?: number;
  noopResyncPeakRssMBdecimal?: number;
}

export interface ScaleResults {
  date: string;
  rows?: ScaleRow[];
  /** the name of `rows` in files written before the result-shape change */
  results?: ScaleRow[];
}

/** What a file's name says about the code it measured (`-before-ssa-fix`, `-ssa-fix`, `-profile`, `-compact`). */
export function scaleCodeLabel(file: string): string {
  if (file.includes("-shortcut")) return "compact, new StatefulSet in the children's round, fewer reconciles, validation without zod, fingerprint once per version, deflated views, nothing built for pod events without news";
  if (file.includes("-rounds-nozod")) return "compact, new StatefulSet in the children's round, fewer reconciles, validation without zod";
  if (file.includes("-rounds")) return "compact, new StatefulSet in the children's round, fewer reconciles";
  if (file.includes("-nozod")) return "compact caches, validation without zod";
  if (file.includes("-compact")) return "compact caches, heap growth 1.25×, fewer rounds";
  if (file.includes("-before-ssa-fix")) return "before";
  if (file.includes("-ssa-fix")) return "ssa fix";
  if (file.includes("-profile")) return "both fixes, `--cache-report`, heap snapshot";
  return "both fixes";
}

export function renderScaleResults(files: { file: string; data: ScaleResults }[]): string {
  const order = (x: ScaleRow): number => (x.size === "max" ? 2 : x.ftpServers >= 1000 ? 0 : 1);
  const rows = files
    .flatMap(({ file, data }) => (data.rows ?? data.results ?? []).map((x) => ({ x, file, date: data.date })))
    .sort((a, b) => order(a.x) - order(b.x) || b.date.localeCompare(a.date));
  const rss = (bytes: number | undefined, mbDecimal: number | undefined): string => (bytes !== undefined ? mb(bytes) : `${Math.round(mbDecimal ?? 0)} MB`);
  const lines = [
    "| size (N × ports × replicas) | code | cold start → all Ready | bulk apply | **ratio** | API-server CPU s (bulk) | all-process CPU s (bulk) | writes / FtpServer (bulk) | operator CPU s | peak RSS | no-op resync: writes, time, RSS | load avg 1 min | file |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const { x, file } of rows) {
    const name = file.split("/").at(-1) ?? file;
    lines.push(`| ${int(x.ftpServers)} × ${int(x.passivePorts)} × ${x.replicas} | ${scaleCodeLabel(file)} | ${x.coldStartToAllReadySeconds.toFixed(1)} s | ` +
      `${x.bulkApply.seconds.toFixed(1)} s | **${x.ratioToBulkApply.toFixed(2)}** | ${x.apiserverCpuSecondsToReady.toFixed(1)} (${x.bulkApply.apiserverCpuSeconds.toFixed(1)}): ${x.apiserverCpuRatioToBulkApply.toFixed(2)}× | ` +
      `${x.cpuSecondsAllToReady !== undefined && x.bulkApply.cpuSecondsAll !== undefined && x.cpuAllRatioToBulkApply !== undefined ? `${x.cpuSecondsAllToReady.toFixed(1)} (${x.bulkApply.cpuSecondsAll.toFixed(1)}): ${x.cpuAllRatioToBulkApply.toFixed(2)}×` : "–"} | ` +
      `${x.apiWritesPerFtpServer.toFixed(2)} (${(x.bulkApply.writes / x.ftpServers).toFixed(0)}) | ${x.operatorCpuSecondsToReady.toFixed(1)} | ${rss(x.peakRssBytes, x.peakRssMBdecimal)} | ` +
      `${x.noopResyncWrites}, ${x.noopResyncSeconds.toFixed(1)} s, ${rss(x.noopResyncPeakRssBytes, x.noopResyncPeakRssMBdecimal)} | ${x.loadAverageBefore[0] ?? "?"} | ${name} |`);
  }
  return lines.join("\n") + "\n";
}

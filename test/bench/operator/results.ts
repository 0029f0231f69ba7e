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

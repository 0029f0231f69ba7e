// The server benchmark's `s3` phase in the result file, and its Markdown table (a pure function of
// the file; hack/bench-docs.ts renders it into docs/benchmarks.md). Units: MB = 10^6 bytes,
// GiB = 2^30 bytes (CPU per GiB moved).

/** ours-s3: our server on S3 (SeaweedFS); ours-local / vsftpd-local: the same run, local disk. */
export type S3Target = "ours-s3" | "ours-local" | "vsftpd-local";
export const S3_TARGETS: S3Target[] = ["ours-s3", "ours-local", "vsftpd-local"];

export interface S3TargetResult {
  /** MB/s of the data phase, one per round. */
  retr: number[];
  stor: number[];
  /** The FTP server's CPU seconds (user + system, all its processes) per transfer. */
  retrCpu: number[];
  storCpu: number[];
  /** ours-s3 only: SeaweedFS's CPU seconds per transfer (the object store's share; local disk's is the kernel's, not counted). */
  storeRetrCpu?: number[];
  storeStorCpu?: number[];
  /** Peak growth of the server's RSS during a STOR over its RSS before it, 10^6 bytes, one per round. */
  storRssGrowthMB?: number[];
}

export interface S3PhaseResult {
  /** Transfer size in MiB (the throughput phase's BENCH_BIG_MB). */
  bigMiB: number;
  rounds: number;
  /** e.g. "SeaweedFS 4.53 (weed server -s3) on 127.0.0.1, same machine". */
  store: string;
  partSizeMiB: number;
  partBuffers: number;
  targets: Partial<Record<S3Target, S3TargetResult>>;
  notes: string[];
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const median = (xs: number[] | undefined): number => pct(xs ?? [], 50);
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "–");
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "–");

const LABEL: Record<S3Target, string> = {
  "ours-s3": "ours, S3 (SeaweedFS)",
  "ours-local": "ours, local disk",
  "vsftpd-local": "vsftpd, local disk",
};

/** `date`, `machine` as in the server result file. */
export function renderS3Results(r: { date: string; machine: Record<string, string | number>; s3?: S3PhaseResult }): string {
  const s = r.s3;
  if (!s) return "";
  const gib = (s.bigMiB * 2 ** 20) / 2 ** 30;
  const mb = Math.round((s.bigMiB * 2 ** 20) / 1e6);
  const t = (n: S3Target): S3TargetResult | undefined => s.targets[n];
  const runs = (xs: number[] | undefined): string => `${f1(median(xs))} (${(xs ?? []).map(f1).join(", ")})`;
  const perGiB = (xs: number[] | undefined): string => f2(median(xs) / gib);
  const lines = [
    `Run ${r.date}; ${r.machine.cpu}, Linux ${r.machine.kernel}, Node ${r.machine.node}, ${r.machine.vsftpd}; load average before ${r.machine.loadBefore}, after ${r.machine.loadAfter}. ` +
      `${mb} MB (${s.bigMiB} MiB) RETR and STOR with curl (PASV, data phase only), ${s.rounds} rounds, the three servers interleaved; ${s.store}; ` +
      `parts of ${s.partSizeMiB} MiB × ${s.partBuffers} buffers. vsftpd has no S3 backend: the comparison on S3 is ours on S3 vs ours on local disk, with vsftpd on local disk as the peer of the same run.`,
    "",
    "| server, storage | RETR MB/s, median (runs) | STOR MB/s, median (runs) | server CPU s per GiB, RETR / STOR | object store CPU s per GiB, RETR / STOR | server RSS growth during STOR, MB (max) |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const n of S3_TARGETS) {
    const x = t(n);
    if (!x) {
      lines.push(`| ${LABEL[n]} | not measured | | | | |`);
      continue;
    }
    const store = x.storeRetrCpu ? `${perGiB(x.storeRetrCpu)} / ${perGiB(x.storeStorCpu)}` : "– (kernel)";
    const rss = x.storRssGrowthMB ? f1(Math.max(...x.storRssGrowthMB)) : "–";
    lines.push(`| ${LABEL[n]} | ${runs(x.retr)} | ${runs(x.stor)} | ${perGiB(x.retrCpu)} / ${perGiB(x.storCpu)} | ${store} | ${rss} |`);
  }
  const ratio = (a: S3Target, b: S3Target, k: "retr" | "stor"): string => {
    const x = median(t(a)?.[k]);
    const y = median(t(b)?.[k]);
    return Number.isFinite(x) && Number.isFinite(y) && y > 0 ? `${f2(x / y)}×` : "–";
  };
  lines.push(`| ours on S3 ÷ ours on local disk | ${ratio("ours-s3", "ours-local", "retr")} | ${ratio("ours-s3", "ours-local", "stor")} | | | |`);
  lines.push(`| ours on S3 ÷ vsftpd on local disk | ${ratio("ours-s3", "vsftpd-local", "retr")} | ${ratio("ours-s3", "vsftpd-local", "stor")} | | | |`);
  for (const n of s.notes) lines.push("", `- ${n}`);
  return lines.join("\n") + "\n";
}

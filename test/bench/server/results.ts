// The server benchmark's result file and its Markdown table, as a pure function of the file.
// bench.ts writes the file; hack/bench-docs.ts renders the committed ones
// (docs/benchmarks/results/server-*.json) into docs/benchmarks.md, so every figure on that page
// comes from a file in the repository. Units: MB = 10^6 bytes (MB/s = 10^6 bytes/s).

import type { S3PhaseResult } from "./s3-results.ts";

export type Name = "ours" | "vsftpd";

export interface Throughput {
  /** MB/s (10^6 bytes/s) of the data phase, one per round. */
  retr: number[];
  stor: number[];
  /** Server CPU seconds (user + system, all of its processes) per transfer, login included. */
  retrCpu: number[];
  storCpu: number[];
  /**
   * Server CPU seconds of a login alone (curl -I: USER/PASS, TYPE, SIZE, MDTM, QUIT; no data
   * connection), one per round: what each transfer's figure includes besides moving the data
   * (ours: an scrypt check; vsftpd: anonymous). Absent in older files.
   */
  loginCpu?: number[];
  /** Bytes of the test file in the page cache (fincore) just before each RETR; all of it in every round = equal for both. */
  retrCachedBytes?: number[];
  /** The untimed first round (JIT, buffer pool, TCP autotuning warm): MB/s and CPU s, not in the medians. */
  warmup?: { retr: number; stor: number; retrCpu: number; storCpu: number };
}

/** The size of the transfer file in bytes. */
export function bigFileBytes(r: Pick<ServerResults, "config">): number {
  return r.config.BIG_MB * 2 ** 20;
}

/**
 * Server CPU seconds per GiB (2^30 bytes) of one direction, the median over the rounds, with the
 * median login CPU taken off each transfer when the file has it (so a slow login does not count
 * as data-path cost).
 */
export function cpuPerGiB(r: Pick<ServerResults, "config">, t: Throughput | undefined, k: "retrCpu" | "storCpu"): number {
  if (!t) return NaN;
  const login = t.loginCpu && t.loginCpu.length > 0 ? median(t.loginCpu) : 0;
  return median(t[k].map((c) => c - login)) / (bigFileBytes(r) / 2 ** 30);
}

export interface SessionsResult {
  sessions: number;
  loggedIn: number;
  failures: number;
  failureReasons: Record<string, number>;
  loginP50: number;
  loginP99: number;
  pasvP50: number;
  pasvP99: number;
  pasvMax: number;
  wallSeconds: number;
  /** 10^6 bytes. */
  peakRssMB: number;
  peakPssMB: number;
  peakProcs: number;
  /** Host-wide TcpExt ListenOverflows during the run (accept queue full). */
  listenOverflows: number;
  /** Seconds waited before the round until no server had session processes left (bounded; a round). */
  quietWaitSeconds?: number;
  /** Load average when the round started (a round). */
  loadBefore?: string;
  /**
   * BENCH_SESSIONS_REPEAT rounds, the servers interleaved (ABBA…): each round's own figures. The
   * fields above are then the medians over the rounds, except failures and listenOverflows (sums),
   * loggedIn (the fewest) and pasvMax (the largest). Absent in older files (one round).
   */
  rounds?: SessionsResult[];
  /** The untimed warm-up round before them (BENCH_SESSIONS_WARMUP=1): recorded apart, not in the medians. */
  warmup?: SessionsResult;
}

/** The figures of several rounds of the sessions phase as one (see SessionsResult.rounds). */
export function combineSessionRounds(rounds: SessionsResult[]): SessionsResult {
  const m = (f: (x: SessionsResult) => number): number => median(rounds.map(f));
  const reasons: Record<string, number> = {};
  for (const r of rounds) for (const [k, c] of Object.entries(r.failureReasons)) reasons[k] = (reasons[k] ?? 0) + c;
  return {
    sessions: rounds[0]?.sessions ?? 0,
    loggedIn: Math.min(...rounds.map((r) => r.loggedIn)),
    failures: rounds.reduce((a, r) => a + r.failures, 0),
    failureReasons: reasons,
    loginP50: m((x) => x.loginP50),
    loginP99: m((x) => x.loginP99),
    pasvP50: m((x) => x.pasvP50),
    pasvP99: m((x) => x.pasvP99),
    pasvMax: Math.max(...rounds.map((r) => r.pasvMax)),
    wallSeconds: m((x) => x.wallSeconds),
    peakRssMB: m((x) => x.peakRssMB),
    peakPssMB: m((x) => x.peakPssMB),
    peakProcs: m((x) => x.peakProcs),
    listenOverflows: rounds.reduce((a, r) => a + r.listenOverflows, 0),
    rounds,
  };
}

export interface PoolLevel {
  level: number;
  wantHeld: number;
  held: number;
  holderFailures: number;
  probes: number;
  probeFailures: number;
  p50: number;
  p99: number;
}

export interface SmallRound {
  upSeconds: number;
  downSeconds: number;
  /** Files missing or not byte-identical on the server after mirror -R. */
  upFailures: number;
  /** Files missing or not byte-identical locally after mirroring back. */
  downFailures: number;
  /** lftp's exit codes (up, down) and the tail of its stderr when non-zero. */
  lftpExit: [number, number];
  lftpErrors: string[];
}

export interface SmallFilesResult {
  files: number;
  bytes: number;
  ports: number;
  rounds: SmallRound[];
  medianUpSeconds: number;
  medianDownSeconds: number;
  medianTotalSeconds: number;
  failures: number;
}

export interface ServerResults {
  bench?: "server";
  servers: Name[];
  /** The BENCH_PHASES that ran (files from before phases existed ran throughput, sessions and pool). */
  phases?: string[];
  date: string;
  machine: Record<string, string | number>;
  /** BIG_MB is the transfer file's size in MiB (2^20 bytes), as BENCH_BIG_MB sets it. */
  config: { BIG_MB: number; REPEAT: number; SESSIONS: number; SESSIONS_REPEAT?: number; SESSIONS_WARMUP?: number; POOL: number; PROBES: number; SMALL_FILES?: number; SMALL_REPEAT?: number; SMALL_PORTS?: number };
  notes: string[];
  throughput: Record<string, Throughput>;
  sessions: Record<string, SessionsResult>;
  pools: Record<string, PoolLevel[]>;
  smallfiles?: Record<string, SmallFilesResult>;
  /** The s3 phase (s3.ts, s3-results.ts). */
  s3?: S3PhaseResult;
}

/** Whether the file holds the phases of the main table (throughput, sessions or pool) / the small-files table. */
export function hasMainPhases(r: ServerResults): boolean {
  return Object.keys(r.throughput).length + Object.keys(r.sessions).length + Object.keys(r.pools).length > 0;
}
export function hasSmallFiles(r: ServerResults): boolean {
  return Object.keys(r.smallfiles ?? {}).length > 0;
}

export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
export const median = (xs: number[]): number => pct(xs, 50);
export const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "–");
export const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "–");
const int = (x: number): string => x.toLocaleString("en-US");

/** The transfer file's size in MB (10^6 bytes): BENCH_BIG_MB counts MiB. */
export function bigFileMB(r: Pick<ServerResults, "config">): number {
  return (r.config.BIG_MB * 2 ** 20) / 1e6;
}

/** Total memory of the machine in GB (10^9 bytes); older files only have GiB (`memGB`). */
function memory(m: Record<string, string | number>): string {
  if (typeof m.memBytes === "number") return `${(m.memBytes / 1e9).toFixed(1)} GB RAM`;
  return `${((Number(m.memGB) * 2 ** 30) / 1e9).toFixed(1)} GB RAM`;
}

export function renderServerResults(r: ServerResults): string {
  const names = r.servers;
  const { SESSIONS, POOL } = r.config;
  const big = `${int(Math.round(bigFileMB(r)))} MB`;
  const has = (n: Name): boolean => names.includes(n);
  const ratio = (a: number | undefined, b: number | undefined): string =>
    a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? f2(a / b) : "–";
  const tpm = (n: Name, k: "retr" | "stor"): number | undefined => (has(n) ? median(r.throughput[n]?.[k] ?? []) : undefined);
  const col = (n: Name, f: (n: Name) => string): string => (has(n) ? f(n) : "not measured");
  const lines: string[] = [];
  lines.push(`Run ${r.date}; ${r.machine.cpu}, ${memory(r.machine)}, Linux ${r.machine.kernel}, Node ${r.machine.node}, ${r.machine.vsftpd}; load average before ${r.machine.loadBefore}, after ${r.machine.loadAfter}.`);
  for (const n of r.notes) lines.push(`\n**${n}**`);
  lines.push("");
  lines.push("| figure | ours | vsftpd | ours / vsftpd |");
  lines.push("|---|---:|---:|---:|");
  const tpRow = (label: string, k: "retr" | "stor"): void => {
    const runs = (n: Name): string => `${f1(tpm(n, k) ?? NaN)} (${(r.throughput[n]?.[k] ?? []).map(f1).join(", ")})`;
    lines.push(`| ${label}, MB/s, median (runs) | ${col("ours", runs)} | ${col("vsftpd", runs)} | ${ratio(tpm("ours", k), tpm("vsftpd", k))} |`);
  };
  tpRow(`RETR ${big}`, "retr");
  tpRow(`STOR ${big}`, "stor");
  const cpuRow = (label: string, k: "retrCpu" | "storCpu"): void => {
    const v = (n: Name): string => f2(median(r.throughput[n]?.[k] ?? []));
    const m = (n: Name): number | undefined => (has(n) ? median(r.throughput[n]?.[k] ?? []) : undefined);
    lines.push(`| ${label}, server CPU s (user+sys), median | ${col("ours", v)} | ${col("vsftpd", v)} | ${ratio(m("ours"), m("vsftpd"))} |`);
  };
  cpuRow(`RETR ${big}`, "retrCpu");
  cpuRow(`STOR ${big}`, "storCpu");
  const s = (n: Name): SessionsResult | undefined => r.sessions[n];
  // Several rounds: the median, then each round's figure in the order they ran.
  const sRow = (label: string, f: (x: SessionsResult) => number, fmt: (x: number) => string, showRatio = true): void => {
    const v = (n: Name): string => {
      const x = s(n);
      if (!x) return "–";
      return x.rounds && x.rounds.length > 1 ? `${fmt(f(x))} (${x.rounds.map((y) => fmt(f(y))).join(", ")})` : fmt(f(x));
    };
    const so = s("ours");
    const sv = s("vsftpd");
    lines.push(`| ${label} | ${col("ours", v)} | ${col("vsftpd", v)} | ${showRatio ? ratio(so ? f(so) : undefined, sv ? f(sv) : undefined) : ""} |`);
  };
  const n0 = int(SESSIONS);
  const roundCount = (n: Name): number => s(n)?.rounds?.length ?? 1;
  const many = names.some((n) => roundCount(n) > 1);
  const fails = (n: Name): string => {
    const x = s(n);
    if (!x) return "–";
    if (roundCount(n) === 1) return `${x.failures} (${x.loggedIn}/${n0} logged in)`;
    return `${x.failures} in ${roundCount(n)} rounds (${x.rounds!.map((y) => y.failures).join(", ")}; at least ${x.loggedIn}/${n0} logged in)`;
  };
  lines.push(`| ${n0} sessions: failures${many ? ", all rounds" : ""} | ${col("ours", fails)} | ${col("vsftpd", fails)} | |`);
  const med = many ? ", median (rounds)" : "";
  sRow(`${n0} sessions: PASV p50, ms${med}`, (x) => x.pasvP50, f1);
  sRow(`${n0} sessions: PASV p99, ms${med}`, (x) => x.pasvP99, f1);
  const ro = s("ours")?.rounds;
  const rv = s("vsftpd")?.rounds;
  if (ro && rv && ro.length > 1 && ro.length === rv.length) {
    // Round i of ours beside round i of vsftpd: they ran next to each other (ABBA…).
    const per = ro.map((x, i) => f2(x.pasvP99 / (rv[i]?.pasvP99 ?? NaN)));
    const atMost = ro.filter((x, i) => x.pasvP99 <= (rv[i]?.pasvP99 ?? NaN)).length;
    lines.push(`| ${n0} sessions: PASV p99 ours ÷ vsftpd, round by round | ${per.join(", ")} | | ≤ 1 in ${atMost} of ${ro.length} |`);
  }
  sRow(`${n0} sessions: login p99, ms${med}`, (x) => x.loginP99, f1);
  sRow(`${n0} sessions: wall time, s${med}`, (x) => x.wallSeconds, f1);
  sRow(`${n0} sessions: peak RSS (sum over processes), MB${med}`, (x) => x.peakRssMB, f1);
  sRow(`${n0} sessions: peak PSS (sum over processes), MB${med}`, (x) => x.peakPssMB, f1);
  sRow(`${n0} sessions: peak process count${med}`, (x) => x.peakProcs, (x) => String(x), false);
  sRow(`${n0} sessions: accept-queue overflows (TcpExt ListenOverflows)${many ? ", all rounds" : ""}`, (x) => x.listenOverflows, (x) => String(x), false);
  const p = (n: Name, lvl: number): PoolLevel | undefined => r.pools[n]?.find((x) => x.level === lvl);
  for (const lvl of [0.1, 0.99]) {
    const v = (n: Name): string => {
      const x = p(n, lvl);
      return x ? `${f2(x.p50)} / ${f2(x.p99)}` : "–";
    };
    lines.push(`| PASV p50 / p99 at ${lvl * 100} % of ${POOL} ports, ms | ${col("ours", v)} | ${col("vsftpd", v)} | ${ratio(p("ours", lvl)?.p99, p("vsftpd", lvl)?.p99)} |`);
  }
  const fl = (n: Name): string => {
    const x = p(n, 0.99);
    if (!x) return "–";
    return `${x.held}/${x.wantHeld} held (${x.holderFailures} holder failures), ${x.probeFailures}/${x.probes} probe failures`;
  };
  lines.push(`| at 99 %: listeners held, PASV failures | ${col("ours", fl)} | ${col("vsftpd", fl)} | |`);
  const growth = (n: Name): string => f2((p(n, 0.99)?.p99 ?? NaN) / (p(n, 0.1)?.p99 ?? NaN)) + "×";
  lines.push(`| PASV p99 at 99 % ÷ p99 at 10 % (bar: ≤ 2× for ours) | ${col("ours", growth)} | ${col("vsftpd", growth)} | |`);
  const reasons = names
    .filter((n) => (s(n)?.failures ?? 0) > 0)
    .map((n) => `- ${n} failures at ${n0} sessions: ${Object.entries(s(n)?.failureReasons ?? {}).map(([k, c]) => `${c}× ${k}`).join("; ")}`);
  if (reasons.length > 0) lines.push("", ...reasons);
  return lines.join("\n") + "\n";
}

/** The throughput phase alone: MB/s per round, CPU per GiB both ways, login CPU, page cache, warm-up round. */
export function renderThroughput(r: ServerResults): string {
  const names = r.servers;
  const has = (n: Name): boolean => names.includes(n) && r.throughput[n] !== undefined;
  const t = (n: Name): Throughput | undefined => r.throughput[n];
  const col = (n: Name, f: (x: Throughput) => string): string => {
    const x = t(n);
    return has(n) && x ? f(x) : "not measured";
  };
  const ratio = (f: (x: Throughput) => number): string => {
    const a = t("ours");
    const b = t("vsftpd");
    return a && b && Number.isFinite(f(a)) && Number.isFinite(f(b)) && f(b) !== 0 ? f2(f(a) / f(b)) : "–";
  };
  const big = `${int(Math.round(bigFileMB(r)))} MB`;
  const runs = (x: Throughput, k: "retr" | "stor"): string => `${f1(median(x[k]))} (${x[k].map(f1).join(", ")})`;
  const gib = (k: "retrCpu" | "storCpu") => (x: Throughput): number => cpuPerGiB(r, x, k);
  const login = (x: Throughput): number => (x.loginCpu?.length ? median(x.loginCpu) : NaN);
  const cached = (x: Throughput): string => {
    const c = x.retrCachedBytes ?? [];
    if (c.length === 0) return "not recorded";
    const full = c.filter((b) => b >= bigFileBytes(r)).length;
    return `${full}/${c.length} rounds fully cached (min ${f1((100 * Math.min(...c)) / bigFileBytes(r))} %)`;
  };
  const warm = (x: Throughput): string => (x.warmup ? `RETR ${f1(x.warmup.retr)}, STOR ${f1(x.warmup.stor)} MB/s; CPU ${f2(x.warmup.retrCpu)} / ${f2(x.warmup.storCpu)} s` : "–");
  const lbl = t("ours")?.loginCpu || t("vsftpd")?.loginCpu ? "login subtracted" : "login included";
  const warmed = t("ours")?.warmup || t("vsftpd")?.warmup ? " after one untimed warm-up round each" : "";
  const took = r.machine.throughputSeconds ? `; the phase took ${f1(Number(r.machine.throughputSeconds))} s` : "";
  const lines = [
    `Run ${r.date}; ${r.machine.cpu}, Linux ${r.machine.kernel}, Node ${r.machine.node}, ${r.machine.vsftpd}; load average before ${r.machine.loadBefore}, after ${r.machine.loadAfter}` +
      `${took}. ${big} file, ${r.config.REPEAT} rounds interleaved (ABBA…)${warmed}.`,
    "",
    "| throughput | ours | vsftpd | ours / vsftpd |",
    "|---|---:|---:|---:|",
    `| RETR ${big}, MB/s, median (runs) | ${col("ours", (x) => runs(x, "retr"))} | ${col("vsftpd", (x) => runs(x, "retr"))} | ${ratio((x) => median(x.retr))} |`,
    `| STOR ${big}, MB/s, median (runs) | ${col("ours", (x) => runs(x, "stor"))} | ${col("vsftpd", (x) => runs(x, "stor"))} | ${ratio((x) => median(x.stor))} |`,
    `| RETR server CPU s per GiB, median (${lbl}) | ${col("ours", (x) => f2(gib("retrCpu")(x)))} | ${col("vsftpd", (x) => f2(gib("retrCpu")(x)))} | ${ratio(gib("retrCpu"))} |`,
    `| STOR server CPU s per GiB, median (${lbl}) | ${col("ours", (x) => f2(gib("storCpu")(x)))} | ${col("vsftpd", (x) => f2(gib("storCpu")(x)))} | ${ratio(gib("storCpu"))} |`,
    `| login alone, server CPU s, median | ${col("ours", (x) => f2(login(x)))} | ${col("vsftpd", (x) => f2(login(x)))} | |`,
    `| test file in the page cache before RETR | ${col("ours", cached)} | ${col("vsftpd", cached)} | |`,
    `| warm-up round (not in the medians) | ${col("ours", warm)} | ${col("vsftpd", warm)} | |`,
  ];
  return lines.join("\n") + "\n";
}

export function renderSmallFiles(r: ServerResults): string {
  const has = (n: Name): boolean => r.servers.includes(n);
  const x = (n: Name): SmallFilesResult | undefined => r.smallfiles?.[n];
  const col = (n: Name, f: (v: SmallFilesResult) => string): string => {
    const v = x(n);
    return has(n) && v ? f(v) : "not measured";
  };
  const ratio = (f: (v: SmallFilesResult) => number): string => {
    const a = x("ours");
    const b = x("vsftpd");
    return a && b && f(b) > 0 ? f2(f(a) / f(b)) : "–";
  };
  const any = x("ours") ?? x("vsftpd");
  const n0 = int(r.config.SMALL_FILES ?? any?.files ?? 0);
  const ports = r.config.SMALL_PORTS ?? any?.ports ?? 0;
  const bytes = int(any?.bytes ?? 0);
  const lftp = r.machine.lftp ?? "lftp (version not recorded)";
  const runs = (v: SmallFilesResult, k: "upSeconds" | "downSeconds"): string => v.rounds.map((q) => f2(q[k])).join(", ");
  const lines = [
    `Run ${r.date}; ${r.machine.cpu}, Linux ${r.machine.kernel}, Node ${r.machine.node}, ${r.machine.vsftpd}, ${lftp}; load average before ${r.machine.loadBefore}, after ${r.machine.loadAfter}. ${n0} files (${bytes} bytes in all), ${ports}-port passive range, each server at its default pool settings, ${r.config.SMALL_REPEAT ?? any?.rounds.length ?? "?"} rounds interleaved.`,
    "",
    `| small files: lftp mirror, ${n0} files, ${ports} ports | ours | vsftpd | ours / vsftpd |`,
    "|---|---:|---:|---:|",
    `| failures (files missing or different, all rounds, up + down) | ${col("ours", (v) => String(v.failures))} | ${col("vsftpd", (v) => String(v.failures))} | |`,
    `| up (mirror -R), s, median (runs) | ${col("ours", (v) => `${f2(v.medianUpSeconds)} (${runs(v, "upSeconds")})`)} | ${col("vsftpd", (v) => `${f2(v.medianUpSeconds)} (${runs(v, "upSeconds")})`)} | ${ratio((v) => v.medianUpSeconds)} |`,
    `| down (mirror), s, median (runs) | ${col("ours", (v) => `${f2(v.medianDownSeconds)} (${runs(v, "downSeconds")})`)} | ${col("vsftpd", (v) => `${f2(v.medianDownSeconds)} (${runs(v, "downSeconds")})`)} | ${ratio((v) => v.medianDownSeconds)} |`,
    `| up + down, s, median (goal for ours / vsftpd: ≤ 2×) | ${col("ours", (v) => f2(v.medianTotalSeconds))} | ${col("vsftpd", (v) => f2(v.medianTotalSeconds))} | ${ratio((v) => v.medianTotalSeconds)} |`,
  ];
  for (const n of r.servers) {
    const errs = (x(n)?.rounds ?? []).flatMap((q) => q.lftpErrors);
    if (errs.length) lines.push("", `- ${n}: lftp errors: ${errs.slice(0, 3).join("; ")}`);
  }
  return lines.join("\n") + "\n";
}

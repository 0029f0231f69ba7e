// hack/bench-docs.ts: the benchmark page's tables come from result files, in MB (10^6 bytes).
// The files here are synthetic, written to a temp dir: they test the rendering, not the machine.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { blocks, render } from "../../../hack/bench-docs.ts";
import type { OperatorResults } from "../../bench/operator/results.ts";
import type { ServerResults } from "../../bench/server/results.ts";

const machine = { cpu: "2 × test", kernel: "6.0", node: "v24", loadBefore: "1 1 1", loadAfter: "1 1 1", memBytes: 24e9, vsftpd: "vsftpd 3" };

function operatorRun(date: string, peakRssBytes: number): OperatorResults {
  return {
    bench: "operator", date, machine,
    config: { sizes: [1000], replicas: 2, ports: 10, workers: 16, operatorNodeFlags: ["--max-semi-space-size=4"] },
    rows: [{
      ftpServers: 1000, replicas: 2, passivePorts: 10, createSeconds: 5, allReady: true, ready: 1000, coldStartToAllReadySeconds: 13.94,
      operatorCpuSecondsToReady: 4.5, apiserverCpuSecondsToReady: 16.8, etcdCpuSecondsToReady: 2.7, apiWrites: 7001, apiWritesPerFtpServer: 7,
      writesByResource: {}, peakRssBytes, rssAfterBytes: peakRssBytes, noopResyncSeconds: 1.4, noopResyncWrites: 0, noopResyncPeakRssBytes: 196 * 2 ** 20,
    }],
  };
}

function serverRun(date: string, retr: number[]): ServerResults {
  const tp = { retr, stor: [2000, 2100, 2200], retrCpu: [0.3], storCpu: [0.34] };
  return {
    bench: "server", servers: ["ours", "vsftpd"], date, machine, notes: [],
    config: { BIG_MB: 1024, REPEAT: 3, SESSIONS: 1000, POOL: 200, PROBES: 1000 },
    throughput: { ours: tp, vsftpd: { ...tp, retr: [1000, 1000, 1000], stor: [1000, 1000, 1000] } },
    sessions: {}, pools: {},
  };
}

test("tables come from the latest file, memory in MB (10^6 bytes), bars judged in MB", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-docs-"));
  try {
    writeFileSync(join(dir, "operator-a.json"), JSON.stringify(operatorRun("2026-01-01T00:00:00Z", 150e6)));
    writeFileSync(join(dir, "operator-b.json"), JSON.stringify(operatorRun("2026-02-01T00:00:00Z", 256 * 2 ** 20)));
    writeFileSync(join(dir, "server-a.json"), JSON.stringify(serverRun("2026-01-01T00:00:00Z", [3000, 3300, 3600])));
    writeFileSync(join(dir, "server-b.json"), JSON.stringify(serverRun("2026-02-01T00:00:00Z", [900, 1000, 1100])));
    const b = blocks(dir);
    const op = b["bench-operator:results"]!;
    assert.match(op, /Run 2026-02-01/, "the latest run");
    assert.match(op, /\| 1,000 \| 13\.9 s \| 7\.00 \(7,001\) \| 268 MB \|/, "256 MiB is 268 MB");
    // 196 MiB = 206 MB: over the 200 MB bar, whatever the old page said.
    assert.match(op, /no-op resync 206 MB \(\*\*not met\*\*\)/);
    assert.match(b["bench-server:results"]!, /RETR 1,074 MB, MB\/s, median/, "the 1 GiB file in MB");
    const runs = b["bench-server:runs"]!;
    assert.match(runs, /3300\.0 vs 1000\.0 \(3\.30×\)/, "run a's median");
    assert.match(runs, /1000\.0 vs 1000\.0 \(1\.00×\)/, "run b's median");
    assert.match(runs, /all 6 rounds \| \| 1100\.0 vs 1000\.0/, "the median over every round of every run");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("no file: the block says so and how to make one; a page without the markers is an error", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-docs-"));
  try {
    const b = blocks(dir);
    assert.match(b["bench-operator:results"]!, /No committed operator run yet.*BENCH_DOCS=1 make bench-operator/);
    const page = "x\n<!-- bench-operator:results:begin -->\nold\n<!-- bench-operator:results:end -->\n";
    assert.match(render(page, { "bench-operator:results": "new\n" }), /begin -->\nnew\n<!-- bench-operator/);
    assert.throws(() => render("no markers", { "bench-operator:results": "x" }), /has no <!-- bench-operator:results:begin -->/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("scale runs: every file in scale/ is a row, bytes or (older files) decimal MB, the code named by the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-docs-"));
  try {
    mkdirSync(join(dir, "scale"));
    const row = {
      size: "1000x100", ftpServers: 1000, passivePorts: 100, replicas: 3, coldStartToAllReadySeconds: 98.36, operatorCpuSecondsToReady: 12.9,
      apiserverCpuSecondsToReady: 56.8, apiWritesPerFtpServer: 8, ratioToBulkApply: 2.64, apiserverCpuRatioToBulkApply: 1.37,
      bulkApply: { seconds: 37.28, writes: 7000, apiserverCpuSeconds: 41.4 }, noopResyncWrites: 0, noopResyncSeconds: 2.97, loadAverageBefore: [7.74, 1, 1],
    };
    writeFileSync(join(dir, "scale", "operator-1000x100-x.json"), JSON.stringify({ date: "2026-02-01T00:00:00Z", rows: [{ ...row, peakRssBytes: 396e6, noopResyncPeakRssBytes: 368e6 }] }));
    writeFileSync(join(dir, "scale", "operator-max-x-before-ssa-fix.json"), JSON.stringify({
      date: "2026-01-01T00:00:00Z",
      results: [{ ...row, size: "max", ftpServers: 1, passivePorts: 10000, ratioToBulkApply: 52.44, peakRssMBdecimal: 210.2, noopResyncPeakRssMBdecimal: 155 }],
    }));
    const scale = blocks(dir)["bench-operator:scale"]!;
    assert.match(scale, /\| 1,000 × 100 × 3 \| both fixes \| 98\.4 s \| 37\.3 s \| \*\*2\.64\*\* \|.*\| 396 MB \| 0, 3\.0 s, 368 MB \| 7\.74 \| operator-1000x100-x\.json \|/);
    assert.match(scale, /\| 1 × 10,000 × 3 \| before \|.*\*\*52\.44\*\*.*\| 210 MB \|/);
    assert.ok(scale.indexOf("1,000 × 100") < scale.indexOf("1 × 10,000"), "the largest fleet first, the maximum last");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("throughput block: CPU per GiB both ways with the login taken off; a throughput-only run leaves the sessions table alone", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-docs-"));
  try {
    const withSessions = serverRun("2026-01-01T00:00:00Z", [3000, 3300, 3600]);
    withSessions.sessions = {
      ours: { sessions: 1000, loggedIn: 1000, failures: 0, failureReasons: {}, loginP50: 1, loginP99: 2, pasvP50: 3, pasvP99: 4, pasvMax: 5, wallSeconds: 6, peakRssMB: 7, peakPssMB: 8, peakProcs: 1, listenOverflows: 0 },
    };
    const tpOnly = serverRun("2026-02-01T00:00:00Z", [900, 1000, 1100]);
    tpOnly.phases = ["throughput"];
    // 2 GiB file: 0.9 s RETR with 0.1 s of login -> 0.40 s per GiB; STOR 2.1 s - 0.1 -> 1.00.
    tpOnly.config.BIG_MB = 2048;
    tpOnly.throughput.ours = { ...tpOnly.throughput.ours!, retrCpu: [0.9, 0.8, 1.0], storCpu: [2.1, 2.0, 2.2], loginCpu: [0.1, 0.1, 0.1], retrCachedBytes: [2 ** 31, 2 ** 31, 2 ** 30] };
    tpOnly.throughput.vsftpd = { ...tpOnly.throughput.vsftpd!, retrCpu: [0.2, 0.2, 0.2], storCpu: [2, 2, 2], loginCpu: [0, 0, 0] };
    tpOnly.throughput.ours.warmup = { retr: 500, stor: 400, retrCpu: 1.5, storCpu: 3 };
    writeFileSync(join(dir, "server-a.json"), JSON.stringify(withSessions));
    writeFileSync(join(dir, "server-b.json"), JSON.stringify(tpOnly));
    const b = blocks(dir);
    assert.match(b["bench-server:results"]!, /Run 2026-01-01/, "the sessions table stays on the run that measured sessions");
    const tp = b["bench-server:throughput"]!;
    assert.match(tp, /Run 2026-02-01/);
    assert.match(tp, /\| RETR server CPU s per GiB, median \(login subtracted\) \| 0\.40 \| 0\.10 \| 4\.00 \|/);
    assert.match(tp, /\| STOR server CPU s per GiB, median \(login subtracted\) \| 1\.00 \| 1\.00 \| 1\.00 \|/);
    assert.match(tp, /\| test file in the page cache before RETR \| 2\/3 rounds fully cached \(min 50\.0 %\) \| not recorded \|/);
    assert.match(tp, /warm-up round \(not in the medians\) \| RETR 500\.0, STOR 400\.0 MB\/s/);
    assert.match(b["bench-server:runs"]!, /0\.40 \/ 1\.00 vs 0\.10 \/ 1\.00/, "the runs table: CPU per GiB, RETR / STOR");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

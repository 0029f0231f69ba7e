// The bench-server s3 phase's table (test/bench/server/s3-results.ts) and its docs block
// (hack/bench-docs.ts): synthetic result files in a temp dir, testing the rendering, not the machine.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { blocks } from "../../../hack/bench-docs.ts";
import type { ServerResults } from "../../bench/server/results.ts";
import type { S3PhaseResult } from "../../bench/server/s3-results.ts";

const machine = { cpu: "2 × test", kernel: "6.0", node: "v24", loadBefore: "1 1 1", loadAfter: "2 2 2", memBytes: 24e9, vsftpd: "vsftpd 3" };

function s3Run(date: string, oursS3Retr: number[]): ServerResults {
  const local = { retr: [800, 1000, 900], stor: [200, 400, 300], retrCpu: [0.5, 0.5, 0.5], storCpu: [2, 2, 2] };
  const s3: S3PhaseResult = {
    bigMiB: 512, rounds: 3, store: "SeaweedFS 4.53 on 127.0.0.1", partSizeMiB: 8, partBuffers: 2, notes: ["same cores"],
    targets: {
      "ours-s3": { retr: oursS3Retr, stor: [50, 60, 40], retrCpu: [1, 1.5, 2], storCpu: [1, 1, 1], storeRetrCpu: [0.5, 0.5, 0.5], storeStorCpu: [6, 6, 6], storRssGrowthMB: [1, 7.5, 2] },
      "ours-local": { ...local, storRssGrowthMB: [0, 1, 0] },
      "vsftpd-local": { retr: [1800, 2000, 1900], stor: [1000, 1000, 1000], retrCpu: [0.1, 0.1, 0.1], storCpu: [0.5, 0.5, 0.5] },
    },
  };
  return {
    bench: "server", servers: ["ours", "vsftpd"], phases: ["s3"], date, machine, notes: [],
    config: { BIG_MB: 512, REPEAT: 5, SESSIONS: 1000, POOL: 200, PROBES: 1000 },
    throughput: {}, sessions: {}, pools: {}, s3,
  };
}

test("s3 block: the latest file with an s3 phase; medians, CPU per GiB, ratios to ours and vsftpd on local disk; an s3-only run feeds no other block", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-s3-"));
  try {
    writeFileSync(join(dir, "server-a.json"), JSON.stringify(s3Run("2026-01-01T00:00:00Z", [10, 10, 10])));
    writeFileSync(join(dir, "server-b.json"), JSON.stringify(s3Run("2026-02-01T00:00:00Z", [300, 200, 100])));
    const b = blocks(dir);
    const s3 = b["bench-server:s3"]!;
    assert.match(s3, /Run 2026-02-01/, "the latest run");
    assert.match(s3, /537 MB \(512 MiB\)/, "the size in MB and MiB");
    assert.match(s3, /vsftpd has no S3 backend/);
    // 512 MiB = 0.5 GiB: CPU medians 1.5 s and 1 s -> 3.00 and 2.00 s per GiB; SeaweedFS 0.5 / 6 -> 1.00 / 12.00.
    assert.match(s3, /\| ours, S3 \(SeaweedFS\) \| 200\.0 \(300\.0, 200\.0, 100\.0\) \| 50\.0 \(50\.0, 60\.0, 40\.0\) \| 3\.00 \/ 2\.00 \| 1\.00 \/ 12\.00 \| 7\.5 \|/);
    assert.match(s3, /\| ours, local disk \| 900\.0 .* \| 300\.0 .* \| 1\.00 \/ 4\.00 \| – \(kernel\) \| 1\.0 \|/);
    assert.match(s3, /\| ours on S3 ÷ ours on local disk \| 0\.22× \| 0\.17× \|/);
    assert.match(s3, /\| ours on S3 ÷ vsftpd on local disk \| 0\.11× \| 0\.05× \|/);
    assert.match(b["bench-server:results"]!, /No committed server run/, "no throughput/sessions/pool phase in these files");
    assert.match(b["bench-server:runs"]!, /No committed server run/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("s3 block without a file holding the phase says how to make one", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-s3-"));
  try {
    assert.match(blocks(dir)["bench-server:s3"]!, /No committed server run with s3 yet.*BENCH_DOCS=1 make bench-server/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

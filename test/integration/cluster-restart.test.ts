// A start that fails or is interrupted must not break the next one (`make demo` run again after
// Ctrl-C, or after a deadline expired). Control plane only: the same code paths as the full node.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { apiGet, loadState, startCluster, stopCluster } from "../cluster/cluster.ts";
import { eventually } from "../support/eventually.ts";
import { ownClusterOnly } from "../cluster/harness.ts";

const cli = join(import.meta.dirname, "..", "cluster", "cli.ts");
const dirs: string[] = [];
function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), "pasv-restart-"));
  dirs.push(d);
  return d;
}

function runCli(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 180_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Processes whose command line names the directory (a cluster's processes all do). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(dir) && !cmd.includes(cli)) pids.push(Number(p));
    } catch {
      /* exited */
    }
  }
  return pids;
}

after(async () => {
  for (const d of dirs) {
    const s = loadState(d);
    if (s) await stopCluster(s);
    rmSync(d, { recursive: true, force: true });
  }
});

describe("cluster restarts", { skip: ownClusterOnly("it starts, interrupts and restarts clusters itself") }, () => {
  test("a failed start keeps its logs, drops its data, and the next start in the same directory works", async () => {
    const dir = newDir();
    // A deadline no apiserver can meet: the start fails after etcd has written its data.
    await assert.rejects(startCluster({ dir, controllerManager: false, scheduler: false, timeoutSeconds: 0.2 }), /timed out/);
    assert.ok(existsSync(join(dir, "logs", "kube-apiserver.log")), "logs kept for diagnosis");
    assert.ok(!existsSync(join(dir, "etcd")), "etcd data removed");
    assert.ok(!existsSync(join(dir, "state.json")), "no state left that claims a cluster");
    assert.deepEqual(processesUsing(dir), [], "no process of the failed start left running");

    const state = await startCluster({ dir, controllerManager: false, scheduler: false });
    assert.equal((await apiGet(state, "/readyz")).status, 200);
    assert.equal(state.ready, true);
    await stopCluster(state);

    // `down` on a directory a failed start left behind removes it.
    await assert.rejects(startCluster({ dir, controllerManager: false, scheduler: false, timeoutSeconds: 0.2 }), /timed out/);
    const down = runCli(["down", "--dir", dir]);
    assert.equal(down.status, 0, down.out);
    assert.match(down.out, /removed what a failed start left/);
    assert.ok(!existsSync(dir));
  });

  test("`up` replaces a half-started cluster (no ready mark) with a fresh one and reuses a healthy one", async () => {
    const dir = newDir();
    const first = runCli(["up", "--dir", dir, "--no-scheduler"]);
    assert.equal(first.status, 0, first.out);
    const started = loadState(dir);
    assert.ok(started?.ready, "a finished start is marked ready");

    const again = runCli(["up", "--dir", dir, "--no-scheduler"]);
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /already running/);
    assert.equal(loadState(dir)?.ports.apiserver, started.ports.apiserver, "healthy cluster reused");

    // As if `up` had been killed (SIGKILL) after its processes started, before it finished.
    writeFileSync(join(dir, "state.json"), JSON.stringify({ ...started, ready: undefined }));
    const replaced = runCli(["up", "--dir", dir, "--no-scheduler"]);
    assert.equal(replaced.status, 0, replaced.out);
    assert.match(replaced.out, /stopping the half-started cluster/);
    const fresh = loadState(dir);
    assert.ok(fresh?.ready);
    assert.notEqual(fresh.pids["kube-apiserver"], started.pids["kube-apiserver"], "a new apiserver");
    assert.equal((await apiGet(fresh, "/readyz")).status, 200);

    const down = runCli(["down", "--dir", dir]);
    assert.equal(down.status, 0, down.out);
    assert.deepEqual(processesUsing(dir), []);
  });

  test("Ctrl-C during `up` stops what was started", async () => {
    const dir = newDir();
    const child = spawn(process.execPath, [cli, "up", "--dir", dir, "--no-scheduler"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
    // Interrupt once the apiserver process exists, i.e. mid-start.
    await eventually("apiserver started", () => (loadState(dir)?.pids["kube-apiserver"] ?? 0) > 0, 60_000, 20);
    child.kill("SIGINT");
    const code = await Promise.race([exited, new Promise<"hung">((res) => setTimeout(() => res("hung"), 60_000))]);
    assert.equal(code, 130, `exit code (output: ${out})`);
    assert.match(out, /SIGINT: stopping the cluster/);
    assert.equal(loadState(dir), null, "state removed");
    assert.deepEqual(processesUsing(dir), [], "no process left");
  });
});

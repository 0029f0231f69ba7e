// Our server's own CPU per PASV when many sessions send PASV at once (issue 13, item 4): the
// sessions phase of bench.ts without data connections, so the server's work per PASV can be read
// apart from the client's (which dials a data connection per reply) and from RETR.
//
//   node test/bench/server/pasv-cpu.ts        (under `flock /tmp/pasv-cpu.lock`, with `ulimit -n 20000`)
//
// PASV_CPU_SESSIONS (1000) sessions log in; then PASV_CPU_ROUNDS (10) rounds in which every
// session sends PASV at once (each replaces the session's previous channel, as a client's next
// transfer does). Prints the server's main-thread user and system CPU per PASV (/proc task stat,
// 10 ms ticks: over 10,000 PASVs ±1 µs), the whole process's CPU per PASV per round (cpuacct:
// includes the JIT and GC threads) and the burst's wall time. PASV_CPU_PERF=<file> also records
// `perf record -g` of the server over the rounds; PASV_CPU_NODE_FLAGS (e.g. --perf-basic-prof)
// go to the server's node. PASV_CPU_IDLE_S=<s> then leaves the server idle that long (the sessions
// stay logged in, as in bench.ts while the other server runs its rounds) and runs PASV_CPU_ROUNDS_AFTER
// (3) more rounds, printed apart: what a cooled-down process pays. 127.0.0.1 only; control port
// 2131, passive ports 12000-13999.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Control } from "./ftp.ts";
import { HOST, startOurs } from "./servers.ts";

const N = Number(process.env.PASV_CPU_SESSIONS ?? 1000);
const ROUNDS = Number(process.env.PASV_CPU_ROUNDS ?? 10);
const IDLE_S = Number(process.env.PASV_CPU_IDLE_S ?? 0);
const ROUNDS_AFTER = Number(process.env.PASV_CPU_ROUNDS_AFTER ?? 3);
const cache = process.env.PASV_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/tmp", ".cache"), "pasv-operator");

/** User and system CPU seconds of the process's main thread. */
function mainThreadCpu(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, "latin1");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(f[11]) / 100, Number(f[12]) / 100];
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const s = await startOurs({
  port: 2131,
  pasvStart: 12000,
  pasvEnd: 12000 + 2 * N - 1,
  quarantineSeconds: 60,
  acceptTimeoutSeconds: 60,
  work: join(cache, "bench-server"),
  tag: "pasv-cpu",
  nodeFlags: (process.env.PASV_CPU_NODE_FLAGS ?? "").split(" ").filter(Boolean),
});
try {
  const ctls: Control[] = [];
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i) }, async () => {
        const { ctl } = await Control.open(HOST, s.port, 60_000);
        await ctl.login(s.user, s.pass);
        ctls.push(ctl);
      }),
    );
  }
  // Let the pre-opened listeners finish opening and the logins' scrypt runs end.
  await new Promise((r) => setTimeout(r, 1500));
  const pid = s.proc.pid!;
  const perfFile = process.env.PASV_CPU_PERF;
  const perf = perfFile ? spawn("perf", ["record", "-F", "4999", "-g", "-p", String(pid), "-o", perfFile], { stdio: "ignore" }) : null;
  if (perf) await new Promise((r) => setTimeout(r, 1000));
  const [u0, s0] = mainThreadCpu(pid);
  /** One burst: every session sends PASV at once; the process's CPU per PASV (µs) and the wall time (ms). */
  const burst = async (): Promise<[number, number]> => {
    const c0 = s.cpuSeconds();
    const t0 = performance.now();
    await Promise.all(ctls.map((c) => c.pasv()));
    const wall = performance.now() - t0;
    await new Promise((done) => setTimeout(done, 300));
    return [((s.cpuSeconds() - c0) * 1e6) / N, wall];
  };
  const perPasv: number[] = [];
  const walls: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const [cpu, wall] = await burst();
    perPasv.push(cpu);
    walls.push(wall);
  }
  const [u1, s1] = mainThreadCpu(pid);
  if (perf) {
    perf.kill("SIGINT");
    await new Promise((r) => perf.once("exit", r));
  }
  const us = (x: number): string => ((x * 1e6) / N / ROUNDS).toFixed(1);
  console.log(`${N} sessions × ${ROUNDS} rounds of PASV at once`);
  console.log(`server main thread per PASV: user ${us(u1 - u0)} µs, system ${us(s1 - s0)} µs`);
  console.log(`server process per PASV (all threads), µs: median ${median(perPasv).toFixed(1)} (${perPasv.map((x) => x.toFixed(0)).join(", ")})`);
  console.log(`burst wall time, ms: median ${median(walls).toFixed(1)} (${walls.map((x) => x.toFixed(0)).join(", ")})`);
  if (IDLE_S > 0) {
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const after: [number, number][] = [];
    for (let r = 0; r < ROUNDS_AFTER; r++) after.push(await burst());
    console.log(`after ${IDLE_S} s idle, per round: process µs per PASV ${after.map(([c]) => c.toFixed(0)).join(", ")}; burst wall ms ${after.map(([, w]) => w.toFixed(0)).join(", ")}`);
  }
  for (const c of ctls) c.close();
} finally {
  await s.stop();
}
process.exit(0);

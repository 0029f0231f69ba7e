// The `s3` phase of make bench-server: S3-backed STOR/RETR throughput beside local disk, one run.
//
// SeaweedFS (`weed server -s3`, the cached build of `make seaweedfs`, started on 127.0.0.1 on free
// ports by server-image/test/seaweedfs.ts) holds a bucket; three servers run side by side: ours with
// storage.type s3 on it, ours on local disk, vsftpd on local disk. vsftpd has no S3 backend, so
// the S3 figure is compared with ours on local disk and with vsftpd on local disk of the same run
// (never with another run: the machine is shared). Each round moves the throughput phase's file
// (BENCH_BIG_MB) down (RETR) and up (STOR) through each server with curl, interleaved, and records
// MB/s of the data phase, the server's CPU, SeaweedFS's CPU (the object store's share of the work,
// on the same cores here; on a real deployment it is remote), and the RSS growth of ours per STOR.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { DeleteObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { startWeed, weedBinary } from "../../../server-image/test/seaweedfs.ts";
import { HOST, MemorySampler, startOurs, startVsftpd, type ServerOptions, type ServerUnderTest } from "./servers.ts";
import { S3_TARGETS, type S3PhaseResult, type S3Target, type S3TargetResult } from "./s3-results.ts";

const BUCKET = "bench";
const PREFIX = "bench/";
const PART_SIZE_MIB = 8;
const PART_BUFFERS = 2;
const MB = 1e6;

export interface S3PhaseOptions {
  work: string;
  /** The throughput phase's file (<work>/files/big.bin). */
  bigPath: string;
  rounds: number;
  nodeFlags: string[];
  /** Servers started here go in this list while they run (the whole-run deadline kills them). */
  running: ServerUnderTest[];
  log: (s: string) => void;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once("error", () => done(false));
    s.listen(port, HOST, () => s.close(() => done(true)));
  });
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn("curl", ["-sS", "--fail", "--max-time", "600", "--disable-epsv", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    p.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`curl ${args.join(" ")}: exit ${code}: ${err}`))));
  });
}

function url(s: ServerUnderTest, path: string): string {
  return `ftp://${encodeURIComponent(s.user)}:${encodeURIComponent(s.pass)}@${HOST}:${s.port}/${path}`;
}

/** CPU seconds (user + system) of one process so far. */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

function rssBytes(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/statm`, "latin1").split(" ")[1]) * 4096;
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));
const sync = (): void => void execFileSync("sync");

export async function s3Phase(o: S3PhaseOptions): Promise<S3PhaseResult> {
  const size = statSync(o.bigPath).size;
  const bigMiB = size / 2 ** 20;
  const ports: Record<S3Target, ServerOptions> = {
    "ours-s3": { port: 2131, pasvStart: 30800, pasvEnd: 30819, work: o.work, nodeFlags: o.nodeFlags, tag: "s3" },
    "ours-local": { port: 2132, pasvStart: 30820, pasvEnd: 30839, work: o.work, nodeFlags: o.nodeFlags, tag: "s3local" },
    "vsftpd-local": { port: 2133, pasvStart: 30840, pasvEnd: 30859, work: o.work, tag: "s3local" },
  };
  for (const [n, p] of Object.entries(ports)) {
    for (const port of [p.port, p.pasvStart, p.pasvEnd]) if (!(await portFree(port))) throw new Error(`port ${port} (${n}, s3 phase) is in use on ${HOST}`);
  }
  for (const d of ["ours-s3", "ours-s3local", "vsftpd-s3local"]) rmSync(join(o.work, d), { recursive: true, force: true });
  // "version 30GB 4.53  linux amd64" -> "4.53"
  const version = /\d+\.\d+/.exec(execFileSync(weedBinary(), ["version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }))?.[0] ?? "?";
  // Room for the seed plus every round's uploads: deleted objects' volumes are vacuumed only later.
  const weed = await startWeed({ parentDir: o.work, volumeMax: Math.ceil(((o.rounds + 2) * size) / (256 * MB)) + 8 });
  const servers = new Map<S3Target, ServerUnderTest>();
  try {
    await weed.createBucket(BUCKET);
    const weedPid = weed.proc.pid ?? 0;
    o.log(`s3: SeaweedFS ${version} on ${weed.endpoint}, bucket ${BUCKET}`);
    servers.set("ours-s3", await startOurs({
      ...ports["ours-s3"],
      storageYaml: `storage: { type: s3, s3: { endpoint: "${weed.endpoint}", region: ${weed.region}, bucket: ${BUCKET}, prefix: ${PREFIX}, forcePathStyle: true, partSizeMiB: ${PART_SIZE_MIB}, partBuffers: ${PART_BUFFERS} } }`,
      env: weed.env,
    }));
    servers.set("ours-local", await startOurs(ports["ours-local"]));
    servers.set("vsftpd-local", await startVsftpd(ports["vsftpd-local"]));
    o.running.push(...servers.values());
    const s3 = servers.get("ours-s3")!;
    // The download file into the bucket, through our server (not measured).
    await curl(["-T", o.bigPath, url(s3, "big.bin")]);
    const seeded = await weed.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}${s3.user}/big.bin` }));
    if (seeded.ContentLength !== size) throw new Error(`s3: seeding big.bin stored ${seeded.ContentLength} bytes, want ${size}`);

    const res = {} as Record<S3Target, S3TargetResult>;
    for (const n of S3_TARGETS) res[n] = { retr: [], stor: [], retrCpu: [], storCpu: [], ...(n.startsWith("ours") ? { storRssGrowthMB: [] } : {}) };
    res["ours-s3"].storeRetrCpu = [];
    res["ours-s3"].storeStorCpu = [];
    for (let round = 0; round < o.rounds; round++) {
      const order = round % 2 === 0 ? S3_TARGETS : [...S3_TARGETS].reverse();
      for (const n of order) {
        const s = servers.get(n)!;
        const r = res[n];
        sync();
        const c0 = s.cpuSeconds();
        const w0 = procCpuSeconds(weedPid);
        const got = (await curl(["-o", "/dev/null", "-w", "%{size_download} %{time_total} %{time_pretransfer}", url(s, `${s.dir}big.bin`)])).split(" ");
        if (Number(got[0]) !== size) throw new Error(`s3 phase: ${n} RETR returned ${got[0]} bytes, want ${size}`);
        const retr = size / (Number(got[1]) - Number(got[2])) / MB;
        await settle();
        const c1 = s.cpuSeconds();
        const w1 = procCpuSeconds(weedPid);
        sync();
        const pid = s.proc.pid ?? 0;
        const rss0 = rssBytes(pid);
        const sampler = new MemorySampler(pid).start(200);
        const name = `up-${round}.bin`;
        let put: string[];
        try {
          put = (await curl(["-T", o.bigPath, "-w", "%{size_upload} %{time_total} %{time_pretransfer}", url(s, `${s.uploadDir}${name}`)])).split(" ");
        } finally {
          const peak = sampler.stop().rss;
          if (r.storRssGrowthMB) r.storRssGrowthMB.push((peak - rss0) / MB);
        }
        if (Number(put[0]) !== size) throw new Error(`s3 phase: ${n} STOR sent ${put[0]} bytes, want ${size}`);
        const stor = size / (Number(put[1]) - Number(put[2])) / MB;
        await settle();
        const c2 = s.cpuSeconds();
        const w2 = procCpuSeconds(weedPid);
        if (n === "ours-s3") {
          const key = `${PREFIX}${s.user}/${name}`;
          const head = await weed.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
          if (head.ContentLength !== size) throw new Error(`s3 phase: ${key} has ${head.ContentLength} bytes, want ${size}`);
          await weed.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
          r.storeRetrCpu?.push(w1 - w0);
          r.storeStorCpu?.push(w2 - w1);
        } else {
          const landed = join(s.uploadDisk, name);
          if (!existsSync(landed) || statSync(landed).size !== size) throw new Error(`s3 phase: ${n} STOR: ${landed} missing or short`);
          rmSync(landed, { force: true });
        }
        r.retr.push(retr);
        r.stor.push(stor);
        r.retrCpu.push(c1 - c0);
        r.storCpu.push(c2 - c1);
        const store = n === "ours-s3" ? `, SeaweedFS CPU ${(w1 - w0).toFixed(2)} / ${(w2 - w1).toFixed(2)} s` : "";
        const rss = r.storRssGrowthMB ? `, RSS +${(r.storRssGrowthMB.at(-1) ?? NaN).toFixed(1)} MB during STOR` : "";
        o.log(`s3 round ${round + 1}/${o.rounds} ${n}: RETR ${retr.toFixed(1)} MB/s (server CPU ${(c1 - c0).toFixed(2)} s), STOR ${stor.toFixed(1)} MB/s (server CPU ${(c2 - c1).toFixed(2)} s)${store}${rss}`);
      }
    }
    return {
      bigMiB,
      rounds: o.rounds,
      store: `SeaweedFS ${version} (\`weed server -filer -s3\`, one process) on 127.0.0.1 on the same machine`,
      partSizeMiB: PART_SIZE_MIB,
      partBuffers: PART_BUFFERS,
      targets: res,
      notes: [
        "SeaweedFS shares the machine's cores with the FTP server and curl; its CPU is shown apart. On a real deployment the object store is remote: STOR/RETR are bound by the network and the store, and the server's CPU per GiB is the figure that carries over.",
      ],
    };
  } finally {
    for (const s of servers.values()) await s.stop();
    o.running.splice(0, o.running.length, ...o.running.filter((s) => ![...servers.values()].includes(s)));
    await weed.stop();
  }
}

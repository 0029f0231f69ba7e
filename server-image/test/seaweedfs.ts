// A real S3 server for the object-storage tests: SeaweedFS (`weed server -s3`, built from its Go
// module by test/tools/seaweedfs/build.sh — `make seaweedfs`, a prerequisite of the targets that
// run these tests; a test never builds it) on 127.0.0.1 (or, for the e2e test, the full node's
// bridge address `ip`, which pods reach as their gateway), on free ports, with its data in a temp
// directory, one access key, and telemetry off (no traffic leaves the machine).

import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, DeleteObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createServer } from "node:net";

const BUILD = fileURLToPath(new URL("../../test/tools/seaweedfs/build.sh", import.meta.url));
/** How long `weed server` may take to answer S3 requests (master, volume, filer, gateway). */
const START_TIMEOUT_MS = 90_000;

export interface Weed {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  client: S3Client;
  proc: ChildProcess;
  /** Environment for a server process that talks to it (credentials the SDK's default chain reads). */
  env: Record<string, string>;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The weed binary `make seaweedfs` built; throws (the test fails, loudly) when it was not built. */
export function weedBinary(): string {
  try {
    return execFileSync(BUILD, { env: { ...process.env, PASV_NO_BUILD: "1" }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch (err) {
    throw new Error(`SeaweedFS is not built: run 'make seaweedfs' first (${(err as { stderr?: string }).stderr?.trim() ?? String(err)})`);
  }
}

/**
 * A port nothing listens on at `ip` right now, below the kernel's ephemeral range: weed's own
 * outgoing connections (filer and gateway to the master, during start-up) take source ports from
 * that range and once took the S3 port before its listener bound ("address already in use").
 */
async function freePortOn(ip: string, taken: Set<number>): Promise<number> {
  const ephemeralStart = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "latin1").trim().split(/\s+/)[0]) || 32768;
  // 10000-19999: also clear of the fixed ranges of make bench-server (2121-2133, 20000-30859).
  const lo = 10_000;
  const hi = Math.min(20_000, ephemeralStart);
  for (let i = 0; i < 200; i++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen({ host: ip, port }, () => s.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${lo}-${hi - 1} on ${ip} in 200 tries`);
}

export interface WeedOptions {
  /** The address every weed port binds and advertises (default 127.0.0.1). */
  ip?: string;
  /** Where weed keeps its data (default a new temp directory, removed by stop()). */
  parentDir?: string;
  /** Volumes the server may grow (of 256 MB each; default 16 = 4 GB). Deleted objects' space comes back only by a vacuum, minutes later. */
  volumeMax?: number;
}

export async function startWeed(opts: WeedOptions = {}): Promise<Weed> {
  const bin = weedBinary();
  const ip = opts.ip ?? "127.0.0.1";
  const dir = await mkdtemp(path.join(opts.parentDir ?? tmpdir(), "pasv-weed-"));
  const accessKey = "pasvtestkey";
  const secretKey = "pasv-test-secret-0123456789";
  const s3Config = path.join(dir, "s3.json");
  await writeFile(
    s3Config,
    JSON.stringify({ identities: [{ name: "pasv", credentials: [{ accessKey, secretKey }], actions: ["Admin", "Read", "Write", "List", "Tagging"] }] }),
  );
  const ports: number[] = [];
  const taken = new Set<number>();
  for (let i = 0; i < 8; i++) ports.push(await freePortOn(ip, taken));
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = ports as [number, number, number, number, number, number, number, number];
  const args = [
    "server",
    `-ip=${ip}`,
    `-ip.bind=${ip}`,
    `-dir=${dir}`,
    `-volume.max=${opts.volumeMax ?? 16}`,
    "-master.volumeSizeLimitMB=256",
    "-master.telemetry=false",
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    "-filer",
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${path.join(dir, "filer.sock")}`,
    "-s3",
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    "-s3.port.iceberg=0",
    "-s3.port.lance=0",
    `-s3.config=${s3Config}`,
  ];
  const proc = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (d: Buffer) => {
    output = (output + d.toString("utf8")).slice(-8000);
  };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const endpoint = `http://${ip}:${s3}`;
  const region = "us-east-1";
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } });
  const stop = async () => {
    client.destroy();
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = "";
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`weed exited with ${proc.exitCode}: ${output}`);
    }
    try {
      await client.send(new ListBucketsCommand({}));
      break;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`weed did not serve S3 within ${START_TIMEOUT_MS / 1000}s (last: ${last}): ${output}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    endpoint,
    accessKey,
    secretKey,
    region,
    client,
    proc,
    env: { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: region, AWS_EC2_METADATA_DISABLED: "true" },
    async createBucket(name: string) {
      // The filer may need a moment after the gateway answers before a bucket can be made.
      const until = Date.now() + 60_000;
      for (;;) {
        try {
          await client.send(new CreateBucketCommand({ Bucket: name })).catch((err: unknown) => {
            if ((err as Error).name !== "BucketAlreadyOwnedByYou" && (err as Error).name !== "BucketAlreadyExists") throw err;
          });
          // The first write makes the master grow volumes (seconds): done here, not in a test's first command.
          await client.send(new PutObjectCommand({ Bucket: name, Key: "warm-up", Body: "x" }));
          await client.send(new DeleteObjectCommand({ Bucket: name, Key: "warm-up" }));
          return;
        } catch (err) {
          if (Date.now() > until) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },
    stop,
  };
}

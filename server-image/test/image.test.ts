// The server image, run the way a pod runs it: non-root, read-only root filesystem, config and
// users mounted read-only, /data and /tmp the only writable paths, the passive range published
// 1:1 on 127.0.0.1. Real clients (basic-ftp, curl) move real files through it, checked by SHA-256.
//
// Docker comes from test/images/dockerd.sh (Debian's docker.io, started by us) and the image from
// test/images/server-image.sh (offline build); both are run here, so this file needs nothing
// else. When Docker cannot run, the test FAILS with the reason — it never skips.
//   make test-image      (or: node --test server-image/test/image.test.ts)
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Readable, Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Client, enterPassiveModeIPv4 } from "basic-ftp";
import { GenericContainer, Wait, type StartedTestContainer } from "testcontainers";
import bcrypt from "bcryptjs";
import { hashPassword } from "../src/auth/password.ts";
import { serverImage } from "../../test/images/names.ts";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
const root = resolve(import.meta.dirname, "../..");
// The published name (images.pasv.dev/ftp-server:<the chart's appVersion>) that `make image` builds.
const IMAGE = process.env.SERVER_IMAGE ?? serverImage();
const UID = 10001;
const USER = "alice";
const BCRYPT_USER = "bob";
const PASSWORD = "image-test-" + randomBytes(6).toString("hex");
const PASSIVE_PORTS = 10;
// The CLI matching Debian's daemon when present (a newer static CLI may come first in PATH).
const DOCKER = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";

/** Runs one of our image scripts; on failure, throws with its output so the reason is visible. */
function runScript(script: string, env: NodeJS.ProcessEnv = {}): void {
  const r = spawnSync(join(root, script), [], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 15 * 60_000 });
  if (r.status !== 0) {
    throw new Error(
      `${script} failed (exit ${r.status ?? r.signal}); Docker or the image build cannot run here:\n${r.stderr}${r.stdout}`,
    );
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once("error", () => done(false));
    s.listen(port, "127.0.0.1", () => s.close(() => done(true)));
  });
}

/** A block of free 127.0.0.1 ports for the passive range (published 1:1). */
async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the ephemeral range (32768+), away from the benchmarks' ranges (20000-29999).
    const start = 10000 + Math.floor(Math.random() * 900) * 10;
    let ok = true;
    for (let p = start; p < start + count && ok; p++) ok = await portFree(p);
    if (ok) return start;
  }
  throw new Error("no free block of ports on 127.0.0.1 for the passive range");
}

/** The same container settings testcontainers has no builder method for. */
class HardenedContainer extends GenericContainer {
  protected override async beforeContainerCreated(): Promise<void> {
    this.hostConfig.ReadonlyRootfs = true;
    // Publish on loopback only: no port of the test is reachable from outside the machine.
    const bindings = (this.hostConfig.PortBindings ?? {}) as Record<string, { HostIp?: string }[]>;
    for (const list of Object.values(bindings)) {
      for (const b of list) b.HostIp = "127.0.0.1";
    }
  }
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

function sink(): { stream: Writable; data: () => Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, data: () => Buffer.concat(chunks) };
}

describe("server image (docker, read-only, non-root, passive range on 127.0.0.1)", { timeout: 20 * 60_000 }, () => {
  let container: StartedTestContainer | undefined;
  let work = "";
  let dataDir = "";
  let controlPort = 0;
  let metricsPort = 0;
  let pasvStart = 0;
  const logs: string[] = [];

  before(async () => {
    runScript("test/images/dockerd.sh");
    runScript("test/images/server-image.sh", { SERVER_IMAGE: IMAGE });

    work = mkdtempSync(join(tmpdir(), "pasv-image-test-"));
    const configDir = join(work, "config");
    const usersDir = join(work, "users");
    dataDir = join(work, "data");
    for (const d of [work, configDir, usersDir]) {
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o755);
    }
    mkdirSync(join(dataDir, USER), { recursive: true });
    mkdirSync(join(dataDir, BCRYPT_USER), { recursive: true });
    // /data belongs to the image's user; as root we hand it over, otherwise open it up.
    for (const d of [dataDir, join(dataDir, USER), join(dataDir, BCRYPT_USER)]) {
      if (process.getuid?.() === 0) chownSync(d, UID, UID);
      else chmodSync(d, 0o777);
    }

    pasvStart = await freePortBlock(PASSIVE_PORTS);
    const pasvEnd = pasvStart + PASSIVE_PORTS - 1;
    writeFileSync(
      join(configDir, "config.yaml"),
      [
        "version: 1",
        "listen: { host: 0.0.0.0, controlPort: 21 }",
        "greeting: image test",
        "passive:",
        `  portStart: ${pasvStart}`,
        `  portEnd: ${pasvEnd}`,
        // Docker publishes on 127.0.0.1; the server inside sees only its bridge address.
        "  externalAddress: 127.0.0.1",
        "  quarantineSeconds: 0",
        "  acceptTimeoutSeconds: 10",
        "usersFile: /etc/pasv/users/users.json",
        "storage: { root: /data }",
        "metrics: { host: 0.0.0.0, port: 9100 }",
        "limits: { loginFailureDelayMs: 0 }",
        "drainGraceSeconds: 1",
        "",
      ].join("\n"),
      { mode: 0o644 },
    );
    writeFileSync(
      join(usersDir, "users.json"),
      JSON.stringify({
        users: [
          { name: USER, password: await hashPassword(PASSWORD), home: USER },
          // htpasswd -B's format ($2y$): checked in a worker thread, a file the image must ship as .js
          { name: BCRYPT_USER, password: bcrypt.hashSync(PASSWORD, 4).replace(/^\$2b\$/, "$2y$"), home: BCRYPT_USER },
        ],
      }, null, 2),
      { mode: 0o644 },
    );

    const ports = [];
    for (let p = pasvStart; p <= pasvEnd; p++) ports.push({ container: p, host: p });
    const probe =
      "require('net').connect(21,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))";
    try {
      container = await new HardenedContainer(IMAGE)
        .withExposedPorts(21, 9100, ...ports)
        .withBindMounts([
          { source: configDir, target: "/etc/pasv/config", mode: "ro" },
          { source: usersDir, target: "/etc/pasv/users", mode: "ro" },
          { source: dataDir, target: "/data", mode: "rw" },
        ])
        .withTmpFs({ "/tmp": "rw,noexec,nosuid,size=64m" })
        .withDroppedCapabilities("ALL")
        .withSecurityOpt("no-new-privileges")
        .withWaitStrategy(Wait.forSuccessfulCommand(`node -e "${probe}"`))
        .withStartupTimeout(60_000)
        .withLogConsumer((s) => s.on("data", (d: Buffer) => logs.push(d.toString())))
        .start();
    } catch (e) {
      throw new Error(`the server container did not come up: ${(e as Error).message}\ncontainer log:\n${logs.join("")}`);
    }
    controlPort = container.getMappedPort(21);
    metricsPort = container.getMappedPort(9100);
  });

  after(async () => {
    if (container) await container.stop({ timeout: 5_000 });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function login(): Promise<Client> {
    const client = new Client(30_000);
    await client.access({ host: "127.0.0.1", port: controlPort, user: USER, password: PASSWORD });
    return client;
  }

  it("runs as uid 10001 on a read-only root filesystem", async () => {
    assert.ok(container, "container is running");
    const id = await container.exec(["id", "-u"]);
    assert.equal(id.output.trim(), String(UID));
    const touch = await container.exec(["sh", "-c", "touch /app/x 2>&1; touch /etc/x 2>&1"]);
    assert.notEqual(touch.exitCode, 0);
    assert.match(touch.output, /Read-only file system/);
    const inspect = JSON.parse(execFileSync(DOCKER, ["inspect", container.getId()], { encoding: "utf8" })) as {
      HostConfig: { ReadonlyRootfs: boolean };
      Config: { User: string };
    }[];
    assert.equal(inspect[0]?.HostConfig.ReadonlyRootfs, true);
    assert.equal(inspect[0]?.Config.User, "10001:10001");
  });

  it("uploads and downloads a file over EPSV (basic-ftp), byte for byte", async () => {
    const payload = randomBytes(8 * 1024 * 1024 + 123);
    const client = await login();
    try {
      await client.uploadFrom(Readable.from([payload]), "upload.bin");
      const size = await client.size("upload.bin");
      assert.equal(size, payload.length);
      const got = sink();
      await client.downloadTo(got.stream, "upload.bin");
      assert.equal(sha256(got.data()), sha256(payload));
      const names = (await client.list()).map((f) => f.name);
      assert.ok(names.includes("upload.bin"), `LIST shows the upload: ${names.join(", ")}`);
    } finally {
      client.close();
    }
    // The file landed in the mounted /data under its final name, with no temp file left behind.
    const onDisk = readFileSync(join(dataDir, USER, "upload.bin"));
    assert.equal(sha256(onDisk), sha256(payload));
    assert.equal(statSync(join(dataDir, USER, "upload.bin")).uid, UID);
    assert.deepEqual(
      readdirSync(join(dataDir, USER)).filter((n) => n !== "upload.bin" && n !== "pasv.bin"),
      [],
      "no partial/temp files left in the home",
    );
  });

  it("PASV answers 127.0.0.1 and a port inside the published range; transfers work through it", async () => {
    const payload = randomBytes(3 * 1024 * 1024 + 7);
    const client = await login();
    try {
      client.prepareTransfer = enterPassiveModeIPv4; // PASV, not EPSV
      await client.uploadFrom(Readable.from([payload]), "pasv.bin");
      const got = sink();
      await client.downloadTo(got.stream, "pasv.bin");
      assert.equal(sha256(got.data()), sha256(payload));
      const res = await client.send("PASV");
      const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(res.message);
      assert.ok(m, `PASV reply has an address: ${res.message}`);
      const [a, b, c, d, p1, p2] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      assert.equal(`${a}.${b}.${c}.${d}`, "127.0.0.1");
      const port = p1 * 256 + p2;
      assert.ok(port >= pasvStart && port < pasvStart + PASSIVE_PORTS, `port ${port} inside ${pasvStart}+${PASSIVE_PORTS}`);
    } finally {
      client.close();
    }
  });

  it("runs the server compiled to JavaScript: no TypeScript under /app, a bcrypt user logs in", async () => {
    assert.ok(container, "container is running");
    const ts = await container.exec(["sh", "-c", "find /app -name '*.ts' -o -name '*.mts' -o -name '*.cts' | head -5"]);
    assert.equal(ts.output.trim(), "", "no .ts files in the image");
    const inspect = JSON.parse(execFileSync(DOCKER, ["inspect", container.getId()], { encoding: "utf8" })) as { Config: { Entrypoint: string[] } }[];
    const entrypoint = inspect[0]?.Config.Entrypoint ?? [];
    assert.equal(entrypoint[0], "node");
    assert.ok(entrypoint.includes("/app/server-image/src/main.js"), `entrypoint runs the compiled main.js: ${entrypoint.join(" ")}`);
    const r = spawnSync("curl", ["-sS", "--fail", "--disable-epsv", "--max-time", "60", "--list-only", "-u", `${BCRYPT_USER}:${PASSWORD}`, `ftp://127.0.0.1:${controlPort}/`], { encoding: "utf8" });
    assert.equal(r.status, 0, `curl as the bcrypt user: ${r.stderr}`);
  });

  it("curl (forced PASV) downloads the same bytes", () => {
    const want = sha256(readFileSync(join(dataDir, USER, "pasv.bin")));
    const r = spawnSync(
      "curl",
      ["-sS", "--fail", "--disable-epsv", "--max-time", "60", "-u", `${USER}:${PASSWORD}`, `ftp://127.0.0.1:${controlPort}/pasv.bin`],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    assert.equal(r.status, 0, `curl: ${r.stderr.toString()}`);
    assert.equal(sha256(r.stdout), want);
  });

  it("serves /metrics", async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    // Every metric docs/ftp-server.md lists, with its HELP line and its type ...
    const families: [string, "counter" | "gauge"][] = [
      ["ftp_sessions", "gauge"], ["ftp_sessions_total", "counter"], ["ftp_logins_total", "counter"],
      ["ftp_transfers_total", "counter"], ["ftp_bytes_total", "counter"], ["ftp_passive_ports", "gauge"],
      ["ftp_passive_ports_in_use", "gauge"], ["ftp_passive_ports_quarantined", "gauge"], ["ftp_passive_ports_free", "gauge"],
      ["ftp_passive_pool_exhausted_total", "counter"], ["ftp_data_connections_rejected_total", "counter"],
      ["ftp_config_reloads_total", "counter"], ["ftp_password_hash_runs_total", "counter"],
      ["ftp_transfer_buffers", "gauge"], ["ftp_transfer_buffers_waiting", "gauge"], ["ftp_upload_direct_reads_total", "counter"],
      ["ftp_download_sendfile_total", "counter"],
    ];
    for (const [name, type] of families) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"), `HELP line for ${name}`);
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"), `${name} is a ${type}`);
    }
    // ... and the counters saw the transfers the tests above made through the image.
    const sample = (series: string): number => Number(new RegExp(`^${series.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    assert.ok(sample('ftp_transfers_total{direction="upload",result="ok"}') >= 1, "uploads counted");
    assert.ok(sample('ftp_transfers_total{direction="download",result="ok"}') >= 2, "downloads counted (basic-ftp, PASV, curl)");
    assert.ok(sample('ftp_logins_total{result="success"}') >= 3, "logins counted");
    // The image ships the sendfile module and loads it: the plain downloads above used it.
    assert.ok(sample('ftp_download_sendfile_total{result="used"}') >= 2, "downloads sent with sendfile");
    assert.ok(sample('ftp_upload_direct_reads_total{result="spliced"}') >= 2, "uploads spliced into the file");
  });
});

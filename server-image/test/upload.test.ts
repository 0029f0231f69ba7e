// Uploads end to end through the real server, spliced into the file (the default, native module),
// on the direct-read path (PASV_NATIVE_IO=0) and on the ordinary path (also PASV_DIRECT_READ=0): sizes around the 1 MiB buffer boundaries with checksums,
// REST + STOR and APPE, an upload cut mid-way leaves no final file, ABOR during STOR; and a burst
// of concurrent first logins of one user all succeed with a single scrypt run.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { RawFtp, startServer, parseEpsv, metricsText, metricValue, type RunningServer } from "./helpers.ts";

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

const servers: Record<string, RunningServer> = {};
before(async () => {
  servers.spliced = await startServer();
  servers.direct = await startServer({ env: { PASV_NATIVE_IO: "0" } });
  servers.ordinary = await startServer({ env: { PASV_NATIVE_IO: "0", PASV_DIRECT_READ: "0" } });
});
after(async () => {
  for (const s of Object.values(servers)) await s.stop();
});

async function login(srv: RunningServer, user = "alice", pass = "alice-pw"): Promise<RawFtp> {
  const c = await RawFtp.connect(srv.controlPort);
  assert.equal((await c.read()).code, 220);
  await c.login(user, pass);
  return c;
}

async function stor(c: RawFtp, verb: string, data: Buffer): Promise<number> {
  const port = parseEpsv((await c.cmd("EPSV")).text);
  const up = connect({ port, host: "127.0.0.1" });
  await new Promise((r) => up.once("connect", r));
  assert.equal((await c.cmd(verb)).code, 150);
  // Uneven writes so reads do not line up with the server's buffers.
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(data.length - off, [7, 100_000, 1_234_567][i % 3]!);
    if (!up.write(data.subarray(off, off + n))) await new Promise((r) => up.once("drain", r));
    off += n;
  }
  up.end();
  return (await c.read(20000)).code;
}

for (const mode of ["spliced", "direct", "ordinary"]) {
  test(`${mode}: STOR of sizes around the buffer boundaries, byte-exact`, async () => {
    const srv = servers[mode]!;
    const c = await login(srv);
    for (const size of [0, 1, 65536, MiB - 1, MiB, MiB + 1, 4 * MiB, 5 * MiB + 3]) {
      const data = randomBytes(size);
      assert.equal(await stor(c, `STOR s${size}.bin`, data), 226, `size ${size}`);
      assert.equal(sha(await readFile(path.join(srv.root, "alice", `s${size}.bin`))), sha(data), `size ${size}`);
    }
    c.close();
    const m = await metricsText(srv.metricsPort!);
    const adopted = metricValue(m, 'ftp_upload_direct_reads_total{result="adopted"}');
    const spliced = metricValue(m, 'ftp_upload_direct_reads_total{result="spliced"}');
    if (mode === "spliced") assert.ok(spliced >= 8 && adopted === 0, `spliced: ${spliced}, adopted: ${adopted}`);
    else if (mode === "direct") assert.ok(adopted >= 8 && spliced === 0, `direct path used: ${adopted}, spliced: ${spliced}`);
    else assert.equal(adopted + spliced, 0);
  });

  test(`${mode}: REST + STOR and APPE`, async () => {
    const srv = servers[mode]!;
    const c = await login(srv);
    const base = randomBytes(3 * MiB + 5);
    const file = path.join(srv.root, "alice", "r.bin");
    await writeFile(file, base);
    const part = randomBytes(MiB + 77);
    assert.equal((await c.cmd("REST 1048570")).code, 350);
    assert.equal(await stor(c, "STOR r.bin", part), 226);
    const want = Buffer.concat([base.subarray(0, 1048570), part]); // REST+STOR truncates after the new end
    assert.equal(sha(await readFile(file)), sha(want));
    const more = randomBytes(2 * MiB + 1);
    assert.equal(await stor(c, "APPE r.bin", more), 226);
    assert.equal(sha(await readFile(file)), sha(Buffer.concat([want, more])));
    c.close();
  });

  test(`${mode}: an upload cut after several MiB leaves no file; ABOR during STOR too`, async () => {
    const srv = servers[mode]!;
    const c = await login(srv);
    const port = parseEpsv((await c.cmd("EPSV")).text);
    const up = connect({ port, host: "127.0.0.1" });
    up.on("error", () => {});
    await new Promise((r) => up.once("connect", r));
    assert.equal((await c.cmd("STOR cut.bin")).code, 150);
    await new Promise((r) => up.write(randomBytes(3 * MiB + 11), r));
    await new Promise((r) => setTimeout(r, 100));
    up.resetAndDestroy();
    assert.equal((await c.read()).code, 426);

    const port2 = parseEpsv((await c.cmd("EPSV")).text);
    const up2 = connect({ port: port2, host: "127.0.0.1" });
    up2.on("error", () => {});
    await new Promise((r) => up2.once("connect", r));
    assert.equal((await c.cmd("STOR abor.bin")).code, 150);
    await new Promise((r) => up2.write(randomBytes(2 * MiB), r));
    c.socket.write("ABOR\r\n");
    const codes = [(await c.read()).code, (await c.read()).code];
    assert.deepEqual(codes, [426, 226]);
    const names = await readdir(path.join(srv.root, "alice"));
    assert.ok(!names.includes("cut.bin") && !names.includes("abor.bin"), names.join(","));
    assert.ok(!names.some((n) => n.includes("pasv-upload")), `temp file left: ${names.join(",")}`);
    // The session goes on.
    assert.equal(await stor(c, "STOR after.bin", Buffer.from("ok")), 226);
    c.close();
  });
}

test("a burst of concurrent first logins of one user: all succeed, one scrypt run", async () => {
  const srv = servers.ordinary!; // no login yet for bob on this server
  const before = metricValue(await metricsText(srv.metricsPort!), "ftp_password_hash_runs_total");
  const clients = await Promise.all(Array.from({ length: 40 }, () => login(srv, "bob", "bob-pw")));
  const after = metricValue(await metricsText(srv.metricsPort!), "ftp_password_hash_runs_total");
  assert.equal(after - before, 1);
  for (const c of clients) c.close();
});

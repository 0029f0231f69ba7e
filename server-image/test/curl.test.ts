// curl against the server: PASV, EPSV, uploads, listings, explicit FTPS (AUTH TLS + PROT P)
// and implicit FTPS, with a self-signed certificate made by openssl.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, writeFile, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { requireTool, startServer, freePort, type RunningServer } from "./helpers.ts";
import { makeCert } from "./tls-helpers.ts";

const run = promisify(execFile);
let srv: RunningServer;
let work: string;
let certDir: string;

before(async () => {
  requireTool("curl");
  certDir = await mkdtemp(path.join(tmpdir(), "pasv-cert-"));
  const { certFile, keyFile } = makeCert(certDir);
  const implicitTlsPort = await freePort();
  srv = await startServer({
    config: (b) => ({
      ...b,
      listen: { host: "127.0.0.1", controlPort: 0, implicitTlsPort },
      tls: { mode: "both", certFile, keyFile },
    }),
  });
  work = await mkdtemp(path.join(tmpdir(), "pasv-curl-"));
});
after(async () => {
  await srv.stop();
  await rm(work, { recursive: true, force: true });
  await rm(certDir, { recursive: true, force: true });
});

async function curl(args: string[]): Promise<string> {
  const { stdout } = await run("curl", ["-sS", "--max-time", "30", ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

const url = (p: string, scheme = "ftp", port?: number) => `${scheme}://alice:alice-pw@127.0.0.1:${port ?? srv.controlPort}/${p}`;

test("curl: upload and download over EPSV (curl's default)", async () => {
  const data = randomBytes(2 * 1024 * 1024 + 3);
  const src = path.join(work, "epsv.bin");
  await writeFile(src, data);
  await curl(["-T", src, url("epsv.bin")]);
  assert.ok((await readFile(path.join(srv.root, "alice", "epsv.bin"))).equals(data));
  const out = path.join(work, "epsv.out");
  await curl(["-o", out, url("epsv.bin")]);
  assert.ok((await readFile(out)).equals(data));
});

test("curl: upload and download over PASV (--disable-epsv), listing, nested dirs", async () => {
  const data = randomBytes(100_000);
  const src = path.join(work, "pasv.bin");
  await writeFile(src, data);
  await curl(["--disable-epsv", "--ftp-create-dirs", "-T", src, url("d1/d2/pasv.bin")]);
  const out = path.join(work, "pasv.out");
  await curl(["--disable-epsv", "-o", out, url("d1/d2/pasv.bin")]);
  assert.ok((await readFile(out)).equals(data));
  const listing = await curl(["--disable-epsv", url("d1/d2/")]);
  assert.match(listing, /pasv\.bin/);
  const names = await curl(["--disable-epsv", "-l", url("d1/d2/")]);
  assert.equal(names.trim(), "pasv.bin");
});

test("curl: explicit FTPS (AUTH TLS, PROT P) upload, download, listing", async () => {
  const data = randomBytes(1024 * 1024 + 5);
  const src = path.join(work, "tls.bin");
  await writeFile(src, data);
  await curl(["--ssl-reqd", "-k", "-T", src, url("tls.bin")]);
  const out = path.join(work, "tls.out");
  await curl(["--ssl-reqd", "-k", "-o", out, url("tls.bin")]);
  assert.ok((await readFile(out)).equals(data));
  assert.match(await curl(["--ssl-reqd", "-k", url("")]), /tls\.bin/);
  // PASV over TLS too
  assert.match(await curl(["--ssl-reqd", "-k", "--disable-epsv", url("")]), /tls\.bin/);
});

test("curl: implicit FTPS (ftps://)", async () => {
  const out = path.join(work, "implicit.out");
  await curl(["-k", "-o", out, url("tls.bin", "ftps", srv.implicitTlsPort!)]);
  assert.equal((await readFile(out)).length, 1024 * 1024 + 5);
});

test("curl: a missing file is a 550, not a crash", async () => {
  await assert.rejects(curl(["-o", path.join(work, "x"), url("nope.bin")]), /does not exist|550/);
});

test("curl: relaxed data check + PROT P works because curl resumes the control TLS session", async () => {
  const { certFile, keyFile } = makeCert(certDir);
  const relaxed = await startServer({
    config: (b) => ({ ...b, dataConnectionCheck: "relaxed", tls: { mode: "explicit", certFile, keyFile } }),
  });
  try {
    const data = randomBytes(300_000);
    const src = path.join(work, "relaxed.bin");
    await writeFile(src, data);
    const u = (p: string) => `ftp://alice:alice-pw@127.0.0.1:${relaxed.controlPort}/${p}`;
    await curl(["--ssl-reqd", "-k", "-T", src, u("relaxed.bin")]);
    const out = path.join(work, "relaxed.out");
    await curl(["--ssl-reqd", "-k", "-o", out, u("relaxed.bin")]);
    assert.ok((await readFile(out)).equals(data));
  } finally {
    await relaxed.stop();
  }
});

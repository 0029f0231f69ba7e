// basic-ftp (npm): the Node client most apps use, plain and over explicit FTPS.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "basic-ftp";
import { startServer, type RunningServer } from "./helpers.ts";
import { makeCert } from "./tls-helpers.ts";

let srv: RunningServer;
let certDir: string;
before(async () => {
  certDir = await mkdtemp(path.join(tmpdir(), "pasv-cert-"));
  const { certFile, keyFile } = makeCert(certDir);
  srv = await startServer({ config: (b) => ({ ...b, tls: { mode: "explicit", certFile, keyFile } }) });
});
after(async () => {
  await srv.stop();
  await rm(certDir, { recursive: true, force: true });
});

function sink(): { stream: Writable; data: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
    data: () => Buffer.concat(chunks),
  };
}

for (const secure of [false, true]) {
  test(`basic-ftp: upload, list, size, rename, download, remove${secure ? " (FTPS)" : ""}`, async () => {
    const client = new Client(15_000);
    try {
      await client.access({
        host: "127.0.0.1",
        port: srv.controlPort,
        user: "bob",
        password: "bob-pw",
        secure,
        secureOptions: { rejectUnauthorized: false },
      });
      const dir = secure ? "tls" : "plain";
      await client.ensureDir(dir);
      const data = randomBytes(1_500_000);
      await client.uploadFrom(Readable.from([data]), "one.bin");
      const list = await client.list();
      const entry = list.find((e) => e.name === "one.bin");
      assert.ok(entry, "one.bin listed");
      assert.equal(entry.size, data.length);
      assert.equal(await client.size("one.bin"), data.length);
      assert.ok((await client.lastMod("one.bin")) instanceof Date);
      await client.rename("one.bin", "two.bin");
      const s = sink();
      await client.downloadTo(s.stream, "two.bin");
      assert.ok(s.data().equals(data));
      // resume from an offset
      const s2 = sink();
      await client.downloadTo(s2.stream, "two.bin", 1000);
      assert.ok(s2.data().equals(data.subarray(1000)));
      await client.remove("two.bin");
      assert.deepEqual((await client.list()).map((e) => e.name), []);
      await client.cd("/");
      await client.removeDir(dir);
    } finally {
      client.close();
    }
  });
}

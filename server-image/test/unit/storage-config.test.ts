// The storage section of the server config: local by default, s3 checked when loaded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/users-file.ts";

const base = "version: 1\npassive:\n  portStart: 30000\n  portEnd: 30009\n";

test("storage: local below /data unless told otherwise", () => {
  const c = parseConfig(base);
  assert.equal(c.storage.type, "local");
  assert.equal(c.storage.root, "/data");
});

test("storage: s3 with its defaults (region, empty prefix, 2 x 8 MiB part buffers)", () => {
  const c = parseConfig(base + "storage:\n  type: s3\n  s3:\n    bucket: files\n");
  assert.deepEqual(c.storage.s3, { region: "us-east-1", bucket: "files", prefix: "", forcePathStyle: false, partSizeMiB: 8, partBuffers: 2 });
});

test("storage: s3 config errors are clear at load time", () => {
  assert.throws(() => parseConfig(base + "storage:\n  type: s3\n"), /storage.type s3 needs storage.s3/);
  assert.throws(() => parseConfig(base + "storage:\n  type: s3\n  s3:\n    bucket: files\n    prefix: /abs/\n"), /prefix must be empty or end in \//);
  assert.throws(() => parseConfig(base + "storage:\n  type: s3\n  s3:\n    bucket: files\n    partSizeMiB: 4\n"), ConfigError);
  assert.throws(() => parseConfig(base + "storage:\n  type: s3\n  s3:\n    bucket: files\n    endpoint: ftp://x\n"), ConfigError);
  assert.throws(() => parseConfig(base + "storage:\n  type: s3\n  s3:\n    bucket: files\n    secretKey: nope\n"), ConfigError, "credentials are not config");
});

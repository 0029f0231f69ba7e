// A server that cannot start says why in the termination log (the kubelet's /dev/termination-log,
// which Kubernetes shows as the container's termination message and the operator copies into the
// FtpServer's status), and creates no file where none is mounted.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";

const MAIN = resolve(import.meta.dirname, "../src/main.ts");
const dir = mkdtempSync(join(tmpdir(), "pasv-termlog-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function start(env: Record<string, string>): number | null {
  const config = join(dir, "config.yaml");
  writeFileSync(config, `version: 1\nlisten: { host: 127.0.0.1, controlPort: 0 }\npassive: { portStart: 40000, portEnd: 40001 }\nusersFile: ${join(dir, "users.json")}\n`);
  writeFileSync(join(dir, "users.json"), JSON.stringify({ users: [{ name: "a", password: "plain-text" }] }));
  const r = spawnSync(process.execPath, [MAIN, "--config", config], { env: { ...process.env, LOG_LEVEL: "silent", ...env }, timeout: 20_000 });
  return r.status;
}

describe("fatal start error → termination log", () => {
  it("writes the reason into an existing termination-log file and exits 1", () => {
    const log = join(dir, "termination-log");
    writeFileSync(log, "");
    assert.equal(start({ PASV_TERMINATION_LOG: log }), 1);
    assert.match(readFileSync(log, "utf8"), /^cannot start: .*users\[0\]\.password: password must be an scrypt hash/);
  });
  it("creates nothing when no termination log is mounted", () => {
    const log = join(dir, "absent-termination-log");
    assert.equal(start({ PASV_TERMINATION_LOG: log }), 1);
    assert.equal(existsSync(log), false);
  });
});

// `pasv-operator --help` lists every flag the operator parses; a bad flag exits 2 with a pointer to --help.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { OPERATOR_FLAGS } from "../../../operator/src/flags.ts";

const main = fileURLToPath(new URL("../../../operator/src/main.ts", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: "utf8", timeout: 30_000, env: { ...process.env, KUBECONFIG: "" } });

test("--help lists every flag with its default and exits 0 without touching a cluster", () => {
  for (const arg of ["--help", "-h"]) {
    const r = run(arg);
    assert.equal(r.status, 0, r.stderr);
    for (const [name, f] of Object.entries(OPERATOR_FLAGS)) {
      const line = r.stdout.split("\n").find((l) => new RegExp(`--${name}(\\s|$)`).test(l));
      assert.ok(line, `--${name} is in the help`);
      if ("default" in f) assert.ok(line.includes(`(default ${f.default})`), `--${name} shows its default: ${line}`);
    }
  }
});

test("an unknown flag exits 2 and points at --help", () => {
  const r = run("--no-such-flag");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Unknown option '--no-such-flag'[\s\S]*--help/);
});

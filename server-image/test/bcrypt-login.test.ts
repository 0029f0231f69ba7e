// Users made with standard tools: a users file whose hashes come from the real `htpasswd -B`
// (Debian apache2-utils) and from our hash tool in --bcrypt mode (run the way the image runs it:
// main.ts hash-password) logs in with curl against the real server, hot-reloaded; wrong passwords
// and unknown users are refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { requireTool, startServer, MAIN, type RunningServer } from "./helpers.ts";
import { eventually } from "../../test/support/eventually.ts";

const run = promisify(execFile);
let srv: RunningServer;

const htpasswdHash = (user: string, password: string) => {
  const line = execFileSync("htpasswd", ["-nbB", user, password], { encoding: "utf8" }).trim();
  return line.slice(line.indexOf(":") + 1);
};

/** curl's exit code and output for a directory listing as user:password. */
async function list(user: string, password: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run("curl", ["-sS", "--max-time", "20", "--list-only", `ftp://127.0.0.1:${srv.controlPort}/`, "--user", `${user}:${password}`]);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, out: e.stderr ?? "" };
  }
}

before(async () => {
  requireTool("curl");
  requireTool("htpasswd");
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

test("a users file made with htpasswd -B and hash-password --bcrypt logs in with curl; wrong password and unknown user get 530", async () => {
  const tool = execFileSync(process.execPath, ["--no-warnings", MAIN, "--config", "/unused", "hash-password", "--bcrypt", "--cost", "6"], {
    input: "tool pw", encoding: "utf8",
  }).trim();
  assert.match(tool, /^\$2b\$06\$/);
  const users = { users: [
    { name: "hana", password: htpasswdHash("hana", "htpasswd pw"), groups: ["staff"] },
    { name: "ivan", password: tool },
  ] };
  assert.match(users.users[0]!.password, /^\$2y\$05\$/);
  await writeFile(srv.usersPath, JSON.stringify(users));
  // hot reload: the new users can log in within a few poll periods
  await eventually("hana logs in after the reload", async () => (await list("hana", "htpasswd pw")).code === 0, 15_000, 300);
  assert.equal((await list("ivan", "tool pw")).code, 0);
  const wrong = await list("hana", "not it");
  assert.equal(wrong.code, 67, `curl: login denied (${wrong.out})`);
  assert.match(wrong.out, /530/);
  assert.equal((await list("nobody", "htpasswd pw")).code, 67);
  assert.equal((await list("alice", "alice-pw")).code, 67, "the old scrypt users file was replaced");
});

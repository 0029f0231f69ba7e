// bcrypt hashes in the users file (htpasswd -B): verified beside scrypt with the same guarantees —
// a wrong password costs a full bcrypt compare, an unknown user costs the same, identical
// concurrent checks share one run, a success is cached, and the compare runs off the main thread.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import bcrypt from "bcryptjs";
import { dummyVerify, passwordHashRuns, setDummyShape, verifyPassword } from "../../src/auth/password.ts";
import { isBcryptHash } from "../../src/auth/bcrypt.ts";
import { parseUsers } from "../../src/config/users-file.ts";

/** `htpasswd -nbB -C cost user password` (Debian apache2-utils), the hash part. */
function htpasswd(user: string, password: string, cost = 5): string {
  const line = execFileSync("htpasswd", ["-nbB", "-C", String(cost), user, password], { encoding: "utf8" }).trim();
  return line.slice(line.indexOf(":") + 1);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

test("htpasswd -B ($2y$), $2b$ and $2a$ hashes verify; wrong passwords and malformed hashes do not", async () => {
  const y = htpasswd("alice", "s3cret pass");
  assert.match(y, /^\$2y\$05\$/);
  const b = bcrypt.hashSync("s3cret pass", 5);
  assert.match(b, /^\$2b\$05\$/);
  const a = b.replace(/^\$2b\$/, "$2a$");
  for (const h of [y, b, a]) {
    assert.ok(isBcryptHash(h), h);
    assert.equal(await verifyPassword("wrong", h), false, `wrong password against ${h.slice(0, 4)}`);
    assert.equal(await verifyPassword("s3cret pass", h), true, `right password against ${h.slice(0, 4)}`);
  }
  assert.equal(await verifyPassword("s3cret pass", y.slice(0, -1)), false, "truncated hash");
  assert.equal(await verifyPassword("s3cret pass", y.replace("$05$", "$31$")), false, "cost outside 4-17 is not a hash we run");
});

test("the users file accepts bcrypt beside scrypt and says what it wants otherwise", () => {
  const y = htpasswd("bob", "pw");
  const users = parseUsers(JSON.stringify({ users: [{ name: "bob", password: y }] }));
  assert.equal(users.users[0]!.password, y);
  assert.throws(() => parseUsers(JSON.stringify({ users: [{ name: "bob", password: "$2y$31$" + y.slice(7) }] })), /bcrypt hash \(\$2y\$\/\$2b\$\/\$2a\$, cost 4-17/);
  assert.throws(() => parseUsers(JSON.stringify({ users: [{ name: "bob", password: "plain" }] })), /scrypt hash/);
});

test("bcrypt: every wrong guess pays a full compare; identical concurrent checks share one; a success is cached", async () => {
  const h = htpasswd("carol", "right", 8);
  const before = passwordHashRuns();
  // (wrong guesses after a cached success are the session's business: password.ts's cache path)
  assert.equal(await verifyPassword("wrong-1", h), false);
  assert.equal(await verifyPassword("wrong-1", h), false);
  assert.equal(passwordHashRuns() - before, 2, "failures are never remembered");
  const ok = await Promise.all(Array.from({ length: 20 }, () => verifyPassword("right", h)));
  assert.ok(ok.every(Boolean));
  assert.equal(passwordHashRuns() - before, 3, "20 concurrent identical checks: one compare");
  assert.equal(await verifyPassword("right", h), true);
  assert.equal(passwordHashRuns() - before, 3, "cached");
});

test("bcrypt: a wrong password and an unknown user cost about the same real bcrypt work", async () => {
  const cost = 10;
  const h = htpasswd("dave", "right", cost);
  setDummyShape([h, htpasswd("erin", "x", cost)]);
  await dummyVerify("warm-up");
  await verifyPassword("warm-up", h);
  // The least of three direct compares: a load spike on this shared machine only lengthens a run.
  const direct: number[] = [];
  for (let i = 0; i < 3; i++) {
    const one = performance.now();
    bcrypt.compareSync("x", h);
    direct.push(performance.now() - one);
  }
  const compareMs = Math.min(...direct);
  const wrong: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 5; i++) {
    wrong.push(await timed(() => verifyPassword(`wrong-${i}`, h)));
    unknown.push(await timed(() => dummyVerify(`guess-${i}`)));
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const [w, u] = [median(wrong), median(unknown)];
  console.log(`bcrypt cost ${cost}: compareSync ${compareMs.toFixed(1)} ms (least of 3), wrong password ${w.toFixed(1)} ms, unknown user ${u.toFixed(1)} ms (medians of 5)`);
  assert.ok(w > compareMs * 0.5, `a wrong password costs a real compare (${w} ms vs ${compareMs} ms)`);
  assert.ok(u > w * 0.5 && u < w * 2, `an unknown user costs the same (${u} ms vs ${w} ms)`);
});

test("bcrypt: the compare runs in a worker thread, so sessions keep being served meanwhile", async () => {
  const h = htpasswd("frank", "right", 12);
  await verifyPassword("warm-up", h);
  const t = Date.now();
  bcrypt.compareSync("x", h);
  const compareMs = Date.now() - t;
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  await Promise.all([verifyPassword("wrong-a", h), verifyPassword("wrong-b", h)]);
  delay.disable();
  const maxMs = delay.max / 1e6;
  console.log(`bcrypt cost 12: compareSync ${compareMs} ms on the main thread; two checks through the worker: event-loop delay max ${maxMs.toFixed(1)} ms`);
  assert.ok(maxMs < compareMs / 2, `the main thread was never blocked for a compare (max delay ${maxMs} ms, one compare ${compareMs} ms)`);
});

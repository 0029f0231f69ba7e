// Password checks: concurrent identical checks share one scrypt run; failures are never shared
// past the run in flight; different passwords never share a run.

import { test } from "node:test";
import assert from "node:assert/strict";
import { hashPassword, passwordHashRuns, verifyPassword } from "../../src/auth/password.ts";

const CHEAP = { N: 1024, r: 8, p: 1 };

test("concurrent first checks of one user and password run scrypt once, all succeed", async () => {
  const hash = await hashPassword("right", CHEAP);
  const before = passwordHashRuns();
  const results = await Promise.all(Array.from({ length: 50 }, () => verifyPassword("right", hash)));
  assert.ok(results.every(Boolean));
  assert.equal(passwordHashRuns() - before, 1);
  // Now cached: no more runs.
  assert.equal(await verifyPassword("right", hash), true);
  assert.equal(passwordHashRuns() - before, 1);
  assert.equal(await verifyPassword("wrong", hash), false);
});

test("failures are shared only by identical concurrent attempts, never remembered", async () => {
  const hash = await hashPassword("right", CHEAP);
  const before = passwordHashRuns();
  const wrong = await Promise.all(Array.from({ length: 10 }, () => verifyPassword("wrong", hash)));
  assert.ok(wrong.every((x) => x === false));
  assert.equal(passwordHashRuns() - before, 1);
  // A later identical wrong attempt pays a full run again.
  assert.equal(await verifyPassword("wrong", hash), false);
  assert.equal(passwordHashRuns() - before, 2);
  // Different passwords in flight at once: one run each, right answers.
  const mixed = await Promise.all(["a", "b", "right", "c"].map((p) => verifyPassword(p, hash)));
  assert.deepEqual(mixed, [false, false, true, false]);
  assert.equal(passwordHashRuns() - before, 6);
});

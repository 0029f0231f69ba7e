// Password checks must not tell a guesser anything by their cost: a wrong password pays a full
// scrypt run even after the user's correct password was cached, and the dummy check for unknown
// users runs with the users file's own scrypt cost.

import { test } from "node:test";
import assert from "node:assert/strict";
import { dummyVerify, hashPassword, passwordHashRuns, setDummyShape, verifyPassword } from "../../src/auth/password.ts";

const CHEAP = { N: 1024, r: 8, p: 1 };

test("a wrong password after a cached success still runs scrypt; the right one is answered from the cache", async () => {
  const hash = await hashPassword("right", CHEAP);
  assert.equal(await verifyPassword("right", hash), true);
  const before = passwordHashRuns();
  assert.equal(await verifyPassword("right", hash), true);
  assert.equal(passwordHashRuns() - before, 0, "cached success");
  for (let i = 0; i < 5; i++) assert.equal(await verifyPassword(`wrong-${i}`, hash), false);
  assert.equal(passwordHashRuns() - before, 5, "every wrong password cost a run");
});

test("dummyVerify runs with the users file's most common cost (setDummyShape), not the default", async () => {
  const cheap = await hashPassword("x", CHEAP);
  const costly = await hashPassword("y", { N: 16384, r: 8, p: 1 });
  const time = async (): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await dummyVerify("guess");
    return performance.now() - t0;
  };
  setDummyShape([cheap, "not-a-hash", cheap, costly]);
  await time(); // warm up (makes the dummy hash)
  const withCheap = await time();
  setDummyShape([costly]);
  await time();
  const withCostly = await time(); // N = 16384: 16x the work of N = 1024
  assert.ok(withCheap * 3 < withCostly, `N=1024 shape ${withCheap.toFixed(1)} ms vs N=16384 ${withCostly.toFixed(1)} ms`);
});

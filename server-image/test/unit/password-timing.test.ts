// Password checks must not tell a guesser anything by their cost: a wrong password pays a full
// scrypt run even after the user's correct password was cached, and the dummy check for unknown
// users runs with the users file's own scrypt cost.

import { test } from "node:test";
import assert from "node:assert/strict";
import { dummyVerify, hashPassword, passwordHashRuns, referenceHashOf, verifyPassword } from "../../src/auth/password.ts";

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

test("dummyVerify runs with the reference hash's cost, not the default", async () => {
  const cheap = await hashPassword("x", CHEAP);
  const time = async (ref: string | null): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await dummyVerify("guess", ref);
    return performance.now() - t0;
  };
  await time(cheap); // warm up
  const withRef = await time(cheap);
  const withDefault = await time(null); // N = 16384: 16x the work of N = 1024
  assert.ok(withRef * 3 < withDefault, `N=1024 reference ${withRef.toFixed(1)} ms vs default ${withDefault.toFixed(1)} ms`);
});

test("referenceHashOf picks the most common scrypt parameters and ignores junk", async () => {
  const a = await hashPassword("a", CHEAP);
  const b = await hashPassword("b", CHEAP);
  const c = await hashPassword("c", { N: 2048, r: 8, p: 1 });
  const ref = referenceHashOf(["not-a-hash", c, a, b]);
  assert.ok(ref?.startsWith("scrypt$1024$8$1$"), ref ?? "null");
  assert.equal(referenceHashOf([]), null);
});

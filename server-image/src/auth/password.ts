// Password hashes in the users file: `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>`, or bcrypt
// (`$2y$`/`$2b$`/`$2a$`, htpasswd -B; checked in bcrypt.ts) (docs/users-file.md). Both kinds get the
// same cache, in-flight sharing, unknown-user dummy work and (in the session) throttling.

import { randomBytes, scrypt, timingSafeEqual, createHmac } from "node:crypto";
import { bcryptCost, bcryptDummy, bcryptMatches, isBcryptHash } from "./bcrypt.ts";

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_PARAMS: ScryptParams = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LENGTH, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

export function parseHash(hash: string): ParsedHash | null {
  const parts = hash.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return null;
  const N = Number(parts[1]);
  const r = Number(parts[2]);
  const p = Number(parts[3]);
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20) return null;
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return null;
  const salt = Buffer.from(parts[4]!, "base64");
  const key = Buffer.from(parts[5]!, "base64");
  if (salt.length < 8 || key.length < 16) return null;
  return { params: { N, r, p }, salt, key };
}

// A verified password is remembered as an HMAC under a per-process random key, so a user who logs
// in 1,000 times does not cost 1,000 scrypt runs (each ~50 ms of CPU at the default cost). The cache
// lives in memory only and is keyed by the stored hash, so a password change invalidates it.
// Only a *matching* password is answered from the cache: anything else pays a full scrypt run, so a
// wrong guess costs the same whether or not the user logged in before (no timing oracle telling
// which users exist or are active, and guessing stays expensive). The fast path only speeds up an
// answer the client gets anyway (230).
const cacheKey = randomBytes(32);
const verified = new Map<string, Buffer>();
const MAX_CACHE = 10000;

function mac(hash: string, password: string): Buffer {
  return createHmac("sha256", cacheKey).update(hash).update("\0").update(password).digest();
}

// Concurrent identical checks (same stored hash, same password) share one scrypt run: a burst of
// first logins of one user costs one run, not one per session. The in-flight map is keyed by the
// HMAC above (no plaintext kept) and an entry lives only while its scrypt runs — a result, and in
// particular a failure, is never remembered past that: every later wrong guess pays full price,
// and a different password never shares a run. Only identical concurrent attempts, which would get
// the same answer anyway, are merged.
const inflight = new Map<string, Promise<boolean>>();
let hashRuns = 0;

/** scrypt runs for password checks (not dummy checks) since start; for /metrics and tests. */
export function passwordHashRuns(): number {
  return hashRuns;
}

async function scryptMatches(password: string, parsed: ParsedHash): Promise<boolean> {
  const key = await scryptAsync(password, parsed.salt, parsed.key.length, parsed.params);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

async function checkWithKdf(password: string, hash: string, parsed: ParsedHash | "bcrypt"): Promise<boolean> {
  hashRuns++;
  try {
    const ok = parsed === "bcrypt" ? await bcryptMatches(password, hash) : await scryptMatches(password, parsed);
    if (ok) {
      if (verified.size >= MAX_CACHE) verified.clear();
      verified.set(hash, mac(hash, password));
    }
    return ok;
  } catch {
    return false;
  }
}

/** Constant-time check of a password against a stored hash. Never throws. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const m = mac(hash, password);
  const cached = verified.get(hash);
  if (cached && timingSafeEqual(cached, m)) return true;
  const parsed = parseHash(hash) ?? (isBcryptHash(hash) ? "bcrypt" : null);
  if (!parsed) return false;
  const key = m.toString("base64");
  let run = inflight.get(key);
  if (!run) {
    run = checkWithKdf(password, hash, parsed).finally(() => inflight.delete(key));
    inflight.set(key, run);
  }
  return run;
}

/**
 * Burns the same work as a real check, for unknown users (no user-enumeration by timing): a check
 * against a hash shaped like most of the users file's (kind and cost; setDummyShape), scrypt with
 * the default parameters until a users file is loaded.
 */
const dummyHashes = new Map<string, Promise<string>>();
const dummyHashFor = (p: ScryptParams) => {
  const k = `${p.N}:${p.r}:${p.p}`;
  let h = dummyHashes.get(k);
  if (!h) dummyHashes.set(k, (h = hashPassword("x".repeat(16), p)));
  return h;
};
let dummyShape: { kind: "scrypt"; params: ScryptParams } | { kind: "bcrypt"; cost: number } = { kind: "scrypt", params: DEFAULT_PARAMS };
export async function dummyVerify(password: string): Promise<void> {
  const shape = dummyShape;
  if (shape.kind === "bcrypt") return bcryptDummy(password, shape.cost).catch(() => undefined);
  const parsed = parseHash(await dummyHashFor(shape.params))!;
  await scryptAsync(password, parsed.salt, parsed.key.length, parsed.params);
}

/** Make unknown-user checks cost what the most common hash of the users file costs (UserDb calls it). */
export function setDummyShape(hashes: Iterable<string>): void {
  const counts = new Map<string, number>();
  for (const h of hashes) {
    const p = parseHash(h);
    const key = p ? `scrypt:${p.params.N}:${p.params.r}:${p.params.p}` : isBcryptHash(h) ? `bcrypt:${bcryptCost(h)}` : undefined;
    if (key) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const top = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (!top) return;
  const [kind, ...n] = top.split(":");
  const next: typeof dummyShape = kind === "bcrypt" ? { kind: "bcrypt", cost: Number(n[0]) } : { kind: "scrypt", params: { N: Number(n[0]), r: Number(n[1]), p: Number(n[2]) } };
  if (JSON.stringify(next) === JSON.stringify(dummyShape)) return;
  dummyShape = next;
  // make the dummy hash now, so the first unknown user does not pay for making it
  if (next.kind === "bcrypt") void bcryptDummy("", next.cost).catch(() => undefined);
  else void dummyHashFor(next.params).catch(() => undefined);
}

// bcrypt password hashes in the users file (`$2y$`/`$2b$`/`$2a$`, what `htpasswd -nbB` and most
// tools write), beside our scrypt format (password.ts dispatches here; docs/users-file.md).
//
// bcryptjs is plain JavaScript: a cost-10 check is ~50 ms of CPU, cost 12 ~200 ms. On the main
// thread that would stall every session's transfers, so checks run in one worker thread
// (bcrypt-worker.ts); scrypt runs in libuv's thread pool for the same reason. The worker is started
// on the first bcrypt check and does not keep the process alive.
import { Worker } from "node:worker_threads";

/** htpasswd -B accepts costs 4–17 (its -C range); a higher cost would let a users file stall logins. */
export const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|1[0-7])\$[./A-Za-z0-9]{53}$/;

export function isBcryptHash(hash: string): boolean {
  return BCRYPT_HASH.test(hash);
}

export function bcryptCost(hash: string): number {
  return Number(hash.slice(4, 6));
}

interface Reply { id: number; ok?: boolean; error?: string }

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (ok: boolean) => void; reject: (e: Error) => void }>();

function getWorker(): Worker {
  if (worker) return worker;
  // Same extension as this module: .ts from the sources, .js in the image (compiled by
  // hack/compile-js.sh; tsc rewrites import specifiers, not URLs).
  const ext = import.meta.url.endsWith(".js") ? ".js" : ".ts";
  const w = new Worker(new URL(`./bcrypt-worker${ext}`, import.meta.url));
  w.unref();
  w.on("message", (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error !== undefined) p.reject(new Error(m.error));
    else p.resolve(m.ok === true);
  });
  // A crashed worker fails its pending checks (as wrong passwords) and is replaced on next use.
  const fail = (err: Error) => {
    if (worker === w) worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  w.on("error", fail);
  w.on("exit", (code) => fail(new Error(`bcrypt worker exited with ${code}`)));
  worker = w;
  return w;
}

function ask(msg: { password: string; hash?: string; dummyCost?: number }): Promise<boolean> {
  const id = nextId++;
  return new Promise<boolean>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    const w = getWorker();
    // the reply keeps nothing alive either: ref the worker only while a check is pending
    w.ref();
    w.postMessage({ id, ...msg });
  }).finally(() => {
    if (pending.size === 0) worker?.unref();
  });
}

/** bcrypt compare (the full cost, whether right or wrong). Throws only if the worker fails. */
export function bcryptMatches(password: string, hash: string): Promise<boolean> {
  return ask({ password, hash });
}

/** The same work as checking a password against a bcrypt hash of `cost`, for unknown users. */
export async function bcryptDummy(password: string, cost: number): Promise<void> {
  await ask({ password, dummyCost: cost });
}

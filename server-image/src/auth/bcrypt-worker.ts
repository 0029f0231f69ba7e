// The worker thread behind bcrypt.ts: one bcrypt compare per message, off the main thread.
import { parentPort } from "node:worker_threads";
import bcrypt from "bcryptjs";

// Unknown users are checked against a hash of the same cost (made once per cost): same work, no match.
const dummies = new Map<number, string>();

parentPort?.on("message", (m: { id: number; password: string; hash?: string; dummyCost?: number }) => {
  try {
    let hash = m.hash;
    if (hash === undefined) {
      const cost = m.dummyCost ?? 10;
      hash = dummies.get(cost);
      if (!hash) dummies.set(cost, (hash = bcrypt.hashSync("unknown user: never matches", cost)));
    }
    parentPort?.postMessage({ id: m.id, ok: bcrypt.compareSync(m.password, hash) });
  } catch (err) {
    parentPort?.postMessage({ id: m.id, error: (err as Error).message });
  }
});

// The users database, loaded from the users file (docs/users-file.md), plus failed-login throttling.

import { homeProblem, normalHome, type UsersFile } from "#server-config";
import { setDummyShape } from "./password.ts";

export interface User {
  name: string;
  passwordHash: string;
  groups: string[];
  type: string;
  /** Directory under storage.root: a normalised relative path, never "", "." or with "..". */
  home: string;
  permissions: { write: boolean; delete: boolean; rename: boolean };
  quota: { bytes?: number; files?: number } | null;
}

export class UserDb {
  private readonly byName = new Map<string, User>();

  /** `file` comes from parseUsers(), which already refused bad homes; a bad one here throws too. */
  constructor(file: UsersFile) {
    for (const u of file.users) {
      const home = u.home ?? u.name;
      const why = homeProblem(home);
      if (why) throw new Error(`user ${JSON.stringify(u.name)}: home ${JSON.stringify(home)} ${why}`);
      const p = u.permissions;
      const q = u.quota;
      this.byName.set(u.name, {
        name: u.name,
        passwordHash: u.password,
        groups: u.groups,
        type: u.type,
        home: normalHome(home),
        permissions: { write: p?.write ?? true, delete: p?.delete ?? true, rename: p?.rename ?? true },
        quota: q && (q.bytes !== undefined || q.files !== undefined) ? { ...q } : null,
      });
    }
    setDummyShape(file.users.map((u) => u.password));
  }

  get(name: string): User | undefined {
    return this.byName.get(name);
  }

  get size(): number {
    return this.byName.size;
  }
}

/** Per-IP failed-login counter: delay = base * 2^(failures-1), capped at 8x; entries expire. */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; last: number }>();
  private readonly expireMs = 15 * 60 * 1000;

  delayFor(ip: string, baseMs: number): number {
    const f = this.failures.get(ip);
    if (!f || baseMs <= 0) return baseMs > 0 ? baseMs : 0;
    return baseMs * 2 ** Math.min(f.count - 1, 3);
  }

  fail(ip: string): void {
    const now = Date.now();
    const f = this.failures.get(ip);
    if (f && now - f.last < this.expireMs) {
      f.count++;
      f.last = now;
    } else {
      this.failures.set(ip, { count: 1, last: now });
    }
    if (this.failures.size > 100000) this.prune(now);
  }

  succeed(ip: string): void {
    this.failures.delete(ip);
  }

  private prune(now: number): void {
    for (const [ip, f] of this.failures) if (now - f.last >= this.expireMs) this.failures.delete(ip);
  }
}

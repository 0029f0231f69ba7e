// The passive port pool: O(1) allocate and release, never a port outside the configured range,
// and never a refusal while a port is free (DESIGN.md fact 10: on Linux a listener reopens on a
// port whose earlier connections sit in TIME_WAIT; each data connection is a new 4-tuple).
//
// Every port of the range is in exactly one of three intrusive doubly-linked lists (one pair of
// next/prev arrays indexed by port number, so moving a port is O(1) and nothing ever scans):
//
// - free:    never used, released without ever carrying a connection, or cooled down. FIFO, the
//            initial order shuffled so ports are hard to guess.
// - cooling: released after carrying a data connection, in release order, each with its release
//            time. quarantineSeconds is a preference, not a reservation: a cooling port is handed
//            out (oldest release first) only when the free list is empty; once its quarantine is
//            over it moves to the free tail (amortised O(1): once per release).
// - held:    with at least one lease (a live listener or data connection).
//
// sharePorts (only where the server sees client IPs): when free and cooling are both empty, a held
// port is leased again to a client IP that does not hold it yet, round robin over the held list.
// The walk skips only ports the same client already holds, so its length is bounded by that
// client's own leases (one per session), not by the pool size. Without sharing a held port is
// never handed out again, and 425 (null) means every port has a live listener or connection.
//
// reconfigure() (hot reload of the range or slice) rebuilds the lists once (O(range)); ports held
// outside the new range are never leased again and are forgotten when their last lease ends.

import { randomInt } from "node:crypto";

const OUTSIDE = 0;
const FREE = 1;
const COOLING = 2;
const HELD = 3;
/** Held, but outside the current range: finishes its leases, then leaves the pool. */
const RETIRING = 4;

const NONE = -1;
const PORTS = 65536;

export interface PoolStats {
  size: number;
  /** Ports in the free list (handed out first). */
  free: number;
  /** Ports with at least one lease (a live listener or data connection). */
  inUse: number;
  /** Leases: equals inUse unless sharePorts lets several clients hold one port. */
  leases: number;
  /** Ports released within quarantineSeconds after carrying a connection (handed out after the free ones). */
  quarantined: number;
  exhaustedTotal: number;
}

export interface PoolOptions {
  quarantineMs: number;
  /** Several client IPs may lease the same port (each data connection is routed by its source IP). */
  sharePorts?: boolean;
  now?: () => number;
}

/** Three lists over one pair of link arrays: a port is in at most one list at a time. */
class Lists {
  readonly next = new Int32Array(PORTS).fill(NONE);
  readonly prev = new Int32Array(PORTS).fill(NONE);
  readonly head = [NONE, NONE, NONE, NONE];
  readonly tail = [NONE, NONE, NONE, NONE];
  readonly length = [0, 0, 0, 0];

  push(list: number, port: number): void {
    const t = this.tail[list]!;
    this.prev[port] = t;
    this.next[port] = NONE;
    if (t === NONE) this.head[list] = port;
    else this.next[t] = port;
    this.tail[list] = port;
    this.length[list]!++;
  }

  remove(list: number, port: number): void {
    const p = this.prev[port]!;
    const n = this.next[port]!;
    if (p === NONE) this.head[list] = n;
    else this.next[p] = n;
    if (n === NONE) this.tail[list] = p;
    else this.prev[n] = p;
    this.prev[port] = NONE;
    this.next[port] = NONE;
    this.length[list]!--;
  }

  shift(list: number): number {
    const h = this.head[list]!;
    if (h !== NONE) this.remove(list, h);
    return h;
  }
}

export class PortPool {
  private start = 0;
  private end = -1;
  private quarantineMs: number;
  private sharePorts: boolean;
  private readonly now: () => number;
  private readonly state = new Uint8Array(PORTS);
  /** Leases per port. */
  private readonly leases = new Uint32Array(PORTS);
  /** Whether any lease of the port carried a connection since the port was last idle. */
  private readonly used = new Uint8Array(PORTS);
  private readonly releasedAt = new Float64Array(PORTS);
  private readonly lists = new Lists();
  /** With sharePorts: the ports each client IP leases (a client never gets a port twice). */
  private readonly byClient = new Map<string, Set<number>>();
  /**
   * Leases taken without sharePorts: no per-client bookkeeping (a big Set churns at 99 % use),
   * the port state alone catches double releases. Kept apart so turning sharing on by a hot reload
   * still releases them correctly.
   */
  private readonly anonymous = new Uint32Array(PORTS);
  private leaseCount = 0;
  exhaustedTotal = 0;

  /** An empty pool (start > end) hands out nothing: every allocate() is an exhaustion. */
  constructor(start: number, end: number, options: PoolOptions | number, now?: () => number) {
    const o: PoolOptions = typeof options === "number" ? { quarantineMs: options, ...(now ? { now } : {}) } : options;
    this.quarantineMs = o.quarantineMs;
    this.sharePorts = o.sharePorts ?? false;
    this.now = o.now ?? (() => performance.now());
    this.reconfigure(start, end, this.quarantineMs, this.sharePorts);
  }

  get range(): { start: number; end: number } {
    return { start: this.start, end: this.end };
  }

  get shared(): boolean {
    return this.sharePorts;
  }

  /**
   * A port for `client` (the control connection's IP), or null when none can be had (counted in
   * exhaustedTotal): free ports first, then the one released longest ago, then (sharePorts) a
   * port held only by other clients.
   */
  allocate(client = ""): number | null {
    this.expireCooling();
    const l = this.lists;
    let port = l.shift(FREE);
    if (port === NONE) port = l.shift(COOLING);
    if (port !== NONE) {
      this.state[port] = HELD;
      this.used[port] = 0;
      l.push(HELD, port);
    } else if (this.sharePorts) {
      port = this.shareable(client);
      if (port === NONE) {
        this.exhaustedTotal++;
        return null;
      }
    } else {
      this.exhaustedTotal++;
      return null;
    }
    this.leases[port]!++;
    this.leaseCount++;
    if (this.sharePorts) {
      let set = this.byClient.get(client);
      if (!set) this.byClient.set(client, (set = new Set()));
      set.add(port);
    } else this.anonymous[port]!++;
    return port;
  }

  /**
   * Ends one lease of `port` held by `client`. `carriedConnection` = a data connection was
   * accepted on it (its TIME_WAIT makes the port the last choice for quarantineSeconds); a
   * listener that never accepted one goes straight back to the free list. Unknown ports and
   * double releases are ignored.
   */
  release(port: number, client = "", carriedConnection = true): void {
    const st = this.state[port];
    if (st !== HELD && st !== RETIRING) return;
    const set = this.byClient.get(client);
    if (set?.delete(port)) {
      if (set.size === 0) this.byClient.delete(client);
    } else if (this.anonymous[port]! > 0) this.anonymous[port]!--;
    else return; // not this client's lease, or released twice
    this.leases[port]!--;
    this.leaseCount--;
    if (carriedConnection) this.used[port] = 1;
    if (this.leases[port]! > 0) return;
    if (st === RETIRING) {
      this.state[port] = OUTSIDE;
      return;
    }
    this.lists.remove(HELD, port);
    if (this.used[port] && this.quarantineMs > 0) {
      this.state[port] = COOLING;
      this.releasedAt[port] = this.now();
      this.lists.push(COOLING, port);
    } else {
      this.state[port] = FREE;
      this.lists.push(FREE, port);
    }
  }

  /** Changes range, quarantine and sharing (hot reload). O(range size), only on reload. */
  reconfigure(start: number, end: number, quarantineMs: number, sharePorts = this.sharePorts): void {
    const l = this.lists;
    // Keep cooling ports (in their order) that stay inside the new range.
    const keptCooling: number[] = [];
    for (let p = l.shift(COOLING); p !== NONE; p = l.shift(COOLING)) {
      if (p >= start && p <= end) keptCooling.push(p);
      else this.state[p] = OUTSIDE;
    }
    // Held ports outside the new range retire: they are never leased again.
    const keptHeld: number[] = [];
    for (let p = l.shift(HELD); p !== NONE; p = l.shift(HELD)) {
      if (p >= start && p <= end) keptHeld.push(p);
      else this.state[p] = RETIRING;
    }
    // Forget the free ports of the old range (the list is rebuilt below).
    for (let p = l.shift(FREE); p !== NONE; p = l.shift(FREE)) this.state[p] = OUTSIDE;

    this.start = start;
    this.end = end;
    this.quarantineMs = quarantineMs;
    this.sharePorts = sharePorts;
    for (const p of keptCooling) l.push(COOLING, p);
    for (const p of keptHeld) l.push(HELD, p);
    // A retiring port that is back inside the range is held again.
    const candidates: number[] = [];
    for (let p = start; p <= end; p++) {
      if (this.state[p] === OUTSIDE) candidates.push(p);
      else if (this.state[p] === RETIRING) {
        this.state[p] = HELD;
        l.push(HELD, p);
      }
    }
    // Fisher-Yates shuffle: passive ports should not be predictable.
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      const tmp = candidates[i]!;
      candidates[i] = candidates[j]!;
      candidates[j] = tmp;
    }
    for (const p of candidates) {
      this.state[p] = FREE;
      this.used[p] = 0;
      l.push(FREE, p);
    }
  }

  stats(): PoolStats {
    this.expireCooling();
    return {
      size: Math.max(0, this.end - this.start + 1),
      free: this.lists.length[FREE]!,
      inUse: this.lists.length[HELD]!,
      leases: this.leaseCount,
      quarantined: this.lists.length[COOLING]!,
      exhaustedTotal: this.exhaustedTotal,
    };
  }

  /** Cooling ports whose quarantine is over join the free tail (each at most once per release). */
  private expireCooling(): void {
    const l = this.lists;
    if (l.length[COOLING] === 0) return;
    const cutoff = this.now() - this.quarantineMs;
    while (l.head[COOLING] !== NONE && this.releasedAt[l.head[COOLING]!]! <= cutoff) {
      const p = l.shift(COOLING);
      this.state[p] = FREE;
      l.push(FREE, p);
    }
  }

  /** A held port `client` does not hold yet, rotated to the tail (round robin), or NONE. */
  private shareable(client: string): number {
    const l = this.lists;
    const mine = this.byClient.get(client);
    // Every port skipped is one this client holds: at most mine.size skips.
    const tries = Math.min(l.length[HELD]!, (mine?.size ?? 0) + 1);
    for (let i = 0; i < tries; i++) {
      const p = l.shift(HELD);
      l.push(HELD, p);
      if (!mine?.has(p)) return p;
    }
    return NONE;
  }
}

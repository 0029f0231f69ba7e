// The passive port pool: O(1) allocate and release, never a port outside the configured range.
//
// - Free ports sit in a FIFO ring (allocate takes the head, a port coming back goes to the tail),
//   so use spreads over the whole range; the initial order is shuffled so ports are hard to guess.
// - A released port first waits in a quarantine FIFO with its release time (the TIME_WAIT / conntrack
//   lifetime of the data connection). allocate() moves the expired head entries to the free ring:
//   each port is moved at most once per release, so the cost is amortised O(1). Nothing ever scans.
// - reconfigure() (hot reload of the range or slice) rebuilds the rings once; ports in use that
//   fall outside the new range are forgotten when released.

import { randomInt } from "node:crypto";

const OUTSIDE = 0;
const FREE = 1;
const IN_USE = 2;
const QUARANTINED = 3;

export interface PoolStats {
  size: number;
  free: number;
  inUse: number;
  quarantined: number;
  exhaustedTotal: number;
}

class Ring {
  private buf: Int32Array;
  private head = 0;
  length = 0;
  constructor(capacity: number) {
    this.buf = new Int32Array(Math.max(1, capacity));
  }
  push(v: number): void {
    this.buf[(this.head + this.length) % this.buf.length] = v;
    this.length++;
  }
  peek(): number {
    return this.buf[this.head]!;
  }
  shift(): number {
    const v = this.buf[this.head]!;
    this.head = (this.head + 1) % this.buf.length;
    this.length--;
    return v;
  }
}

export class PortPool {
  private start = 0;
  private end = -1;
  private quarantineMs: number;
  private readonly now: () => number;
  private readonly state = new Uint8Array(65536);
  private free = new Ring(1);
  private qPorts = new Ring(1);
  private qTimes = new Float64Array(1);
  private qTimeHead = 0;
  private inUse = 0;
  exhaustedTotal = 0;

  /** An empty pool (start > end) hands out nothing: every allocate() is an exhaustion. */
  constructor(start: number, end: number, quarantineMs: number, now: () => number = () => performance.now()) {
    this.quarantineMs = quarantineMs;
    this.now = now;
    this.reconfigure(start, end, quarantineMs);
  }

  get range(): { start: number; end: number } {
    return { start: this.start, end: this.end };
  }

  /** A free port, or null when the pool is exhausted (counted in exhaustedTotal). */
  allocate(): number | null {
    this.expireQuarantine();
    if (this.free.length === 0) {
      this.exhaustedTotal++;
      return null;
    }
    const port = this.free.shift();
    this.state[port] = IN_USE;
    this.inUse++;
    return port;
  }

  /** Returns an allocated port; it becomes free again after the quarantine. Unknown ports are ignored. */
  release(port: number): void {
    if (this.state[port] !== IN_USE) return;
    this.inUse--;
    if (port < this.start || port > this.end) {
      this.state[port] = OUTSIDE;
    } else if (this.quarantineMs <= 0) {
      this.state[port] = FREE;
      this.free.push(port);
    } else {
      this.state[port] = QUARANTINED;
      this.pushQuarantine(port, this.now());
    }
  }

  /** Changes range and quarantine (hot reload). O(range size), only on reload. */
  reconfigure(start: number, end: number, quarantineMs: number): void {
    // Keep quarantined ports (in their order) that stay inside the new range.
    const keptQ: Array<[number, number]> = [];
    while (this.qPorts.length > 0) {
      const t = this.qTimes[this.qTimeIndex(0)]!;
      const p = this.qPorts.shift();
      this.qTimeHead = (this.qTimeHead + 1) % this.qTimes.length;
      if (p >= start && p <= end) keptQ.push([p, t]);
      else this.state[p] = OUTSIDE;
    }
    // Clear free ports of the old range.
    for (let p = this.start; p <= this.end; p++) if (this.state[p] === FREE) this.state[p] = OUTSIDE;

    this.start = start;
    this.end = end;
    this.quarantineMs = quarantineMs;
    const size = Math.max(0, end - start + 1);
    this.free = new Ring(size);
    this.qPorts = new Ring(size);
    this.qTimes = new Float64Array(Math.max(1, size));
    this.qTimeHead = 0;
    for (const [p, t] of keptQ) this.pushQuarantine(p, t);

    const candidates: number[] = [];
    for (let p = start; p <= end; p++) if (this.state[p] === OUTSIDE) candidates.push(p);
    // Fisher-Yates shuffle: passive ports should not be predictable.
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      const tmp = candidates[i]!;
      candidates[i] = candidates[j]!;
      candidates[j] = tmp;
    }
    for (const p of candidates) {
      this.state[p] = FREE;
      this.free.push(p);
    }
  }

  stats(): PoolStats {
    this.expireQuarantine();
    return {
      size: Math.max(0, this.end - this.start + 1),
      free: this.free.length,
      inUse: this.inUse,
      quarantined: this.qPorts.length,
      exhaustedTotal: this.exhaustedTotal,
    };
  }

  private qTimeIndex(i: number): number {
    return (this.qTimeHead + i) % this.qTimes.length;
  }

  private pushQuarantine(port: number, at: number): void {
    this.qTimes[this.qTimeIndex(this.qPorts.length)] = at;
    this.qPorts.push(port);
  }

  private expireQuarantine(): void {
    if (this.qPorts.length === 0) return;
    const cutoff = this.now() - this.quarantineMs;
    while (this.qPorts.length > 0 && this.qTimes[this.qTimeHead]! <= cutoff) {
      const p = this.qPorts.shift();
      this.qTimeHead = (this.qTimeHead + 1) % this.qTimes.length;
      this.state[p] = FREE;
      this.free.push(p);
    }
  }
}

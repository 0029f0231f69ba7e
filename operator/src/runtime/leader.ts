// Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection:
//  - acquire: create the Lease, or take it over when its holder is empty or has not renewed for
//    leaseDurationSeconds as measured on *our* clock since we last saw the record change (no clock
//    skew assumptions); optimistic concurrency through resourceVersion (a 409 is a lost race);
//  - renew every retryPeriod; if no renewal succeeds for renewDeadline, leadership is lost;
//  - on cancel: keep renewing while the caller drains (onStoppedLeading), then release (empty
//    holder, so a standby takes over at once).
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { isConflict, isNotFound } from "./client.ts";
import type { ApiClient } from "./client.ts";
import { sleep } from "./backoff.ts";
import { errInfo } from "./informer.ts";
import type { Metrics } from "./metrics.ts";
import { Resources } from "./types.ts";
import type { KubeObject } from "./types.ts";

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  namespace: string;
  /** Lease name; default "pasv-operator" */
  name?: string;
  /** default $POD_NAME, else hostname + "_" + random suffix */
  identity?: string;
  /** default 15 s (must exceed renewDeadline) */
  leaseDurationMs?: number;
  /** default 10 s (must exceed retryPeriod) */
  renewDeadlineMs?: number;
  /** default 2 s */
  retryPeriodMs?: number;
}

export interface LeaderCallbacks {
  /** we became leader; `signal` aborts when leadership ends (lost or cancelled) */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** leadership ended; awaited before the Lease is released */
  onStoppedLeading(reason: "lost" | "cancelled"): void | Promise<void>;
  onNewLeader?(identity: string): void;
}

/**
 * What the elector needs of the API client: plain requests on the Lease. A seam: tests pass a
 * wrapper that fails them (a hung or partitioned leader) instead of a hook in this class.
 */
export type LeaseClient = Pick<ApiClient, "request">;

export function defaultIdentity(): string {
  return process.env.POD_NAME || `${hostname()}_${randomUUID().slice(0, 8)}`;
}

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  readonly identity: string;
  readonly namespace: string;
  readonly name: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly client: LeaseClient;
  private readonly log: Logger | undefined;
  private readonly metrics: Metrics | undefined;
  private observed: { holder: string; renewTime: string; seenAt: number; durationMs: number } | undefined;
  private leading = false;
  private lastLeader = "";
  private onNewLeader: ((identity: string) => void) | undefined;

  constructor(client: LeaseClient, opts: LeaderElectionOptions, extra: { logger?: Logger; metrics?: Metrics } = {}) {
    this.client = client;
    this.namespace = opts.namespace;
    this.name = opts.name ?? "pasv-operator";
    this.identity = opts.identity ?? defaultIdentity();
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseDurationMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryPeriodMs)) {
      throw new Error("leader election: need leaseDuration > renewDeadline > retryPeriod");
    }
    this.log = extra.logger?.child({ lease: `${this.namespace}/${this.name}`, identity: this.identity });
    this.metrics = extra.metrics;
  }

  /** the holder we last saw on the Lease ("" before the first look) */
  currentLeader(): string {
    return this.lastLeader;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /**
   * One term: wait until we acquire the Lease, lead until lost or `signal` aborts, then return.
   * Callers that want to lead again call run() again.
   */
  async run(signal: AbortSignal, cb: LeaderCallbacks): Promise<void> {
    this.onNewLeader = cb.onNewLeader ? (id) => cb.onNewLeader?.(id) : undefined;
    // acquire
    while (!signal.aborted) {
      if (await this.tryAcquireOrRenew()) break;
      await sleep(this.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
    if (signal.aborted) return;
    this.setLeading(true);
    this.log?.info("became leader");
    const term = new AbortController();
    let lost = false;
    let stopRenew = false;
    const renewLoop = (async () => {
      let lastRenew = Date.now();
      while (!stopRenew) {
        // not woken by a cancel of `signal`: we keep renewing while the caller drains
        await sleep(this.retryPeriodMs, term.signal);
        if (stopRenew) break;
        const ok = await this.tryAcquireOrRenew(Math.min(this.renewDeadlineMs, this.retryPeriodMs * 2));
        if (ok) lastRenew = Date.now();
        else if (this.observed && this.observed.holder !== this.identity) {
          lost = true; // someone else holds it now
          break;
        } else if (Date.now() - lastRenew > this.renewDeadlineMs) {
          lost = true;
          break;
        }
      }
      if (lost) term.abort();
    })();
    try {
      await cb.onStartedLeading(term.signal);
    } catch (err) {
      this.log?.error({ err: errInfo(err) }, "onStartedLeading failed");
    }
    // wait for loss or cancel
    await new Promise<void>((resolve) => {
      if (term.signal.aborted || signal.aborted) return resolve();
      term.signal.addEventListener("abort", () => resolve(), { once: true });
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    if (lost) {
      this.setLeading(false);
      this.log?.warn("leadership lost");
      stopRenew = true;
      await cb.onStoppedLeading("lost");
      await renewLoop;
      return;
    }
    // cancelled: drain while still renewing, then release
    await cb.onStoppedLeading("cancelled");
    stopRenew = true;
    term.abort();
    await renewLoop;
    if (!lost) await this.release();
    this.setLeading(false);
  }

  private setLeading(v: boolean) {
    this.leading = v;
    this.metrics?.leaderElectionStatus.set({ name: this.name }, v ? 1 : 0);
  }

  /** One attempt; true when we hold the Lease afterwards. */
  async tryAcquireOrRenew(timeoutMs = this.retryPeriodMs * 2): Promise<boolean> {
    const now = Date.now();
    const durationS = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    try {
      const lease = await this.client.request<Lease>("GET", `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`, { timeoutMs }).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (!lease) {
        await this.client.request("POST", `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`, {
          resource: Resources.Lease.plural, timeoutMs,
          body: {
            apiVersion: "coordination.k8s.io/v1", kind: "Lease",
            metadata: { name: this.name, namespace: this.namespace },
            spec: {
              holderIdentity: this.identity, leaseDurationSeconds: durationS,
              acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0,
            },
          },
        });
        this.observe(this.identity, microTime(now), now, durationS);
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? "";
      const renewTime = spec.renewTime ?? "";
      if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
        this.observe(holder, renewTime, now, (spec.leaseDurationSeconds ?? durationS));
      }
      const valid = holder !== "" && this.observed!.seenAt + this.observed!.durationMs > now;
      if (holder !== this.identity && valid) return false;
      const takeover = holder !== this.identity;
      const newSpec: LeaseSpec = {
        holderIdentity: this.identity,
        leaseDurationSeconds: durationS,
        acquireTime: takeover ? microTime(now) : (spec.acquireTime ?? microTime(now)),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (takeover && holder !== "" ? 1 : 0),
      };
      await this.client.request("PUT", `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`, {
        resource: Resources.Lease.plural, timeoutMs,
        body: { ...lease, spec: newSpec },
      });
      this.observe(this.identity, newSpec.renewTime!, now, durationS);
      if (takeover) this.log?.info({ previous: holder || "(released)" }, "took over lease");
      return true;
    } catch (err) {
      if (!isConflict(err)) this.log?.warn({ err: errInfo(err) }, "lease acquire/renew failed");
      return false;
    }
  }

  private observe(holder: string, renewTime: string, seenAt: number, durationS: number) {
    this.observed = { holder, renewTime, seenAt, durationMs: durationS * 1000 };
    if (holder && holder !== this.lastLeader) {
      this.lastLeader = holder;
      this.log?.info({ leader: holder }, "new leader observed");
      this.onNewLeader?.(holder);
    }
  }

  /** Give the Lease up (holder emptied) if we still hold it. */
  async release(): Promise<void> {
    try {
      const timeoutMs = this.renewDeadlineMs; // shutdown must not hang on a dead apiserver
      const lease = await this.client.request<Lease>("GET", `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`, { timeoutMs });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = Date.now();
      await this.client.request("PUT", `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`, {
        resource: Resources.Lease.plural, timeoutMs,
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(now), acquireTime: microTime(now) },
        },
      });
      this.log?.info("lease released");
    } catch (err) {
      this.log?.warn({ err: errInfo(err) }, "lease release failed");
    }
  }
}

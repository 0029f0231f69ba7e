// Core v1 Events (what `kubectl describe` shows), de-duplicated like client-go's recorder: the same
// (object, type, reason, message) within `dedupWindowMs` bumps `count` and `lastTimestamp` of the
// existing Event instead of creating a new one; repeats within `repeatIntervalMs` are only counted
// locally and folded into the next update (so a tight reconcile loop does not write on every pass).
import { hostname } from "node:os";
import type { Logger } from "pino";
import { isNotFound } from "./client.ts";
import type { ApiClient } from "./client.ts";
import { errInfo } from "./informer.ts";
import { Resources } from "./types.ts";
import type { KubeObject } from "./types.ts";

export type EventType = "Normal" | "Warning";

export interface EventRecorderOptions {
  /** source.component / reportingComponent; default "pasv-operator" */
  component?: string;
  /** reportingInstance / source.host; default the host name */
  instance?: string;
  /** how long a recorded Event is reused for repeats; default 10 min */
  dedupWindowMs?: number;
  /** repeats closer than this are not written at once; default 60 s (0 = write every repeat) */
  repeatIntervalMs?: number;
  logger?: Logger;
}

interface Cached {
  name: string;
  namespace: string;
  count: number;
  pending: number;
  first: number;
  lastWrite: number;
}

export class EventRecorder {
  private readonly client: ApiClient;
  private readonly component: string;
  private readonly instance: string;
  private readonly dedupWindowMs: number;
  private readonly repeatIntervalMs: number;
  private readonly log: Logger | undefined;
  private readonly cache = new Map<string, Cached>();
  private readonly chains = new Map<string, Promise<void>>();
  readonly stats = { created: 0, updated: 0, suppressed: 0, failed: 0 };

  constructor(client: ApiClient, opts: EventRecorderOptions = {}) {
    this.client = client;
    this.component = opts.component ?? "pasv-operator";
    this.instance = opts.instance ?? hostname();
    this.dedupWindowMs = opts.dedupWindowMs ?? 10 * 60_000;
    this.repeatIntervalMs = opts.repeatIntervalMs ?? 60_000;
    this.log = opts.logger;
  }

  /** Record an Event about `obj` (fire and forget: failures are logged, never thrown). */
  event(obj: KubeObject, type: EventType, reason: string, message: string): void {
    void this.record(obj, type, reason, message);
  }

  /** Same as `event`, resolving when the write (if any) is done. */
  record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const md = obj.metadata ?? {};
    const key = `${md.uid ?? `${md.namespace}/${md.name}`}\u0000${type}\u0000${reason}\u0000${message}`;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.write(key, obj, type, reason, message)).catch((err: unknown) => {
      this.stats.failed++;
      this.log?.warn({ err: errInfo(err), reason }, "recording event failed");
    });
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return next;
  }

  /** Wait for every pending write. */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  private async write(key: string, obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached && now - cached.first < this.dedupWindowMs) {
      if (now - cached.lastWrite < this.repeatIntervalMs) {
        cached.pending++;
        this.stats.suppressed++;
        return;
      }
      const count = cached.count + cached.pending + 1;
      try {
        await this.client.mergePatch(Resources.Event, cached.name, cached.namespace, {
          count, lastTimestamp: new Date(now).toISOString(),
        });
        cached.count = count;
        cached.pending = 0;
        cached.lastWrite = now;
        this.stats.updated++;
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        this.cache.delete(key); // expired on the server: create a new one
      }
    }
    const md = obj.metadata ?? {};
    const namespace = md.namespace || "default";
    const ts = new Date(now).toISOString();
    const name = `${md.name ?? "object"}.${now.toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
    const ev = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion, kind: obj.kind, name: md.name, namespace: md.namespace,
        uid: md.uid, resourceVersion: md.resourceVersion,
      },
      type, reason, message: message.slice(0, 1024),
      source: { component: this.component, host: this.instance },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    await this.client.create(Resources.Event, ev);
    this.stats.created++;
    this.cache.set(key, { name, namespace, count: 1, pending: 0, first: now, lastWrite: now });
    if (this.cache.size > 4096) {
      for (const [k, c] of this.cache) if (now - c.first >= this.dedupWindowMs) this.cache.delete(k);
      if (this.cache.size > 4096) this.cache.delete(this.cache.keys().next().value!);
    }
  }
}

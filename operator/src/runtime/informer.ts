// An informer that never silently dies: LIST (paginated) then WATCH from the list's resourceVersion;
// a watch that the server closes is resumed from the last resourceVersion; 410 Gone → relist at once;
// any other error (transport, 5xx, 403, parse) → relist after exponential backoff. A relist diffs the
// fresh list against the store and emits add/update/delete for what changed while disconnected.
//
// Written on our own list+watch loop because client-node's ListWatch stops on non-410 errors.
import type { Logger } from "pino";
import { ApiError, isGone } from "./client.ts";
import type { ApiClient } from "./client.ts";

/**
 * What an informer needs of the API client: LIST and the WATCH stream. A seam: tests wrap it to cut
 * or redirect watches (test/support/seams.ts) instead of calling hooks on this class.
 */
export type InformerClient = Pick<ApiClient, "list" | "stream">;
import { Backoff, sleep } from "./backoff.ts";
import type { Metrics } from "./metrics.ts";
import { collectionPath, formatLabelSelector, labelsMatch, objectKey } from "./types.ts";
import type { KubeObject, ResourceType } from "./types.ts";

export interface EventHandler<T> {
  onAdd?(obj: T): void;
  /** also called with old === new on periodic resync */
  onUpdate?(oldObj: T, newObj: T): void;
  /** `obj` is the last state the informer knew */
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  /** watch one namespace; default all namespaces */
  namespace?: string;
  /** server-side label selector ({app: "x"} or "app=x,tier!=db") */
  labelSelector?: Record<string, string> | string;
  fieldSelector?: string;
  /**
   * Called once on every object received (LIST items, watch ADDED/MODIFIED/DELETED) before it is
   * stored or handed to handlers: keep only what you read (slim.ts: `slimObject`, `slimPod`).
   * `null` = store objects as received. The Manager defaults it to `slimObject`.
   */
  transform?: ((obj: KubeObject) => KubeObject) | null;
  /** periodic resync: onUpdate(obj, obj) for every cached object; 0/undefined = off */
  resyncMs?: number;
  /** LIST page size (default 500) */
  pageSize?: number;
  /** backoff after errors (default 500 ms → 30 s) */
  backoff?: { initialMs?: number; maxMs?: number; resetAfterMs?: number };
  /** server-side watch timeout range in seconds (default 300–600, randomised per watch) */
  watchTimeoutSeconds?: [number, number];
  logger?: Logger;
  metrics?: Metrics;
}

type Indexer<T> = (obj: T) => string[];

/** Thrown by the watch loop when the server ends a watch with an ERROR event. */
class WatchStatusError extends ApiError {}

export class Informer<T extends KubeObject = KubeObject> {
  readonly type: ResourceType;
  private readonly client: InformerClient;
  private readonly opts: InformerOptions;
  private readonly store = new Map<string, T>();
  /** namespace → keys, so list({namespace}) does not scan every object */
  private readonly byNamespace = new Map<string, Set<string>>();
  private readonly handlers = new Set<EventHandler<T>>();
  private readonly indexers = new Map<string, Indexer<T>>();
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly log: Logger | undefined;
  private resourceVersion = "";
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private stopCtl: AbortController | undefined;
  private watchCtl: AbortController | undefined;
  private watching = false;
  private loop: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** counters for tests and debugging */
  readonly stats = { lists: 0, watches: 0, errors: 0, events: 0 };

  constructor(client: InformerClient, type: ResourceType, opts: InformerOptions = {}) {
    this.client = client;
    this.type = type;
    this.opts = opts;
    this.log = opts.logger?.child({ informer: type.plural, namespace: opts.namespace, selector: formatLabelSelector(opts.labelSelector) });
  }

  // ---- handlers and indices ----------------------------------------------------------------

  /**
   * Register handlers; returns an unsubscribe function. Objects already in the store are replayed
   * as adds, so a handler registered late misses nothing.
   */
  addHandler(h: EventHandler<T>): () => void {
    this.handlers.add(h);
    for (const obj of this.store.values()) this.call(() => h.onAdd?.(obj));
    return () => this.handlers.delete(h);
  }

  /** Add a secondary index: `fn` returns the index values of an object (e.g. owner UIDs). */
  addIndex(name: string, fn: Indexer<T>): void {
    this.indexers.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.indices.set(name, idx);
    for (const [key, obj] of this.store) for (const v of fn(obj)) addTo(idx, v, key);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  start(): void {
    if (this.loop) return;
    this.stopCtl = new AbortController();
    this.loop = this.run(this.stopCtl.signal);
    if (this.opts.resyncMs) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopCtl?.abort();
    this.watchCtl?.abort();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.loop;
    this.loop = undefined;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first LIST has landed in the store (or when `signal` aborts: then rejects). */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new Error(`${this.type.plural}: aborted before cache sync`));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  // ---- store reads -------------------------------------------------------------------------

  get(name: string, namespace?: string): T | undefined {
    return this.store.get(namespace && this.type.namespaced ? `${namespace}/${name}` : name);
  }

  getByKey(key: string): T | undefined {
    return this.store.get(key);
  }

  /** Cached objects, optionally in one namespace and/or matching an equality label selector. */
  list(filter: { namespace?: string; labels?: Record<string, string> } = {}): T[] {
    const out: T[] = [];
    const objs: Iterable<T> = filter.namespace === undefined
      ? this.store.values()
      : [...(this.byNamespace.get(filter.namespace) ?? [])].map((k) => this.store.get(k)!);
    for (const obj of objs) {
      if (filter.labels && !labelsMatch(obj.metadata?.labels, filter.labels)) continue;
      out.push(obj);
    }
    return out;
  }

  byIndex(name: string, value: string): T[] {
    const idx = this.indices.get(name);
    if (!idx) throw new Error(`${this.type.plural}: no index ${name}`);
    return [...(idx.get(value) ?? [])].map((k) => this.store.get(k)).filter((o): o is T => o !== undefined);
  }

  keys(): string[] {
    return [...this.store.keys()];
  }

  get size(): number {
    return this.store.size;
  }

  lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  /** true while a watch stream is open (the server answered 200) */
  isWatching(): boolean {
    return this.watching;
  }

  // ---- the loop ----------------------------------------------------------------------------

  private async run(stop: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.opts.backoff);
    let needList = true;
    while (!stop.aborted) {
      try {
        if (needList) await this.relist(stop);
        needList = false;
        await this.watchOnce(stop);
      } catch (err) {
        if (stop.aborted) break;
        needList = true;
        if (isGone(err)) {
          this.log?.info({ rv: this.resourceVersion }, "watch expired (410 Gone), relisting");
          continue;
        }
        this.stats.errors++;
        this.opts.metrics?.informerWatchErrors.inc({ resource: this.type.plural });
        const delay = backoff.next();
        this.log?.warn({ err: errInfo(err), retryInMs: delay }, "list/watch failed, will relist");
        await sleep(delay, stop);
      }
    }
  }

  private async relist(stop: AbortSignal): Promise<void> {
    this.stats.lists++;
    this.opts.metrics?.informerRelists.inc({ resource: this.type.plural });
    const items: T[] = [];
    let cont: string | undefined;
    let rv = "";
    let limit: number | undefined = this.opts.pageSize ?? 500;
    for (;;) {
      let page;
      try {
        page = await this.client.list<T>(this.type, {
          ...this.selectors(), limit, continue: cont, signal: stop,
        });
      } catch (err) {
        if (isGone(err) && cont) {
          // continue token expired mid-list: start over without paging
          items.length = 0;
          cont = undefined;
          limit = undefined;
          continue;
        }
        throw err;
      }
      // transform page by page: a full LIST of big objects is never held at once
      for (const obj of page.items) items.push(this.transform(obj));
      rv = page.metadata.resourceVersion ?? "";
      cont = page.metadata.continue || undefined;
      if (!cont) break;
    }
    this.replace(items, rv);
  }

  private selectors() {
    const s: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {};
    if (this.opts.namespace) s.namespace = this.opts.namespace;
    const ls = formatLabelSelector(this.opts.labelSelector);
    if (ls) s.labelSelector = ls;
    if (this.opts.fieldSelector) s.fieldSelector = this.opts.fieldSelector;
    return s;
  }

  private replace(items: T[], rv: string): void {
    const seen = new Set<string>();
    for (const obj of items) {
      // list items carry no apiVersion/kind; add them so consumers see complete objects
      obj.apiVersion ??= this.type.apiVersion;
      obj.kind ??= this.type.kind;
      seen.add(objectKey(obj));
      this.upsert(obj);
    }
    for (const [key, old] of [...this.store]) if (!seen.has(key)) this.remove(key, old);
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      this.log?.debug({ count: this.store.size }, "cache synced");
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(stop: AbortSignal): Promise<void> {
    const ctl = new AbortController();
    this.watchCtl = ctl;
    const signal = AbortSignal.any([stop, ctl.signal]);
    const [lo, hi] = this.opts.watchTimeoutSeconds ?? [300, 600];
    const timeoutSeconds = Math.round(lo + Math.random() * (hi - lo));
    const rv = this.resourceVersion;
    this.stats.watches++;
    const query = {
      ...this.selectors(), namespace: undefined, watch: true,
      resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds,
    };
    // If the server neither sends anything nor closes in time + 30 s, the connection is dead.
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ctl.abort(new Error("watch idle timeout")), (timeoutSeconds + 30) * 1000);
      idle.unref();
    };
    arm();
    try {
      const body = await this.client.stream(collectionPath(this.type, this.opts.namespace), query, signal);
      this.watching = true;
      const reader = body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          arm();
          buf += value;
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) this.handleWatchEvent(line);
          }
        }
      } finally {
        reader.cancel().catch(() => undefined);
      }
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("watch aborted");
    } catch (err) {
      if (ctl.signal.aborted && !stop.aborted) {
        const reason: unknown = ctl.signal.reason;
        throw reason instanceof Error ? reason : new Error(String(reason));
      }
      throw err;
    } finally {
      this.watching = false;
      clearTimeout(idle);
      ctl.abort(new Error("watch finished")); // closes the connection whatever happened
      if (this.watchCtl === ctl) this.watchCtl = undefined;
    }
    // clean end: the server closed the watch (timeoutSeconds); resume from the last rv
  }

  private handleWatchEvent(line: string): void {
    const ev = JSON.parse(line) as { type: string; object: T & { code?: number; message?: string; reason?: string } };
    this.stats.events++;
    const obj = ev.type === "ADDED" || ev.type === "MODIFIED" || ev.type === "DELETED" ? this.transform(ev.object) : ev.object;
    switch (ev.type) {
      case "ADDED":
      case "MODIFIED":
        this.upsert(obj);
        break;
      case "DELETED": {
        const key = objectKey(obj);
        this.remove(key, obj);
        break;
      }
      case "BOOKMARK":
        break;
      case "ERROR":
        throw new WatchStatusError(ev.object.code ?? 500, `watch ${this.type.plural}: ${ev.object.message ?? "error"}`, ev.object.reason, ev.object);
      default:
        return;
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
  }

  private transform(obj: T): T {
    const fn = this.opts.transform;
    if (!fn) return obj;
    obj.apiVersion ??= this.type.apiVersion;
    obj.kind ??= this.type.kind;
    return fn(obj) as T;
  }

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.store.get(key);
    if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    this.store.set(key, obj);
    if (!old) addTo(this.byNamespace, obj.metadata?.namespace ?? "", key);
    this.reindex(key, old, obj);
    for (const h of this.handlers) {
      if (old) this.call(() => h.onUpdate?.(old, obj));
      else this.call(() => h.onAdd?.(obj));
    }
  }

  private remove(key: string, last: T): void {
    const old = this.store.get(key);
    if (!old) return;
    this.store.delete(key);
    const nsKeys = this.byNamespace.get(old.metadata?.namespace ?? "");
    nsKeys?.delete(key);
    if (nsKeys?.size === 0) this.byNamespace.delete(old.metadata?.namespace ?? "");
    this.reindex(key, old, undefined);
    for (const h of this.handlers) this.call(() => h.onDelete?.(last));
  }

  private reindex(key: string, old: T | undefined, obj: T | undefined): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      if (old) {
        for (const v of fn(old)) {
          const set = idx.get(v);
          set?.delete(key);
          if (set?.size === 0) idx.delete(v);
        }
      }
      if (obj) for (const v of fn(obj)) addTo(idx, v, key);
    }
  }

  private resync(): void {
    if (!this.synced) return;
    for (const obj of this.store.values()) for (const h of this.handlers) this.call(() => h.onUpdate?.(obj, obj));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log?.error({ err: errInfo(err) }, "event handler threw");
    }
  }
}

function addTo(idx: Map<string, Set<string>>, v: string, key: string): void {
  let s = idx.get(v);
  if (!s) idx.set(v, (s = new Set()));
  s.add(key);
}

export function errInfo(err: unknown): { message: string; statusCode?: number; reason?: string } {
  if (err instanceof ApiError) return { message: err.message, statusCode: err.statusCode, ...(err.reason ? { reason: err.reason } : {}) };
  return { message: err instanceof Error ? err.message : String(err) };
}

/** Index function: UIDs of an object's owners (use with `informer.addIndex("owner", ownerUids)`). */
export function ownerUids(obj: KubeObject): string[] {
  return (obj.metadata?.ownerReferences ?? []).map((r) => r.uid);
}

// A controller: a work queue fed by informer events (mapped to keys), drained by N workers that
// call the reconciler. Errors and `requeue` go through per-key exponential backoff; success forgets
// the key's failures; `requeueAfterMs` schedules a later visit. Same key is never reconciled twice
// at once (the queue guarantees it). stop() stops taking work and waits for in-flight reconciles.
import type { Logger } from "pino";
import { errInfo } from "./informer.ts";
import type { Informer } from "./informer.ts";
import type { Metrics } from "./metrics.ts";
import { objectKey, splitKey } from "./types.ts";
import type { KubeObject } from "./types.ts";
import { ItemExponentialBackoff, WorkQueue } from "./workqueue.ts";

export interface Request {
  /** "namespace/name" (or "name" for cluster-scoped) */
  key: string;
  namespace?: string;
  name: string;
}

export interface Result {
  /** requeue with backoff (like an error, without counting one) */
  requeue?: boolean;
  /** visit again after this delay (backoff is reset) */
  requeueAfterMs?: number;
}

export interface ReconcileContext {
  /** aborted when the controller stops (e.g. lost leadership): stop writing */
  signal: AbortSignal;
  log: Logger | undefined;
}

export type Reconciler = (req: Request, ctx: ReconcileContext) => Promise<Result | void>;

/** Maps an object event to the keys to reconcile. */
export type MapFunc<T> = (obj: T) => string[] | string | undefined;

export interface WatchOptions<T> {
  /** return false to ignore an update (e.g. `generationChanged` for status-only updates) */
  updatePredicate?: (oldObj: T, newObj: T) => boolean;
}

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  /** concurrent reconciles (different keys); default 2 */
  workers?: number;
  metrics?: Metrics;
  logger?: Logger;
  /** per-key backoff; default 5 ms → 1000 s */
  backoff?: { baseMs?: number; maxMs?: number };
}

interface Source {
  informer: Informer<KubeObject>;
  map: MapFunc<KubeObject>;
}

export class Controller {
  readonly name: string;
  private readonly opts: ControllerOptions;
  private readonly log: Logger | undefined;
  private readonly sources: Source[] = [];
  private readonly backoff: ItemExponentialBackoff;
  private q: WorkQueue;
  private workers: Promise<void>[] = [];
  private stopCtl: AbortController | undefined;
  private running = false;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.opts = opts;
    this.log = opts.logger?.child({ controller: opts.name });
    this.backoff = new ItemExponentialBackoff(opts.backoff?.baseMs ?? 5, opts.backoff?.maxMs ?? 1_000_000);
    this.q = this.newQueue();
  }

  /** The current work queue (replaced on each start). */
  get queue(): WorkQueue {
    return this.q;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Enqueue the keys `map` returns for every add/update/delete of `informer`. */
  watch<T extends KubeObject>(informer: Informer<T>, map: MapFunc<T>, opts: WatchOptions<T> = {}): void {
    const enqueue = (obj: T) => {
      for (const k of toKeys(map(obj))) this.q.add(k);
    };
    informer.addHandler({
      onAdd: enqueue,
      onUpdate: (o, n) => {
        if (o === n || !opts.updatePredicate || opts.updatePredicate(o, n)) enqueue(n);
      },
      onDelete: enqueue,
    });
    this.sources.push({ informer: informer as unknown as Informer<KubeObject>, map: map as MapFunc<KubeObject> });
  }

  enqueue(key: string): void {
    this.q.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.q.addAfter(key, ms);
  }

  /** Start the workers. Everything the watched informers hold is enqueued (a full resync). */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.q.shuttingDown) this.q = this.newQueue();
    this.stopCtl = new AbortController();
    for (const s of this.sources) for (const obj of s.informer.list()) for (const k of toKeys(s.map(obj))) this.q.add(k);
    const n = Math.max(1, this.opts.workers ?? 2);
    this.log?.info({ workers: n }, "starting workers");
    for (let i = 0; i < n; i++) this.workers.push(this.worker(this.q, this.stopCtl.signal));
  }

  /** Stop taking work and wait until in-flight reconciles finish. The controller can start again. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.q.shutdown();
    this.stopCtl?.abort();
    await this.q.drain();
    await Promise.all(this.workers.splice(0));
    this.log?.info("workers stopped");
  }

  private newQueue(): WorkQueue {
    return new WorkQueue({
      name: this.name, rateLimiter: this.backoff, ...(this.opts.metrics ? { metrics: this.opts.metrics } : {}),
    });
  }

  private async worker(q: WorkQueue, signal: AbortSignal): Promise<void> {
    const m = this.opts.metrics;
    const labels = { controller: this.name };
    for (;;) {
      const key = await q.get();
      if (key === undefined) return;
      const req: Request = { key, ...splitKey(key) };
      const log = this.log?.child({ key });
      const end = m?.reconcileTime.startTimer(labels);
      m?.activeWorkers.inc(labels);
      let result: string;
      try {
        const res = await this.opts.reconcile(req, { signal, log });
        if (res?.requeueAfterMs !== undefined && res.requeueAfterMs > 0) {
          q.forget(key);
          q.addAfter(key, res.requeueAfterMs);
          result = "requeue_after";
        } else if (res?.requeue) {
          q.addRateLimited(key);
          result = "requeue";
        } else {
          q.forget(key);
          result = "success";
        }
      } catch (err) {
        result = "error";
        m?.reconcileErrors.inc(labels);
        q.addRateLimited(key);
        log?.error({ err: errInfo(err), retries: q.numRequeues(key) }, "reconcile failed");
      } finally {
        m?.activeWorkers.dec(labels);
        end?.();
        q.done(key);
      }
      m?.reconcileTotal.inc({ ...labels, result });
    }
  }
}

function toKeys(k: string[] | string | undefined): string[] {
  if (k === undefined) return [];
  return typeof k === "string" ? [k] : k;
}

// ---- map functions ------------------------------------------------------------------------------

/** The object's own key (for the controller's primary resource). */
export const enqueueSelf: MapFunc<KubeObject> = (obj) => objectKey(obj);

/**
 * The key of the owner of kind `kind` (and API group of `apiVersion`, if given) from
 * ownerReferences; with `controllerOnly` only the reference with controller: true counts.
 */
export function enqueueOwner(owner: { kind: string; apiVersion?: string }, opts: { controllerOnly?: boolean } = {}): MapFunc<KubeObject> {
  const group = owner.apiVersion ? groupOf(owner.apiVersion) : undefined;
  return (obj) => {
    const ns = obj.metadata?.namespace;
    return (obj.metadata?.ownerReferences ?? [])
      .filter((r) => r.kind === owner.kind && (group === undefined || groupOf(r.apiVersion) === group))
      .filter((r) => !opts.controllerOnly || r.controller === true)
      .map((r) => (ns ? `${ns}/${r.name}` : r.name));
  };
}

/** The key named by a label (e.g. "ftp.pasv.dev/server"), in the object's namespace. */
export function enqueueByLabel(nameLabel: string): MapFunc<KubeObject> {
  return (obj) => {
    const name = obj.metadata?.labels?.[nameLabel];
    if (!name) return undefined;
    const ns = obj.metadata?.namespace;
    return ns ? `${ns}/${name}` : name;
  };
}

/** Update predicate: only spec changes (metadata.generation), like controller-runtime's GenerationChangedPredicate. */
export function generationChanged(oldObj: KubeObject, newObj: KubeObject): boolean {
  return oldObj.metadata?.generation !== newObj.metadata?.generation;
}

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf("/");
  return i < 0 ? "" : apiVersion.slice(0, i);
}

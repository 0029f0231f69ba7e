// The Manager wires the runtime together, like controller-runtime's manager:
//   start(): informers start and the health/metrics server listens; once every cache has synced,
//            leader election campaigns (or, without it, controllers start at once). start() resolves
//            when caches are synced; leadership may come later (waitForLeadership()).
//   leading: controllers run their workers. Losing the Lease stops the workers (in-flight
//            reconciles finish, their signal is aborted), then the manager campaigns again.
//   stop():  (also on SIGTERM/SIGINT with handleSignals()) controllers stop taking work and finish
//            in-flight reconciles, the Lease is released, informers stop, events flush, HTTP closes.
import type { KubeConfigLike } from "./kubeconfig.ts";
import type { Logger } from "pino";
import { Applier } from "./apply.ts";
import { ApiClient } from "./client.ts";
import { Controller } from "./controller.ts";
import type { ControllerOptions } from "./controller.ts";
import { EventRecorder } from "./events.ts";
import type { EventRecorderOptions } from "./events.ts";
import { HealthServer } from "./http.ts";
import { Informer, errInfo } from "./informer.ts";
import type { InformerOptions } from "./informer.ts";
import { LeaderElector } from "./leader.ts";
import type { LeaderElectionOptions, LeaseClient } from "./leader.ts";
import { createLogger } from "./log.ts";
import { slimObject } from "./slim.ts";
import { Metrics } from "./metrics.ts";
import type { KubeObject, ResourceType } from "./types.ts";

export interface ManagerOptions {
  kubeConfig: KubeConfigLike;
  logger?: Logger;
  metrics?: Metrics;
  /** omit/false = no leader election (always leading) */
  leaderElection?: LeaderElectionOptions | false;
  /** omit = listen on 0.0.0.0:8080; false = no HTTP server */
  http?: { host?: string; port?: number } | false;
  events?: EventRecorderOptions;
  /** default LIST page size of the manager's informers (InformerOptions.pageSize; default 500) */
  listPageSize?: number;
  /** how long stop() waits for in-flight reconciles; default 30 s */
  gracefulShutdownMs?: number;
  /**
   * Called when leadership is lost, after every in-flight reconcile has ended (their requests are
   * aborted, so that is quick). main.ts exits here, like controller-runtime; without it the manager
   * campaigns again with a fresh queue — never while an old worker still runs.
   */
  onLostLeadership?: () => void;
  /** Seams for tests (production passes none). */
  seams?: ManagerSeams;
}

export interface ManagerSeams {
  /** the client the leader elector talks to the Lease with (default: the manager's client) */
  leaseClient?: LeaseClient;
}

export class Manager {
  readonly client: ApiClient;
  readonly applier: Applier;
  readonly events: EventRecorder;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly elector: LeaderElector | undefined;
  private readonly opts: ManagerOptions;
  private readonly informers: Informer<KubeObject>[] = [];
  private readonly controllers: Controller[] = [];
  private http: HealthServer | undefined;
  private httpPort = 0;
  private started = false;
  private stopping: Promise<void> | undefined;
  private readonly stopCtl = new AbortController();
  private electionLoop: Promise<void> | undefined;
  private leading = false;
  private leaderWaiters: (() => void)[] = [];
  private signalHandler: (() => void) | undefined;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.log = opts.logger ?? createLogger();
    this.metrics = opts.metrics ?? new Metrics({ defaultMetrics: true });
    this.client = new ApiClient(opts.kubeConfig, { metrics: this.metrics });
    this.applier = new Applier(this.client, { logger: this.log });
    this.events = new EventRecorder(this.client, { logger: this.log, ...opts.events });
    this.elector = opts.leaderElection
      ? new LeaderElector(opts.seams?.leaseClient ?? this.client, opts.leaderElection, { logger: this.log, metrics: this.metrics })
      : undefined;
  }

  /** A cache of `type`; started by start() (or at once if the manager already runs). */
  informer<T extends KubeObject = KubeObject>(type: ResourceType, opts: Omit<InformerOptions, "logger" | "metrics"> = {}): Informer<T> {
    // Caches keep only what the runtime reads (slim.ts): our managedFields entries, no last-applied.
    const transform = opts.transform === undefined ? (o: KubeObject) => slimObject(o, this.applier.fieldManager) : opts.transform;
    const pageSize = opts.pageSize ?? this.opts.listPageSize;
    const inf = new Informer<T>(this.client, type, { ...opts, transform, ...(pageSize ? { pageSize } : {}), logger: this.log, metrics: this.metrics });
    this.informers.push(inf as unknown as Informer<KubeObject>);
    if (this.started) inf.start();
    return inf;
  }

  /** A controller whose workers run while this manager leads. */
  controller(opts: Omit<ControllerOptions, "logger" | "metrics">): Controller {
    const c = new Controller({ ...opts, logger: this.log, metrics: this.metrics });
    this.controllers.push(c);
    if (this.leading) c.start();
    return c;
  }

  /** Caches synced (the manager can serve reads). */
  hasSynced(): boolean {
    return this.informers.every((i) => i.hasSynced());
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The port the health/metrics server listens on (0 before start or without HTTP). */
  get port(): number {
    return this.httpPort;
  }

  /** Readiness: caches synced; with leader election, leaders and standbys are both ready. */
  readyz(): true | string {
    if (this.stopping) return "shutting down";
    const unsynced = this.informers.filter((i) => !i.hasSynced()).map((i) => i.type.plural);
    if (unsynced.length) return `caches not synced: ${unsynced.join(", ")}`;
    return true;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error("manager already started");
    this.started = true;
    if (this.opts.http !== false) {
      this.http = new HealthServer({
        ...this.opts.http,
        registry: this.metrics.registry,
        healthz: () => true,
        readyz: () => this.readyz(),
      });
      this.httpPort = await this.http.start();
      this.log.info({ port: this.httpPort }, "health and metrics server listening");
    }
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.waitForSync(this.stopCtl.signal)));
    this.log.info({ informers: this.informers.length }, "caches synced");
    if (this.elector) {
      this.electionLoop = this.campaign(this.elector);
    } else {
      this.startControllers();
    }
  }

  /** Resolves when this manager leads (at once without leader election once started). */
  waitForLeadership(): Promise<void> {
    if (this.leading) return Promise.resolve();
    return new Promise((resolve) => this.leaderWaiters.push(resolve));
  }

  private startControllers(): void {
    this.leading = true;
    for (const c of this.controllers) c.start();
    for (const w of this.leaderWaiters.splice(0)) w();
  }

  private async stopControllers(reason: "lost" | "cancelled" = "cancelled"): Promise<void> {
    this.leading = false;
    const all = Promise.all(this.controllers.map((c) => c.stop()));
    // Lost: the workers' signals are aborted and with them their requests, so they end at once;
    // waiting for all of them (no timeout) means a new term never overlaps an old reconcile.
    if (reason === "lost") return void (await all);
    const ms = this.opts.gracefulShutdownMs ?? 30_000;
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((r) => (t = setTimeout(() => r("timeout"), ms)));
    const res = await Promise.race([all, timeout]);
    clearTimeout(t);
    if (res === "timeout") this.log.warn({ ms }, "in-flight reconciles did not finish in time");
  }

  private async campaign(elector: LeaderElector): Promise<void> {
    const signal = this.stopCtl.signal;
    while (!signal.aborted) {
      try {
        await elector.run(signal, {
          onStartedLeading: () => this.startControllers(),
          onStoppedLeading: async (reason) => {
            await this.stopControllers(reason);
            if (reason === "lost") this.opts.onLostLeadership?.();
          },
        });
      } catch (err) {
        this.log.error({ err: errInfo(err) }, "leader election failed");
        await new Promise((r) => setTimeout(r, elector.retryPeriodMs));
      }
    }
  }

  /** Graceful stop (idempotent). */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.log.info("shutting down");
    this.stopCtl.abort();
    if (this.electionLoop) await this.electionLoop; // drains controllers, then releases the Lease
    else await this.stopControllers();
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.events.flush();
    await this.http?.stop();
    this.client.close();
    if (this.signalHandler) {
      process.off("SIGTERM", this.signalHandler);
      process.off("SIGINT", this.signalHandler);
    }
    this.log.info("stopped");
  }

  /** Stop gracefully on SIGTERM/SIGINT, then exit (a second signal exits at once). */
  handleSignals(exit: (code: number) => void = (c) => process.exit(c)): void {
    let count = 0;
    this.signalHandler = () => {
      if (++count > 1) return exit(1);
      this.stop().then(
        () => exit(0),
        (err: unknown) => {
          this.log.error({ err: errInfo(err) }, "shutdown failed");
          exit(1);
        },
      );
    };
    process.on("SIGTERM", this.signalHandler);
    process.on("SIGINT", this.signalHandler);
  }
}

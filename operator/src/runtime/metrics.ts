// Prometheus metrics with controller-runtime's names, on a registry per Manager (so tests can run
// several managers in one process). Every runtime component takes an optional Metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<"controller" | "result">;
  readonly reconcileErrors: Counter<"controller">;
  readonly reconcileTime: Histogram<"controller">;
  readonly activeWorkers: Gauge<"controller">;
  readonly workqueueDepth: Gauge<"name">;
  readonly workqueueAdds: Counter<"name">;
  readonly workqueueRetries: Counter<"name">;
  readonly workqueueQueueDuration: Histogram<"name">;
  readonly workqueueWorkDuration: Histogram<"name">;
  readonly restRequests: Counter<"method" | "code">;
  readonly apiWrites: Counter<"verb" | "resource">;
  readonly informerRelists: Counter<"resource">;
  readonly informerWatchErrors: Counter<"resource">;
  readonly leaderElectionStatus: Gauge<"name">;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const r = (this.registry = new Registry());
    if (opts.defaultMetrics) collectDefaultMetrics({ register: r });
    this.reconcileTotal = new Counter({
      name: "controller_runtime_reconcile_total", help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"], registers: [r],
    });
    this.reconcileErrors = new Counter({
      name: "controller_runtime_reconcile_errors_total", help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"], registers: [r],
    });
    this.reconcileTime = new Histogram({
      name: "controller_runtime_reconcile_time_seconds", help: "Length of time per reconciliation per controller",
      labelNames: ["controller"], buckets: durationBuckets, registers: [r],
    });
    this.activeWorkers = new Gauge({
      name: "controller_runtime_active_workers", help: "Number of currently used workers per controller",
      labelNames: ["controller"], registers: [r],
    });
    this.workqueueDepth = new Gauge({
      name: "workqueue_depth", help: "Current depth of workqueue", labelNames: ["name"], registers: [r],
    });
    this.workqueueAdds = new Counter({
      name: "workqueue_adds_total", help: "Total number of adds handled by workqueue", labelNames: ["name"], registers: [r],
    });
    this.workqueueRetries = new Counter({
      name: "workqueue_retries_total", help: "Total number of retries handled by workqueue",
      labelNames: ["name"], registers: [r],
    });
    this.workqueueQueueDuration = new Histogram({
      name: "workqueue_queue_duration_seconds", help: "How long in seconds an item stays in workqueue before being requested",
      labelNames: ["name"], buckets: durationBuckets, registers: [r],
    });
    this.workqueueWorkDuration = new Histogram({
      name: "workqueue_work_duration_seconds", help: "How long in seconds processing an item from workqueue takes",
      labelNames: ["name"], buckets: durationBuckets, registers: [r],
    });
    this.restRequests = new Counter({
      name: "rest_client_requests_total", help: "Number of HTTP requests to the API server, partitioned by method and status code",
      labelNames: ["method", "code"], registers: [r],
    });
    this.apiWrites = new Counter({
      name: "pasv_operator_api_writes_total", help: "Mutating API requests (create/update/patch/apply/delete) by verb and resource",
      labelNames: ["verb", "resource"], registers: [r],
    });
    this.informerRelists = new Counter({
      name: "pasv_operator_informer_relists_total", help: "Full LISTs done by informers (start, 410 Gone, recovery after errors)",
      labelNames: ["resource"], registers: [r],
    });
    this.informerWatchErrors = new Counter({
      name: "pasv_operator_informer_watch_errors_total", help: "Informer list/watch failures (each is retried with backoff)",
      labelNames: ["resource"], registers: [r],
    });
    this.leaderElectionStatus = new Gauge({
      name: "leader_election_master_status", help: "1 while this process holds the lease, else 0",
      labelNames: ["name"], registers: [r],
    });
  }
}

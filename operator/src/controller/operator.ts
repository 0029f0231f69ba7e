// Assembles the operator: a runtime Manager (informers, leader election, /healthz /readyz
// /metrics, graceful shutdown) plus the FtpServer controller. main.ts calls it from flags; tests
// and the benchmark call it in-process.
import type { KubeConfigLike } from "../runtime/kubeconfig.ts";
import type { Logger } from "pino";
import { Manager } from "../runtime/manager.ts";
import type { LeaderElectionOptions } from "../runtime/leader.ts";
import type { ManagerSeams } from "../runtime/manager.ts";
import { setupFtpServerController, type FtpServerController, type ReconcilerOptions } from "./reconciler.ts";
import { setupFtpUserController, type FtpUserController } from "./ftpusers.ts";

export interface OperatorOptions extends ReconcilerOptions {
  kubeConfig: KubeConfigLike;
  logger?: Logger;
  leaderElection?: LeaderElectionOptions | false;
  /** health/metrics server; false = off */
  http?: { host?: string; port?: number } | false;
  gracefulShutdownMs?: number;
  /** informer LIST page size (default 500) */
  listPageSize?: number;
  /** called once leadership is lost and every in-flight reconcile has ended (main.ts exits) */
  onLostLeadership?: () => void;
  /** test seams of the runtime (the reconciler's are `seams`) */
  managerSeams?: ManagerSeams;
}

export interface Operator extends FtpServerController {
  manager: Manager;
  /** FtpUsers merged into each FtpServer's users file (ftpusers.ts) */
  users: FtpUserController;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createOperator(opts: OperatorOptions): Operator {
  const manager = new Manager({
    kubeConfig: opts.kubeConfig,
    ...(opts.logger ? { logger: opts.logger } : {}),
    leaderElection: opts.leaderElection ?? false,
    http: opts.http ?? { port: 8080 },
    ...(opts.gracefulShutdownMs !== undefined ? { gracefulShutdownMs: opts.gracefulShutdownMs } : {}),
    ...(opts.listPageSize !== undefined ? { listPageSize: opts.listPageSize } : {}),
    ...(opts.onLostLeadership ? { onLostLeadership: opts.onLostLeadership } : {}),
    ...(opts.managerSeams ? { seams: opts.managerSeams } : {}),
  });
  const ctl = setupFtpServerController(manager, opts);
  const users = setupFtpUserController(manager, {
    servers: ctl.informers.servers, pods: ctl.informers.pods,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
  });
  return { ...ctl, users, manager, start: () => manager.start(), stop: () => manager.stop() };
}

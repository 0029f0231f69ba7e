// pasv-operator entry point.
//
//   node operator/src/main.ts [flags]      (--help lists them all; they live in flags.ts)
//
//   --kubeconfig PATH            default: the $KUBECONFIG list merged, ~/.kube/config, else in-cluster service account
//   --context NAME               kubeconfig context (default: its current-context)
//   --namespace NS               watch one namespace (default: $WATCH_NAMESPACE, else cluster-wide)
//   --leader-elect / --no-leader-elect        default on ($LEADER_ELECT=false turns it off)
//   --leader-election-namespace NS            default $POD_NAMESPACE, else the watched namespace, else "default"
//   --leader-election-id NAME    Lease name (default pasv-operator)
//   --lease-duration S / --renew-deadline S / --retry-period S   default 15 / 10 / 2 (duration > deadline > period;
//                                chart values leaderElection.leaseDurationSeconds / renewDeadlineSeconds / retryPeriodSeconds)
//   --health-port PORT           /healthz /readyz /metrics (default 8080; 0 = any free port)
//   --health-host HOST           default 0.0.0.0
//   --workers N                  concurrent reconciles (default 8)
//   --workload-readiness pods|applied   what Ready waits for (default pods; `applied` for control planes without kubelets)
//   --max-ports-per-endpointslice N     default 1000 (use 100 on clusters older than the #99795 backports)
//   --nodeport-pool-size N       size of the cluster's NodePort range (default 2768)
//   --resync-period SECONDS      periodic re-check of every FtpServer (default 600; 0 = off)
//   --ftp-server-image IMAGE     image of FtpServers without spec.image (default $PASV_FTP_SERVER_IMAGE, else
//                                version.ts DEFAULT_FTP_SERVER_IMAGE; the chart sets it from its appVersion)
//   --list-page-size N           informer LIST page size (default 100: smaller pages = lower peak memory at start)
// Logs: pino JSON on stdout, level from $LOG_LEVEL. Losing the leader Lease exits with status 1.
import { loadDefaultKubeConfig, loadKubeConfigFile } from "./runtime/kubeconfig.ts";
import { parseOperatorFlags } from "./flags.ts";
import { createLogger } from "./runtime/log.ts";
import { createOperator } from "./controller/operator.ts";
import { DEFAULT_FTP_SERVER_IMAGE } from "./version.ts";

const values = parseOperatorFlags();

function int(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name}: not a non-negative integer: ${v}`);
    process.exit(2);
  }
  return n;
}

const ftpServerImage = values["ftp-server-image"] ?? (process.env.PASV_FTP_SERVER_IMAGE || DEFAULT_FTP_SERVER_IMAGE);
if (!/^\S{1,512}$/.test(ftpServerImage)) {
  console.error(`--ftp-server-image: an image reference (1-512 characters, no spaces): ${JSON.stringify(ftpServerImage)}`);
  process.exit(2);
}

const log = createLogger();
const kc = values.kubeconfig ? loadKubeConfigFile(values.kubeconfig, values.context) : loadDefaultKubeConfig(values.context);

const namespace = values.namespace ?? (process.env.WATCH_NAMESPACE || undefined);
const leaderElect = values["no-leader-elect"] ? false : (values["leader-elect"] ?? process.env.LEADER_ELECT !== "false");
const readiness = values["workload-readiness"];
if (readiness !== "pods" && readiness !== "applied") {
  console.error("--workload-readiness: pods or applied");
  process.exit(2);
}

const lease = { duration: Number(values["lease-duration"]), renew: Number(values["renew-deadline"]), retry: Number(values["retry-period"]) };
if (!(lease.retry > 0 && lease.renew > lease.retry && lease.duration > lease.renew)) {
  console.error("--lease-duration > --renew-deadline > --retry-period > 0 is required (seconds)");
  process.exit(2);
}

const op = createOperator({
  kubeConfig: kc,
  logger: log,
  ...(namespace ? { namespace } : {}),
  leaderElection: leaderElect
    ? {
        namespace: values["leader-election-namespace"] ?? (process.env.POD_NAMESPACE || namespace || "default"),
        name: values["leader-election-id"],
        leaseDurationMs: lease.duration * 1000,
        renewDeadlineMs: lease.renew * 1000,
        retryPeriodMs: lease.retry * 1000,
      }
    : false,
  http: { host: values["health-host"], port: int("health-port", values["health-port"]) },
  workers: Math.max(1, int("workers", values.workers)),
  workloadReadiness: readiness,
  maxPortsPerSlice: Math.max(1, int("max-ports-per-endpointslice", values["max-ports-per-endpointslice"])),
  nodePortPool: int("nodeport-pool-size", values["nodeport-pool-size"]),
  resyncMs: int("resync-period", values["resync-period"]) * 1000,
  listPageSize: Math.max(1, int("list-page-size", values["list-page-size"])),
  defaultServerImage: ftpServerImage,
  // Like controller-runtime: a replica that lost its Lease exits (its in-flight requests were
  // aborted when the loss was detected, before another replica can take over) and restarts fresh.
  onLostLeadership: () => {
    log.error("leadership lost: exiting");
    process.exit(1);
  },
});
op.manager.handleSignals();
log.info({ namespace: namespace ?? "(all)", leaderElect, readiness, ftpServerImage }, "pasv-operator starting");
await op.start();

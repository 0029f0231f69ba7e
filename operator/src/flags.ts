// The operator's command-line flags: one table that parses them and prints `--help`, so the help
// lists every flag there is (test/unit/operator/flags.test.ts runs `main.ts --help` and checks).
import { parseArgs } from "node:util";
import { DEFAULT_FTP_SERVER_IMAGE } from "./version.ts";

interface Flag {
  type: "string" | "boolean";
  default?: string;
  short?: string;
  /** shown by --help; the value's name comes first for string flags ("PATH  what it is") */
  help: string;
}

export const OPERATOR_FLAGS = {
  kubeconfig: { type: "string", help: "PATH  kubeconfig file (default: the $KUBECONFIG list merged as kubectl does, else ~/.kube/config, else the in-cluster service account)" },
  context: { type: "string", help: "NAME  kubeconfig context (default: its current-context)" },
  namespace: { type: "string", help: "NS  watch one namespace (default: $WATCH_NAMESPACE, else cluster-wide)" },
  "leader-elect": { type: "boolean", help: "elect a leader on a Lease (default on; $LEADER_ELECT=false turns it off)" },
  "no-leader-elect": { type: "boolean", help: "run without leader election (one replica only)" },
  "leader-election-namespace": { type: "string", help: "NS  namespace of the Lease (default: $POD_NAMESPACE, else the watched namespace, else default)" },
  "leader-election-id": { type: "string", default: "pasv-operator", help: "NAME  Lease name" },
  "lease-duration": { type: "string", default: "15", help: "SECONDS  lease duration (> renew deadline > retry period)" },
  "renew-deadline": { type: "string", default: "10", help: "SECONDS  a leader that cannot renew for this long steps down" },
  "retry-period": { type: "string", default: "2", help: "SECONDS  how often candidates try the Lease" },
  "health-port": { type: "string", default: "8080", help: "PORT  /healthz /readyz /metrics (0 = any free port)" },
  "health-host": { type: "string", default: "0.0.0.0", help: "HOST  address the health/metrics server listens on" },
  workers: { type: "string", default: "8", help: "N  concurrent reconciles" },
  "workload-readiness": { type: "string", default: "pods", help: "pods|applied  what Ready waits for (applied: control planes without kubelets)" },
  "max-ports-per-endpointslice": { type: "string", default: "1000", help: "N  ports per EndpointSlice (100 on clusters older than the #99795 backports)" },
  "nodeport-pool-size": { type: "string", default: "2768", help: "N  size of the cluster's NodePort range" },
  "resync-period": { type: "string", default: "600", help: "SECONDS  periodic re-check of every FtpServer (0 = off)" },
  "ftp-server-image": {
    type: "string",
    help: `IMAGE  image of FtpServers without spec.image; changing it rolls their pods (default: $PASV_FTP_SERVER_IMAGE, else ${DEFAULT_FTP_SERVER_IMAGE})`,
  },
  "list-page-size": { type: "string", default: "100", help: "N  informer LIST page size (smaller pages = lower peak memory at start)" },
  help: { type: "boolean", short: "h", help: "print this help and exit" },
} as const satisfies Record<string, Flag>;

export function helpText(flags: Record<string, Flag> = OPERATOR_FLAGS): string {
  const rows = Object.entries(flags).map(([name, f]) => {
    const [arg, ...rest] = f.type === "string" ? f.help.split("  ") : ["", f.help];
    const left = `${f.short ? `-${f.short}, ` : "    "}--${name}${arg ? ` ${arg}` : ""}`;
    const def = f.default !== undefined ? ` (default ${f.default})` : "";
    return { left, right: rest.join("  ") + def };
  });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  return [
    "Usage: pasv-operator [flags]",
    "",
    "Runs FtpServer resources: FTP-server pods, a Service for the control port and the passive range,",
    "EndpointSlices that route each passive port to the pod that owns it.",
    "",
    "Flags:",
    ...rows.map((r) => `  ${r.left.padEnd(width)}${r.right}`),
    "",
    "Environment: LOG_LEVEL (pino level, default info), KUBECONFIG, WATCH_NAMESPACE, LEADER_ELECT, POD_NAMESPACE, PASV_FTP_SERVER_IMAGE.",
    "",
  ].join("\n");
}

/** Parse argv; --help prints the help and exits 0, a bad flag prints why and exits 2. */
export function parseOperatorFlags(args: string[] = process.argv.slice(2)) {
  let values;
  try {
    ({ values } = parseArgs({ args, options: OPERATOR_FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    process.stderr.write(`pasv-operator: ${(err as Error).message}\nRun with --help for the flags.\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(helpText());
    process.exit(0);
  }
  return values;
}

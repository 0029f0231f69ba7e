// Helpers for the chart's integration tests (chart-*.test.ts): the pinned helm and kubectl
// binaries from the build cache, a kubeconfig for a ServiceAccount token, and the operator run as
// a local process with exactly the arguments and environment of the chart's Deployment.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { eventually as pollUntil } from "../support/eventually.ts";
import { freePort } from "../support/ports.ts";

export const ROOT = resolve(import.meta.dirname, "../..");
export const CHART = join(ROOT, "charts/pasv-operator");

/** Paths of the pinned binaries (built on first use, then cached outside the checkout). */
export function tools(): { helm: string; kubectl: string } {
  const helm = execFileSync(join(ROOT, "test/tools/helm/build.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  const bin = execFileSync(join(ROOT, "test/cluster/build.sh"), ["control-plane"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  return { helm, kubectl: join(bin, "kubectl") };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

/** Run and fail with the command's output when it exits non-zero. */
export async function must(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd.split("/").pop()} ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Polls with the chart tests' longer default timeout (helm and RBAC round-trips). */
export function eventually<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  return pollUntil(what, fn, timeoutMs, everyMs);
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    generation?: number;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    managedFields?: { manager: string; operation: string; subresource?: string; fieldsV1?: Record<string, unknown> }[];
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

/** Every document of a multi-document YAML stream (empty documents dropped). */
export function parseDocs(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((d): d is K8sObject => d !== null && typeof d === "object");
}

/** kubectl and helm bound to one kubeconfig. */
export class Kube {
  readonly kubeconfig: string;
  readonly kubectlBin: string;
  readonly helmBin: string;
  constructor(kubeconfig: string, bins = tools()) {
    this.kubeconfig = kubeconfig;
    this.kubectlBin = bins.kubectl;
    this.helmBin = bins.helm;
  }
  kubectl(args: string[], input?: string): Promise<string> {
    return must(this.kubectlBin, ["--kubeconfig", this.kubeconfig, ...args], input !== undefined ? { input } : {});
  }
  kubectlRun(args: string[], input?: string): Promise<RunResult> {
    return run(this.kubectlBin, ["--kubeconfig", this.kubeconfig, ...args], input !== undefined ? { input } : {});
  }
  helm(args: string[]): Promise<string> {
    // HELM_* homes inside the test's temp dir: no state in the user's home.
    return must(this.helmBin, ["--kubeconfig", this.kubeconfig, ...args], { env: helmEnv(this.kubeconfig) });
  }
  helmRun(args: string[]): Promise<RunResult> {
    return run(this.helmBin, ["--kubeconfig", this.kubeconfig, ...args], { env: helmEnv(this.kubeconfig) });
  }
  async get(kind: string, name: string, namespace?: string): Promise<K8sObject | undefined> {
    const r = await this.kubectlRun(["get", kind, name, ...(namespace ? ["-n", namespace] : []), "-o", "json", "--show-managed-fields", "--ignore-not-found"]);
    if (r.code !== 0) throw new Error(`kubectl get ${kind} ${name}: ${r.stderr}`);
    return r.stdout.trim() ? (JSON.parse(r.stdout) as K8sObject) : undefined;
  }
  /** `resource` may name a subresource after a slash: ftpservers.ftp.pasv.dev/status. */
  async canI(verb: string, resource: string, namespace?: string): Promise<boolean> {
    const [res = resource, sub] = /\/(status|finalizers|scale)$/.test(resource) ? resource.split("/") : [resource];
    const r = await this.kubectlRun([
      "auth", "can-i", verb, res, ...(sub ? [`--subresource=${sub}`] : []), ...(namespace ? ["-n", namespace] : ["--all-namespaces"]),
    ]);
    return r.stdout.trim() === "yes";
  }
}

function helmEnv(kubeconfig: string): NodeJS.ProcessEnv {
  const dir = `${kubeconfig}.helm`;
  return { HELM_CACHE_HOME: `${dir}/cache`, HELM_CONFIG_HOME: `${dir}/config`, HELM_DATA_HOME: `${dir}/data` };
}

/**
 * A kubeconfig that authenticates as a ServiceAccount with a token from the TokenRequest API
 * (`kubectl create token`): the cluster's server and CA from the admin kubeconfig, nothing else.
 */
export async function serviceAccountKubeconfig(admin: Kube, namespace: string, sa: string, out: string): Promise<string> {
  const token = (await admin.kubectl(["create", "token", sa, "-n", namespace, "--duration=1h"])).trim();
  const view = JSON.parse(await admin.kubectl(["config", "view", "--raw", "--minify", "--flatten", "-o", "json"])) as {
    clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
  };
  const cluster = view.clusters[0]?.cluster;
  if (!cluster) throw new Error("admin kubeconfig has no cluster");
  writeFileSync(
    out,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "local", cluster: { server: cluster.server, "certificate-authority-data": cluster["certificate-authority-data"] } }],
      users: [{ name: `system:serviceaccount:${namespace}:${sa}`, user: { token } }],
      contexts: [{ name: "sa", context: { cluster: "local", user: `system:serviceaccount:${namespace}:${sa}`, namespace } }],
      "current-context": "sa",
    }),
    { mode: 0o600 },
  );
  return out;
}

/** Re-exported: callers of this module pick ports for the servers they start. */
export { freePort };

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

/** The operator container of the chart's Deployment in a rendered manifest. */
export function operatorContainer(manifest: string): { args: string[]; env: EnvVar[]; deployment: K8sObject } {
  const deployment = parseDocs(manifest).find((d) => d.kind === "Deployment");
  if (!deployment) throw new Error("no Deployment in the manifest");
  const pod = (deployment.spec?.template as { spec: { containers: { name: string; args?: string[]; env?: EnvVar[] }[] } }).spec;
  const c = pod.containers.find((x) => x.name === "operator");
  if (!c) throw new Error("no operator container");
  return { args: c.args ?? [], env: c.env ?? [], deployment };
}

export interface LocalOperator {
  child: ChildProcess;
  port: number;
  podName: string;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Run operator/src/main.ts as the chart's Deployment would run it: the container's args and env
 * from the rendered manifest ($(VAR) expanded, fieldRefs resolved as the kubelet would for pod
 * `podName`), the ServiceAccount's kubeconfig instead of the in-cluster token, and the health
 * port moved to a free local port (`extraArgs` are appended; the last flag wins).
 */
export async function startChartOperator(manifest: string, kubeconfig: string, podName: string, namespace: string, extraArgs: string[] = []): Promise<LocalOperator> {
  const { args, env } = operatorContainer(manifest);
  const vars: Record<string, string> = {};
  for (const e of env) {
    if (e.value !== undefined) vars[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.name") vars[e.name] = podName;
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") vars[e.name] = namespace;
    else throw new Error(`env ${e.name}: unsupported source`);
  }
  const expand = (s: string) => s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => vars[v] ?? m);
  const port = await freePort();
  const argv = [
    join(ROOT, "operator/src/main.ts"),
    ...args.map(expand).filter((a) => !a.startsWith("--health-port=")),
    `--health-port=${port}`,
    "--health-host=127.0.0.1",
    "--kubeconfig", kubeconfig,
    ...extraArgs,
  ];
  const child = spawn(process.execPath, argv, {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...vars },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    port,
    podName,
    logs: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** GET http://127.0.0.1:port/path → status code (0 when not listening). */
export async function httpStatus(port: number, path: string): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

export function conditions(obj: K8sObject | undefined): Condition[] {
  return ((obj?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []);
}

/** kstatus "Current": observedGeneration caught up, Ready True, neither Reconciling nor Stalled True. */
export function isCurrent(obj: K8sObject | undefined): boolean {
  if (!obj) return false;
  const st = obj.status as { observedGeneration?: number } | undefined;
  const conds = conditions(obj);
  const is = (t: string) => conds.find((c) => c.type === t)?.status === "True";
  return st?.observedGeneration === obj.metadata.generation && is("Ready") && !is("Reconciling") && !is("Stalled");
}

export function yamlDoc(text: string): K8sObject {
  return parse(text) as K8sObject;
}

// Helpers shared by the operator's integration tests and benchmark: one call that sets up a test's
// environment (control plane, client, CRDs, namespace, users Secrets, operator) and one that tears
// it down; install CRDs, poll, read plain JSON objects through the runtime's client.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { parse } from "yaml";
import { CRD_PATH, FTPUSER_CRD_PATH } from "../../operator/src/api/crd-gen.ts";
import { FtpUsers } from "../../operator/src/controller/ftpusers.ts";
import { createOperator, type Operator, type OperatorOptions } from "../../operator/src/controller/operator.ts";
import { ApiClient } from "../../operator/src/runtime/client.ts";
import { Resources, type KubeObject, type ResourceType } from "../../operator/src/runtime/types.ts";
import { FtpServers } from "../../operator/src/controller/reconciler.ts";
import type { ClusterOptions } from "../cluster/cluster.ts";
import { startTestCluster, type TestCluster } from "../cluster/harness.ts";
import { eventually, within } from "../support/eventually.ts";

export { FtpServers, FtpUsers };

export { eventually };

/** A CRD to install for a test, and the resource it serves (listed until the API server serves it). */
export interface TestCrd {
  crd: KubeObject;
  served: ResourceType;
}

/** The operator's generated CRDs (FtpServer, FtpUser: the operator watches both). */
export function operatorCrds(): TestCrd[] {
  return [
    { crd: parse(readFileSync(CRD_PATH, "utf8")) as KubeObject, served: FtpServers },
    { crd: parse(readFileSync(FTPUSER_CRD_PATH, "utf8")) as KubeObject, served: FtpUsers },
  ];
}

/** How long the set-up waits for a CRD to be Established and served (eventually's timeout and interval). */
export interface CrdWait {
  timeoutMs?: number;
  everyMs?: number;
}

/** Create (or keep) each CRD and wait until it is Established, then until its resource lists. */
export async function installCrds(client: ApiClient, crds: readonly TestCrd[], wait: CrdWait = {}): Promise<void> {
  const { timeoutMs = 30_000, everyMs = 200 } = wait;
  for (const { crd } of crds) {
    try {
      await client.create(Resources.CustomResourceDefinition, crd);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
    }
    await eventually(`CRD ${crd.metadata!.name} established`, async () => {
      const got = await client.get(Resources.CustomResourceDefinition, crd.metadata!.name!);
      const conds = (got?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
      return conds.some((c) => c.type === "Established" && c.status === "True");
    }, timeoutMs, everyMs);
  }
  // The discovery/OpenAPI handlers lag Established a little: wait until a list works.
  for (const { served } of crds) {
    await eventually(`${served.plural} served`, async () => (await client.list(served, { limit: 1 })).items !== undefined, timeoutMs, everyMs);
  }
}

/** Create (or keep) the generated CRDs (FtpServer, FtpUser) and wait until they are Established and served. */
export function installCrd(client: ApiClient): Promise<void> {
  return installCrds(client, operatorCrds());
}

/** What the in-process operators of the integration tests run with, unless a test says otherwise. */
export function testOperatorDefaults(): Omit<OperatorOptions, "kubeConfig"> {
  return {
    logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
    http: { host: "127.0.0.1", port: 0 },
    leaderElection: false,
    workloadReadiness: "applied",
    workers: 2,
  };
}

export type TestOperatorOptions = Partial<Omit<OperatorOptions, "kubeConfig">>;

/** What differs between the test files' environments; every part is optional. */
export interface TestEnvOptions {
  /** How the control plane starts (startTestCluster's options): extra apiserver args, no controller manager, ... */
  cluster?: Partial<ClusterOptions>;
  /** CRDs to install and wait for; default: the operator's (operatorCrds()); [] for none. */
  crds?: readonly TestCrd[];
  /** The bounds of the CRD waits (default: eventually's, 30 s every 200 ms). */
  crdWait?: CrdWait;
  /** A namespace to create (or keep), after the CRDs. */
  namespace?: string;
  /** Valid users Secrets (VALID_USERS_JSON) to create in `namespace`: the operator validates one before it applies anything. */
  usersSecrets?: readonly string[];
  /** An in-process operator, started last: true for testOperatorDefaults(), or options over them. */
  operator?: boolean | TestOperatorOptions;
}

/** A test file's environment: what startTestEnv started, and the one call that stops it. */
export interface TestEnv {
  cluster: TestCluster;
  /** A client with the cluster's admin credentials (closed by stop()). */
  client: ApiClient;
  /** The operator the env started last (options.operator or startOperator()); throws if it started none. */
  readonly operator: Operator;
  /**
   * Starts an in-process operator with the env's operator options and `overrides` over them (a
   * restart with a new flag, as `helm upgrade` does); it becomes `operator`, and stop() stops it.
   */
  startOperator(overrides?: TestOperatorOptions): Promise<Operator>;
  /**
   * Runs the operator as a real process (node operator/src/main.ts) against the cluster: its
   * kubeconfig, health server on a free loopback port, Ready once the children are applied (no
   * kubelet), POD_NAME=`name` (its leader-election identity), log in the cluster's dir as
   * operator-`name`.log; `args` add flags (--namespace NS for the watch scope, --no-leader-elect, ...).
   */
  spawnOperator(name: string, args?: readonly string[]): ChildProcess;
  /** The operator processes spawned by spawnOperator() that have not exited. */
  runningProcesses(): ChildProcess[];
  /**
   * Stops everything the env started: each running operator process (SIGTERM, SIGKILL after 15 s),
   * each in-process operator (again: a second stop is a no-op), the client, the cluster.
   */
  stop(): Promise<void>;
}

const OPERATOR_MAIN = fileURLToPath(new URL("../../operator/src/main.ts", import.meta.url));

/** Signals `p` and waits (bounded) for its exit; a process still running after `timeoutMs` is SIGKILLed and the wait fails. */
export async function signalAndWait(p: ChildProcess, sig: NodeJS.Signals = "SIGKILL", timeoutMs = 15_000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once("exit", r));
  p.kill(sig);
  try {
    await within(`operator pid ${p.pid} exits after ${sig}`, gone, timeoutMs);
  } catch (err) {
    p.kill("SIGKILL");
    throw err;
  }
}

/**
 * Sets up a test file's environment in one call: a control plane (test/cluster/harness.ts), an
 * admin client, the CRDs (Established and served), the namespace, the users Secrets, then the
 * operator. If a step fails, what was started is stopped again before the error is thrown (a
 * failed before() leaves no apiserver behind for after() to miss).
 *
 *   before(async () => {
 *     env = await startTestEnv({ namespace: ns, usersSecrets: ["u"], operator: { workers: 4 } });
 *     ({ client, operator: op } = env);
 *   });
 *   after(() => env?.stop());
 */
export async function startTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  if (opts.usersSecrets?.length && opts.namespace === undefined) throw new Error("startTestEnv: usersSecrets need a namespace");
  const cluster = await startTestCluster(opts.cluster);
  const client = newClient(cluster.kubeConfig);
  const operatorOptions = { ...testOperatorDefaults(), ...(typeof opts.operator === "object" ? opts.operator : {}) };
  const started: Operator[] = [];
  const processes = new Set<ChildProcess>();
  const env: TestEnv = {
    cluster,
    client,
    get operator() {
      const op = started.at(-1);
      if (!op) throw new Error("startTestEnv started no operator (pass `operator`, or call startOperator())");
      return op;
    },
    async startOperator(overrides = {}) {
      const op = createOperator({ ...operatorOptions, ...overrides, kubeConfig: cluster.kubeConfig });
      started.push(op);
      await op.start();
      return op;
    },
    spawnOperator(name, args = []) {
      const log = createWriteStream(join(cluster.dir || "/tmp", `operator-${name}.log`), { flags: "a" });
      const p = spawn(
        process.execPath,
        [OPERATOR_MAIN, "--kubeconfig", cluster.kubeconfigPath, "--health-host", "127.0.0.1", "--health-port", "0", "--workload-readiness", "applied", ...args],
        { env: { ...process.env, POD_NAME: name, LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"] },
      );
      p.stdout.pipe(log);
      p.stderr.pipe(log);
      processes.add(p);
      p.once("exit", () => processes.delete(p));
      return p;
    },
    runningProcesses: () => [...processes],
    async stop() {
      // Everything is stopped even if one part fails; the first failure is thrown at the end.
      const failures: unknown[] = [];
      // A process that ignores SIGTERM is killed; teardown is not what these tests assert.
      for (const p of [...processes]) await signalAndWait(p, "SIGTERM").catch(() => undefined);
      for (const op of [...started].reverse()) await op.stop().catch((err: unknown) => failures.push(err));
      client.close();
      await cluster.stop().catch((err: unknown) => failures.push(err));
      if (failures.length) throw failures[0];
    },
  };
  try {
    await installCrds(client, opts.crds ?? operatorCrds(), opts.crdWait);
    if (opts.namespace !== undefined) {
      await ensureNamespace(client, opts.namespace);
      await ensureUsersSecrets(client, opts.namespace, ...(opts.usersSecrets ?? []));
    }
    if (opts.operator) await env.startOperator();
  } catch (err) {
    await env.stop().catch(() => undefined);
    throw err;
  }
  return env;
}

export async function ensureNamespace(client: ApiClient, name: string): Promise<void> {
  try {
    await client.create(Resources.Namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 409) throw err;
  }
}

export function newClient(kc: KubeConfig): ApiClient {
  return new ApiClient(kc);
}

export function condition(obj: KubeObject | undefined, type: string): { status: string; reason: string; message: string } | undefined {
  const conds = (obj?.status as { conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined)?.conditions;
  return conds?.find((c) => c.type === type);
}

export function ftpServerObject(name: string, namespace: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: FtpServers.apiVersion, kind: FtpServers.kind, metadata: { name, namespace }, spec };
}

/**
 * A users file the FTP server accepts (one user `demo`, password `secret`, scrypt at a low test
 * cost): the operator validates the users Secret before it applies anything.
 */
export const VALID_USERS_JSON = JSON.stringify({
  users: [{ name: "demo", password: "scrypt$1024$8$1$oLCo6U5m5KDtTTg1R63usg==$8TAC1WfZw4DR0I+lbxjtCn/i6VjcCKJRd5uKqiOrtXQ=" }],
});

export function usersSecretObject(namespace: string, name: string, usersJson = VALID_USERS_JSON, key = "users.json"): KubeObject {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, type: "Opaque", data: { [key]: Buffer.from(usersJson).toString("base64") } };
}

/** Create (or keep) a valid users Secret for each name. */
export async function ensureUsersSecrets(client: ApiClient, namespace: string, ...names: string[]): Promise<void> {
  for (const name of names) {
    try {
      await client.create(Resources.Secret, usersSecretObject(namespace, name));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
    }
  }
}

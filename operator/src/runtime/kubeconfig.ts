// A minimal kubeconfig / in-cluster loader, so the operator does not import @kubernetes/client-node
// on its usual paths: its entry point loads every generated API model (≈ 90 MB RSS measured, more
// than the operator's whole working set at 100 FtpServers), and it has no `exports` map that would
// let us load the config code alone (dist/config.js imports the generated models too).
//
// What kubectl reads, we read:
// - server + CA (file or data) + insecure-skip-tls-verify + tls-server-name;
// - users with a client certificate/key (file or data), a bearer token, a token file (re-read every
//   minute, as bound service-account tokens rotate), basic auth;
// - `exec` credential plugins (client.authentication.k8s.io/v1 and v1beta1: aws eks get-token,
//   gke-gcloud-auth-plugin, kubelogin, …), implemented here (no client-node): the plugin runs with
//   KUBERNETES_EXEC_INFO, its token or client certificate is cached until its expirationTimestamp
//   (or until the API server answers 401), concurrent requests share one run;
// - `auth-provider` users (gcp, azure, oidc): the only path that loads @kubernetes/client-node, lazily,
//   on the first request, for its authenticators;
// - the whole $KUBECONFIG list, merged as kubectl merges it (the first file to define a cluster, user
//   or context name wins, so does the first current-context; missing files are skipped; relative
//   paths are relative to the file that holds them);
// - in-cluster service accounts.
//
// `ApiClient` accepts any `KubeConfigLike`, which client-node's `KubeConfig` also satisfies, so tests
// can keep passing one.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { arch, platform, version as nodeVersion } from "node:process";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { parse as parseYaml } from "yaml";

export interface ClusterLike {
  name?: string;
  server: string;
  caData?: string | undefined;
  caFile?: string | undefined;
  skipTLSVerify?: boolean | undefined;
  tlsServerName?: string | undefined;
}

export interface UserLike {
  name?: string;
  certData?: string | undefined;
  certFile?: string | undefined;
  keyData?: string | undefined;
  keyFile?: string | undefined;
  token?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** client-node keeps an in-cluster token file as authProvider {name: "tokenFile", config: {tokenFile}} */
  authProvider?: { name?: string; config?: Record<string, unknown> } | undefined;
  exec?: unknown;
  /** ours: a token file re-read periodically */
  tokenFile?: string | undefined;
}

/** What a credential plugin supplies for one request (PEM strings for the certificate and key). */
export interface PluginCredentials {
  token?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/** What ApiClient needs from a kubeconfig (client-node's KubeConfig has the first two too). */
export interface KubeConfigLike {
  getCurrentCluster(): ClusterLike | null;
  getCurrentUser(): UserLike | null;
  /** Plugin credentials (exec, auth-provider), asked for before every request; cached by the plugin. */
  credentials?(): Promise<PluginCredentials | undefined>;
  /** The API server answered 401: drop cached plugin credentials (kubectl re-runs the plugin then). */
  invalidateCredentials?(): void;
}

/** Something that yields credentials for requests: ExecPlugin, AuthProviderPlugin. */
export interface CredentialPlugin {
  get(): Promise<PluginCredentials>;
  invalidate(): void;
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Sent on every request, in kubectl's shape (`kubectl/v1.35.4 (linux/amd64) kubernetes/<commit>`). */
export const USER_AGENT = `pasv-operator/v${packageVersion()} (${platform}/${arch}) node/${nodeVersion}`;

export class SimpleKubeConfig implements KubeConfigLike {
  readonly cluster: ClusterLike;
  readonly user: UserLike;
  readonly plugin: CredentialPlugin | undefined;
  constructor(cluster: ClusterLike, user: UserLike, plugin?: CredentialPlugin) {
    this.cluster = cluster;
    this.user = user;
    this.plugin = plugin;
  }
  getCurrentCluster(): ClusterLike {
    return this.cluster;
  }
  getCurrentUser(): UserLike {
    return this.user;
  }
  async credentials(): Promise<PluginCredentials | undefined> {
    return this.plugin?.get();
  }
  invalidateCredentials(): void {
    this.plugin?.invalidate();
  }
}

// ---- exec credential plugins ------------------------------------------------------------------

const EXEC_API_VERSIONS = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"];

export interface ExecConfig {
  apiVersion?: string;
  command?: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: "Never" | "IfAvailable" | "Always";
}

/** What KUBERNETES_EXEC_INFO carries in spec.cluster when provideClusterInfo is set. */
export interface ExecClusterInfo {
  server: string;
  "tls-server-name"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "certificate-authority-data"?: string;
  config?: unknown;
}

interface ExecCredential {
  apiVersion?: string;
  kind?: string;
  status?: { token?: string; clientCertificateData?: string; clientKeyData?: string; expirationTimestamp?: string };
}

export interface ExecPluginOptions {
  /** the kubeconfig file's directory: a relative command with a slash is resolved against it, as kubectl does */
  baseDir: string;
  cluster?: ExecClusterInfo | undefined;
  /** for the tests: the clock (ms) */
  now?: () => number;
  /** a plugin that does not finish in this time fails the request (default 60 s) */
  timeoutMs?: number;
}

/**
 * An exec credential plugin (client.authentication.k8s.io v1/v1beta1), as client-go runs it: the
 * command with its args and env plus KUBERNETES_EXEC_INFO (interactive: false: the operator has
 * no terminal, so stdin is closed), its stdout parsed as an ExecCredential. The credential is kept
 * until its expirationTimestamp (forever without one) or until invalidate(); concurrent callers
 * share one run. A failure is not cached: the next request runs the plugin again (the work
 * queue's backoff spaces those out).
 */
export class ExecPlugin implements CredentialPlugin {
  readonly config: ExecConfig;
  private readonly opts: ExecPluginOptions;
  private readonly now: () => number;
  private cached: { creds: PluginCredentials; expiresAt: number } | undefined;
  private inflight: Promise<PluginCredentials> | undefined;
  /** how many times the plugin ran (tests and debugging) */
  runs = 0;

  constructor(config: ExecConfig, opts: ExecPluginOptions) {
    if (!config.command) throw new Error("exec plugin: command is required");
    if (!config.apiVersion || !EXEC_API_VERSIONS.includes(config.apiVersion)) {
      throw new Error(`exec plugin ${config.command}: apiVersion ${config.apiVersion ?? "(none)"} is not supported (want ${EXEC_API_VERSIONS.join(" or ")})`);
    }
    if (config.apiVersion.endsWith("/v1") && !config.interactiveMode) {
      throw new Error(`exec plugin ${config.command}: interactiveMode must be specified for ${config.apiVersion}`);
    }
    if (config.interactiveMode === "Always") {
      throw new Error(`exec plugin ${config.command}: interactiveMode Always needs a terminal, which the operator does not have; use a plugin mode that runs without one`);
    }
    this.config = config;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  get(): Promise<PluginCredentials> {
    if (this.cached && this.now() < this.cached.expiresAt) return Promise.resolve(this.cached.creds);
    this.cached = undefined;
    this.inflight ??= this.run().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  invalidate(): void {
    this.cached = undefined;
  }

  private command(): string {
    const c = this.config.command!;
    return c.includes("/") && !isAbsolute(c) ? join(this.opts.baseDir, c) : c;
  }

  private async run(): Promise<PluginCredentials> {
    const cfg = this.config;
    const info = {
      apiVersion: cfg.apiVersion,
      kind: "ExecCredential",
      spec: { interactive: false, ...(cfg.provideClusterInfo && this.opts.cluster ? { cluster: this.opts.cluster } : {}) },
    };
    const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
    for (const e of cfg.env ?? []) env[e.name] = e.value;
    const cmd = this.command();
    this.runs++;
    const { code, stdout, stderr, error } = await new Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }>((resolve) => {
      const child = spawn(cmd, cfg.args ?? [], { env, stdio: ["ignore", "pipe", "pipe"] });
      // own timer rather than spawn's `timeout`, which stays armed when the command does not exist
      const timer = setTimeout(() => child.kill("SIGKILL"), this.opts.timeoutMs ?? 60_000).unref();
      let out = "";
      let err = "";
      let failed: Error | undefined;
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        if (out.length < 1 << 20) out += d;
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        if (err.length < 64 << 10) err += d;
      });
      child.on("error", (e) => (failed = e));
      child.on("close", (c, signal) => {
        clearTimeout(timer);
        resolve({ code: signal ? -1 : c, stdout: out, stderr: err, ...(failed ? { error: failed } : {}) });
      });
    });
    if (error) {
      const hint = (error as NodeJS.ErrnoException).code === "ENOENT" && cfg.installHint ? `\n${cfg.installHint}` : "";
      throw new Error(`exec plugin ${cmd}: ${error.message}${hint}`);
    }
    if (code !== 0) throw new Error(`exec plugin ${cmd} ${code === -1 ? "was killed (timeout?)" : `exited with ${code}`}: ${stderr.trim().slice(-2000)}`);
    let cred: ExecCredential;
    try {
      cred = JSON.parse(stdout) as ExecCredential;
    } catch {
      throw new Error(`exec plugin ${cmd}: stdout is not an ExecCredential JSON object`);
    }
    if (cred.kind !== "ExecCredential" || cred.apiVersion !== cfg.apiVersion) {
      throw new Error(`exec plugin ${cmd}: got ${cred.apiVersion ?? "?"}/${cred.kind ?? "?"}, want ${cfg.apiVersion}/ExecCredential`);
    }
    const st = cred.status ?? {};
    if (!st.token && !(st.clientCertificateData && st.clientKeyData)) {
      throw new Error(`exec plugin ${cmd}: the ExecCredential has neither status.token nor both clientCertificateData and clientKeyData`);
    }
    let expiresAt = Number.POSITIVE_INFINITY;
    if (st.expirationTimestamp) {
      expiresAt = Date.parse(st.expirationTimestamp);
      if (Number.isNaN(expiresAt)) throw new Error(`exec plugin ${cmd}: expirationTimestamp ${st.expirationTimestamp} is not a time`);
    }
    const creds: PluginCredentials = st.token ? { token: st.token } : { cert: st.clientCertificateData, key: st.clientKeyData };
    this.cached = { creds, expiresAt };
    return creds;
  }
}

// ---- auth-provider users (gcp, azure, oidc) ---------------------------------------------------

const AUTH_PROVIDERS = ["gcp", "azure", "oidc"];

/**
 * A legacy auth-provider user. client-node implements these (it refreshes gcp/azure tokens through
 * their cmd-path and OIDC tokens through the issuer, keeping them in memory); it is imported on the
 * first request only, so operators that do not use one never pay its ≈ 90 MB.
 */
export class AuthProviderPlugin implements CredentialPlugin {
  readonly provider: { name: string; config: Record<string, unknown> };
  private kc: Promise<{ applyToHTTPSOptions(o: { headers?: Record<string, unknown> }): Promise<void> }> | undefined;

  constructor(provider: { name: string; config?: Record<string, unknown> }) {
    if (!AUTH_PROVIDERS.includes(provider.name)) {
      throw new Error(`auth-provider ${provider.name} is not supported (supported: ${AUTH_PROVIDERS.join(", ")}; or use an exec plugin)`);
    }
    this.provider = { name: provider.name, config: { ...provider.config } };
  }

  private load() {
    // an optional peer dependency (package.json): in a checkout it is there (dev dependency); the
    // operator image does not ship it, so in-cluster it is never loaded and its absence is explained
    this.kc ??= import("@kubernetes/client-node").catch((err: unknown) => {
      throw new Error(`auth-provider ${this.provider.name} needs the package @kubernetes/client-node (npm install @kubernetes/client-node@2.0.1), or use an exec plugin: ${(err as Error).message}`);
    }).then(({ KubeConfig }) => {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        // only its authenticators are used: ApiClient makes the requests, this agent connects nowhere
        clusters: [{ name: "c", server: "https://auth-provider.invalid" }],
        users: [{ name: "u", authProvider: this.provider }],
        contexts: [{ name: "x", cluster: "c", user: "u" }],
        currentContext: "x",
      });
      return kc;
    });
    return this.kc;
  }

  async get(): Promise<PluginCredentials> {
    const kc = await this.load();
    const opts: { headers?: Record<string, unknown> } = {};
    await kc.applyToHTTPSOptions(opts);
    const auth = opts.headers?.Authorization;
    if (typeof auth !== "string" || !auth.startsWith("Bearer ")) throw new Error(`auth-provider ${this.provider.name}: no token`);
    return { token: auth.slice("Bearer ".length) };
  }

  invalidate(): void {
    // client-node refreshes on expiry by itself; nothing cached here.
  }
}

// ---- files ------------------------------------------------------------------------------------

interface RawNamed<T> { name: string; cluster?: T; user?: T; context?: T }
interface RawCluster {
  server?: string; "certificate-authority"?: string; "certificate-authority-data"?: string; "insecure-skip-tls-verify"?: boolean; "tls-server-name"?: string;
  extensions?: { name: string; extension?: unknown }[];
}
interface RawUser {
  "client-certificate"?: string; "client-certificate-data"?: string; "client-key"?: string; "client-key-data"?: string;
  token?: string; tokenFile?: string; username?: string; password?: string; exec?: ExecConfig; "auth-provider"?: { name: string; config?: Record<string, unknown> };
}
interface RawContext { cluster?: string; user?: string }
interface RawConfig {
  clusters?: RawNamed<RawCluster>[] | null; users?: RawNamed<RawUser>[] | null; contexts?: RawNamed<RawContext>[] | null; "current-context"?: string;
}

/** One entry of the merged config, with the directory of the file that defined it. */
interface Found<T> { value: T; base: string; file: string }

/** The kubeconfig files merged the way kubectl merges the $KUBECONFIG list. */
export interface MergedKubeConfig {
  files: string[];
  clusters: Map<string, Found<RawCluster>>;
  users: Map<string, Found<RawUser>>;
  contexts: Map<string, Found<RawContext>>;
  currentContext: string | undefined;
}

/**
 * Merge kubeconfig files in order: the first file to define a name wins (clusters, users and
 * contexts separately), as does the first non-empty current-context. Files that do not exist are
 * skipped unless `mustExist` (an explicit --kubeconfig must).
 */
export function mergeKubeConfigFiles(paths: string[], mustExist = false): MergedKubeConfig {
  const merged: MergedKubeConfig = { files: [], clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: undefined };
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if (!mustExist && (err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw new Error(`kubeconfig ${path}: ${(err as Error).message}`);
    }
    let raw: RawConfig | null;
    try {
      raw = parseYaml(text) as RawConfig | null;
    } catch (err) {
      throw new Error(`kubeconfig ${path}: not YAML: ${(err as Error).message}`);
    }
    merged.files.push(path);
    if (!raw) continue;
    const base = dirname(path);
    const take = <T,>(into: Map<string, Found<T>>, list: RawNamed<T>[] | null | undefined, key: "cluster" | "user" | "context") => {
      for (const e of list ?? []) {
        if (e?.name && !into.has(e.name)) into.set(e.name, { value: (e[key] ?? {}) as T, base, file: path });
      }
    };
    take(merged.clusters, raw.clusters, "cluster");
    take(merged.users, raw.users, "user");
    take(merged.contexts, raw.contexts, "context");
    merged.currentContext ||= raw["current-context"] || undefined;
  }
  return merged;
}

/** The client config of one context of a merged kubeconfig (default: its current-context). */
export function resolveContext(merged: MergedKubeConfig, context?: string, execOpts: Partial<ExecPluginOptions> = {}): SimpleKubeConfig {
  const where = merged.files.join(delimiter) || "(no kubeconfig file)";
  const ctxName = context || merged.currentContext;
  const ctx = ctxName === undefined ? undefined : merged.contexts.get(ctxName)?.value;
  if (!ctx) throw new Error(`kubeconfig ${where}: context ${ctxName ?? "(none: no current-context)"} not found`);
  const cf = ctx.cluster === undefined ? undefined : merged.clusters.get(ctx.cluster);
  const c = cf?.value;
  if (!cf || !c?.server) throw new Error(`kubeconfig ${where}: cluster ${ctx.cluster ?? "(none)"} of context ${ctxName} not found or has no server`);
  const uf = ctx.user === undefined ? undefined : merged.users.get(ctx.user);
  const u = uf?.value ?? {};
  const relTo = (base: string) => (p: string | undefined) => (p === undefined || p === "" ? undefined : isAbsolute(p) ? p : join(base, p));
  const crel = relTo(cf.base);
  const urel = relTo(uf?.base ?? cf.base);
  const cluster: ClusterLike = {
    name: ctx.cluster,
    server: c.server,
    caData: c["certificate-authority-data"],
    caFile: crel(c["certificate-authority"]),
    skipTLSVerify: c["insecure-skip-tls-verify"] === true,
    tlsServerName: c["tls-server-name"],
  };
  let plugin: CredentialPlugin | undefined;
  if (u.exec) {
    const caFile = cluster.caFile;
    const caData = cluster.caData ?? (caFile ? readFileSync(caFile).toString("base64") : undefined);
    const execExt = c.extensions?.find((e) => e?.name === "client.authentication.k8s.io/exec")?.extension;
    plugin = new ExecPlugin(u.exec, {
      baseDir: uf?.base ?? cf.base,
      cluster: {
        server: c.server,
        ...(cluster.tlsServerName ? { "tls-server-name": cluster.tlsServerName } : {}),
        ...(cluster.skipTLSVerify ? { "insecure-skip-tls-verify": true } : {}),
        ...(caData ? { "certificate-authority-data": caData } : {}),
        ...(execExt !== undefined ? { config: execExt } : {}),
      },
      ...execOpts,
    });
  } else if (u["auth-provider"]) {
    plugin = new AuthProviderPlugin(u["auth-provider"]);
  }
  return new SimpleKubeConfig(
    cluster,
    {
      name: ctx.user,
      certData: u["client-certificate-data"],
      certFile: urel(u["client-certificate"]),
      keyData: u["client-key-data"],
      keyFile: urel(u["client-key"]),
      token: u.token,
      tokenFile: urel(u.tokenFile),
      username: u.username,
      password: u.password,
    },
    plugin,
  );
}

/** Load one kubeconfig file (--kubeconfig; it must exist). Relative paths are relative to the file. */
export function loadKubeConfigFile(path: string, context?: string): SimpleKubeConfig {
  return resolveContext(mergeKubeConfigFiles([path], true), context);
}

/** In-cluster: $KUBERNETES_SERVICE_HOST/PORT and the mounted service-account token and CA. */
export function loadInCluster(dir = SERVICE_ACCOUNT_DIR): SimpleKubeConfig {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error("not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig found ($KUBECONFIG, ~/.kube/config, --kubeconfig)");
  const h = host.includes(":") ? `[${host}]` : host;
  return new SimpleKubeConfig({ name: "in-cluster", server: `https://${h}:${port}`, caFile: join(dir, "ca.crt") }, { name: "in-cluster", tokenFile: join(dir, "token") });
}

/**
 * Like kubectl: the files of $KUBECONFIG merged when it is set, else ~/.kube/config; when that
 * yields no file, the in-cluster service account (as client-go's default loading rules do).
 */
export function loadDefaultKubeConfig(context?: string, env: NodeJS.ProcessEnv = process.env): SimpleKubeConfig {
  const list = env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [];
  const merged = mergeKubeConfigFiles(list.length > 0 ? list : [join(env.HOME || homedir(), ".kube", "config")]);
  if (merged.files.length === 0) return loadInCluster();
  return resolveContext(merged, context);
}

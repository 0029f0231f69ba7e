// A minimal kubeconfig / in-cluster loader, so the operator does not import @kubernetes/client-node
// at all: its entry point loads every generated API model (≈ 90 MB RSS measured, more than the
// operator's whole working set at 100 FtpServers), and it has no `exports` map that would let us
// load the config code alone (dist/config.js imports the generated models too).
//
// Supported: server + CA (file or data) + insecure-skip-tls-verify + tls-server-name; users with a
// client certificate/key (file or data), a bearer token, a token file (re-read every minute, as
// bound service-account tokens rotate) or basic auth; in-cluster service accounts. Not supported:
// `exec` and `auth-provider` plugins (cloud CLIs) — run the operator in-cluster, or use a token.
//
// `ApiClient` accepts any `KubeConfigLike`, which client-node's `KubeConfig` also satisfies, so tests
// can keep passing one.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
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

/** What ApiClient needs from a kubeconfig (client-node's KubeConfig has these too). */
export interface KubeConfigLike {
  getCurrentCluster(): ClusterLike | null;
  getCurrentUser(): UserLike | null;
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export class SimpleKubeConfig implements KubeConfigLike {
  readonly cluster: ClusterLike;
  readonly user: UserLike;
  constructor(cluster: ClusterLike, user: UserLike) {
    this.cluster = cluster;
    this.user = user;
  }
  getCurrentCluster(): ClusterLike {
    return this.cluster;
  }
  getCurrentUser(): UserLike {
    return this.user;
  }
}

interface RawNamed<T> { name: string; cluster?: T; user?: T; context?: T }
interface RawCluster { server?: string; "certificate-authority"?: string; "certificate-authority-data"?: string; "insecure-skip-tls-verify"?: boolean; "tls-server-name"?: string }
interface RawUser {
  "client-certificate"?: string; "client-certificate-data"?: string; "client-key"?: string; "client-key-data"?: string;
  token?: string; tokenFile?: string; username?: string; password?: string; exec?: unknown; "auth-provider"?: unknown;
}
interface RawContext { cluster?: string; user?: string }
interface RawConfig {
  clusters?: RawNamed<RawCluster>[]; users?: RawNamed<RawUser>[]; contexts?: RawNamed<RawContext>[]; "current-context"?: string;
}

/** Load a kubeconfig file (the current context). Relative file paths are relative to the file. */
export function loadKubeConfigFile(path: string, context?: string): SimpleKubeConfig {
  const raw = parseYaml(readFileSync(path, "utf8")) as RawConfig;
  const base = dirname(path);
  const rel = (p: string | undefined) => (p === undefined ? undefined : isAbsolute(p) ? p : join(base, p));
  const ctxName = context ?? raw["current-context"];
  const ctx = raw.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${path}: context ${ctxName ?? "(none)"} not found`);
  const c = raw.clusters?.find((x) => x.name === ctx.cluster)?.cluster;
  if (!c?.server) throw new Error(`kubeconfig ${path}: cluster ${ctx.cluster} not found or has no server`);
  const u = raw.users?.find((x) => x.name === ctx.user)?.user ?? {};
  if (u.exec || u["auth-provider"]) {
    throw new Error(`kubeconfig ${path}: user ${ctx.user} uses an exec/auth-provider plugin, which pasv-operator does not support; use a token or client certificate, or run in-cluster`);
  }
  return new SimpleKubeConfig(
    {
      name: ctx.cluster,
      server: c.server,
      caData: c["certificate-authority-data"],
      caFile: rel(c["certificate-authority"]),
      skipTLSVerify: c["insecure-skip-tls-verify"] === true,
      tlsServerName: c["tls-server-name"],
    },
    {
      name: ctx.user,
      certData: u["client-certificate-data"],
      certFile: rel(u["client-certificate"]),
      keyData: u["client-key-data"],
      keyFile: rel(u["client-key"]),
      token: u.token,
      tokenFile: rel(u.tokenFile),
      username: u.username,
      password: u.password,
    },
  );
}

/** In-cluster: $KUBERNETES_SERVICE_HOST/PORT and the mounted service-account token and CA. */
export function loadInCluster(dir = SERVICE_ACCOUNT_DIR): SimpleKubeConfig {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error("not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset");
  const h = host.includes(":") ? `[${host}]` : host;
  return new SimpleKubeConfig({ name: "in-cluster", server: `https://${h}:${port}`, caFile: join(dir, "ca.crt") }, { name: "in-cluster", tokenFile: join(dir, "token") });
}

/** Like kubectl: $KUBECONFIG (first existing file of the list), ~/.kube/config, else in-cluster. */
export function loadDefaultKubeConfig(): SimpleKubeConfig {
  const candidates = [...(process.env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? []), join(homedir(), ".kube", "config")];
  for (const p of candidates) {
    try {
      readFileSync(p);
    } catch {
      continue;
    }
    return loadKubeConfigFile(p);
  }
  return loadInCluster();
}

// A small REST client for any resource, on Node's own https (keep-alive agent with the kubeconfig's
// CA and client certificate, bearer token or basic auth), returning plain JSON. It does not load
// @kubernetes/client-node (≈ 90 MB RSS for its generated models; see kubeconfig.ts). Every
// mutating request is counted (metrics and an in-memory log) so tests can prove "a no-op resync
// performs zero writes".
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { USER_AGENT } from "./kubeconfig.ts";
import type { KubeConfigLike, UserLike } from "./kubeconfig.ts";
import type { Metrics } from "./metrics.ts";
import { collectionPath, formatLabelSelector, objectPath } from "./types.ts";
import type { KubeObject, ResourceType } from "./types.ts";

/** The field manager every write of the operator uses. */
export const FIELD_MANAGER = "pasv-operator";

/** A non-2xx answer from the API server (or a transport failure, statusCode 0). */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;
  readonly body: unknown;
  constructor(statusCode: number, message: string, reason?: string, body?: unknown) {
    super(message);
    this.name = "ApiError";
    this.statusCode = statusCode;
    this.reason = reason;
    this.body = body;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.statusCode === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.statusCode === 409;
}
export function isGone(err: unknown): boolean {
  return err instanceof ApiError && err.statusCode === 410;
}

type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** JSON-serialised unless it is a string */
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** resource name for the write log/metrics (typed helpers fill it in) */
  resource?: string;
  /** per-request timeout for non-streaming requests; default 30 s */
  timeoutMs?: number;
}

/** One mutating request as seen by the client (recorded whatever its outcome). */
export interface WriteRecord {
  verb: "create" | "update" | "patch" | "apply" | "delete";
  resource: string;
  subresource?: string;
  path: string;
  code: number;
}

/** In-memory log of writes: the accessor tests use; the same data feeds `pasv_operator_api_writes_total`. */
export class WriteLog {
  readonly records: WriteRecord[] = [];
  private readonly max: number;
  private total = 0;
  constructor(max = 10_000) {
    this.max = max;
  }
  add(r: WriteRecord): void {
    this.total++;
    this.records.push(r);
    if (this.records.length > this.max) this.records.shift();
  }
  /**
   * Number of writes, optionally filtered. `exclude` drops resources such as "leases" (leader
   * election renewals) and "events" that are not part of a reconcile's output.
   */
  count(filter: { resource?: string; exclude?: string[] } = {}): number {
    if (!filter.resource && !filter.exclude) return this.total;
    return this.records.filter(
      (r) => (!filter.resource || r.resource === filter.resource) && !(filter.exclude ?? []).includes(r.resource),
    ).length;
  }
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: Record<string, string> | string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  signal?: AbortSignal;
}

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

const b64 = (s: string) => Buffer.from(s, "base64");

/** The bearer token of a user: inline, or a token file re-read at most once a minute (bound tokens rotate). */
class TokenSource {
  private readonly file: string | undefined;
  private readonly fixed: string | undefined;
  private cached: { token: string; at: number } | undefined;
  constructor(user: UserLike | null) {
    const ap = user?.authProvider;
    const apFile = ap?.name === "tokenFile" && typeof ap.config?.tokenFile === "string" ? ap.config.tokenFile : undefined;
    this.file = user?.tokenFile ?? apFile;
    this.fixed = user?.token;
  }
  get(): string | undefined {
    if (this.fixed) return this.fixed;
    if (!this.file) return undefined;
    if (!this.cached || Date.now() - this.cached.at > 60_000) {
      this.cached = { token: readFileSync(this.file, "utf8").trim(), at: Date.now() };
    }
    return this.cached.token;
  }
}

function verbOf(method: string, contentType: string | undefined): WriteRecord["verb"] | undefined {
  switch (method) {
    case "POST": return "create";
    case "PUT": return "update";
    case "DELETE": return "delete";
    case "PATCH": return contentType === "application/apply-patch+yaml" ? "apply" : "patch";
    default: return undefined;
  }
}

export class ApiClient {
  readonly kubeConfig: KubeConfigLike;
  readonly writes = new WriteLog();
  private readonly metrics: Metrics | undefined;
  private readonly server: string;
  private readonly agent: http.Agent;
  private readonly secure: boolean;
  private readonly servername: string | undefined;
  private readonly token: TokenSource;
  private readonly basic: string | undefined;

  constructor(kubeConfig: KubeConfigLike, opts: { metrics?: Metrics } = {}) {
    this.kubeConfig = kubeConfig;
    this.metrics = opts.metrics;
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/+$/, "");
    const user = kubeConfig.getCurrentUser();
    if (user?.exec || (user?.authProvider && user.authProvider.name !== "tokenFile")) {
      throw new Error("kubeconfig user uses an exec/auth-provider plugin, which pasv-operator does not support");
    }
    this.secure = this.server.startsWith("https:");
    this.servername = cluster.tlsServerName || undefined;
    if (this.secure) {
      const ca = cluster.caData ? b64(cluster.caData) : cluster.caFile ? readFileSync(cluster.caFile) : undefined;
      const cert = user?.certData ? b64(user.certData) : user?.certFile ? readFileSync(user.certFile) : undefined;
      const key = user?.keyData ? b64(user.keyData) : user?.keyFile ? readFileSync(user.keyFile) : undefined;
      this.agent = new https.Agent({
        keepAlive: true,
        ...(ca ? { ca } : {}),
        ...(cert ? { cert } : {}),
        ...(key ? { key } : {}),
        rejectUnauthorized: !cluster.skipTLSVerify,
      });
    } else {
      this.agent = new http.Agent({ keepAlive: true });
    }
    this.token = new TokenSource(user);
    this.basic = user?.username ? Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64") : undefined;
  }

  /** Close idle keep-alive connections (the agent would otherwise keep them for a while). */
  close(): void {
    this.agent.destroy();
  }

  private async send(method: string, path: string, opts: RequestOptions, stream: boolean): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { Accept: "application/json", "User-Agent": USER_AGENT };
    // exec / auth-provider users (kubeconfig.ts): a token or client certificate, cached by the plugin
    const plugin = await this.kubeConfig.credentials?.().catch((err: unknown) => {
      throw new ApiError(0, `${method} ${path}: credential plugin: ${(err as Error).message}`, "Credentials", err);
    });
    const token = plugin?.token ?? this.token.get();
    if (token) headers.Authorization = `Bearer ${token}`;
    else if (this.basic) headers.Authorization = `Basic ${this.basic}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = opts.contentType ?? "application/json";
      body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
      headers["Content-Length"] = String(Buffer.byteLength(body));
    }
    const signals: AbortSignal[] = [];
    if (opts.signal) signals.push(opts.signal);
    if (!stream) signals.push(AbortSignal.timeout(opts.timeoutMs ?? 30_000));
    const signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);

    const verb = verbOf(method, opts.contentType);
    let code = 0;
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = (this.secure ? https : http).request(url, {
          method, headers, agent: this.agent, signal,
          ...(this.servername ? { servername: this.servername } : {}),
          ...(plugin?.cert && plugin.key ? { cert: plugin.cert, key: plugin.key } : {}),
        }, resolve);
        req.on("error", reject);
        req.end(body);
      });
      code = res.statusCode ?? 0;
      if (code === 401) this.kubeConfig.invalidateCredentials?.();
      return res;
    } catch (err) {
      throw new ApiError(0, `${method} ${path}: ${(err as Error).message}`, "Transport", err);
    } finally {
      this.metrics?.restRequests.inc({ method, code: code ? String(code) : "<error>" });
      if (verb) {
        const resource = opts.resource ?? resourceFromPath(path);
        const sub = subresourceFromPath(path);
        this.writes.add({ verb, resource, path, code, ...(sub ? { subresource: sub } : {}) });
        this.metrics?.apiWrites.inc({ verb, resource });
      }
    }
  }

  /** Any request; returns the parsed JSON body, throws ApiError on non-2xx. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const resp = await this.send(method, path, opts, false);
    let text: string;
    try {
      text = await readBody(resp);
    } catch (err) {
      throw new ApiError(0, `${method} ${path}: reading body: ${(err as Error).message}`, "Transport", err);
    }
    const code = resp.statusCode ?? 0;
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (code < 200 || code > 299) {
      const st = parsed as { message?: string; reason?: string } | undefined;
      throw new ApiError(code, `${method} ${path}: ${code} ${st?.message ?? text}`, st?.reason, parsed);
    }
    return parsed as T;
  }

  /** A streaming GET (watch): the body stream on 200, ApiError otherwise. */
  async stream(path: string, query: Query, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const resp = await this.send("GET", path, { query, signal }, true);
    const code = resp.statusCode ?? 0;
    if (code !== 200) {
      const text = await readBody(resp).catch(() => "");
      let st: { message?: string; reason?: string } | undefined;
      try {
        st = JSON.parse(text) as typeof st;
      } catch { /* not JSON */ }
      throw new ApiError(code, `watch ${path}: ${code} ${st?.message ?? text}`, st?.reason);
    }
    return Readable.toWeb(resp) as ReadableStream<Uint8Array>;
  }

  // ---- typed helpers -------------------------------------------------------------------------

  /** GET one object; undefined when it does not exist. */
  async get<T extends KubeObject = KubeObject>(type: ResourceType, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.request<T>("GET", objectPath(type, name, namespace));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject = KubeObject>(type: ResourceType, opts: ListOptions = {}): Promise<ListResult<T>> {
    return this.request<ListResult<T>>("GET", collectionPath(type, opts.namespace), {
      query: {
        labelSelector: formatLabelSelector(opts.labelSelector),
        fieldSelector: opts.fieldSelector,
        limit: opts.limit,
        continue: opts.continue,
        resourceVersion: opts.resourceVersion,
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  async create<T extends KubeObject>(type: ResourceType, obj: T): Promise<T> {
    return this.request<T>("POST", collectionPath(type, obj.metadata?.namespace), {
      body: obj, resource: type.plural, query: { fieldManager: FIELD_MANAGER },
    });
  }

  /** PUT (optimistic concurrency through metadata.resourceVersion). */
  async replace<T extends KubeObject>(type: ResourceType, obj: T, subresource?: string): Promise<T> {
    const md = obj.metadata ?? {};
    return this.request<T>("PUT", objectPath(type, md.name ?? "", md.namespace, subresource), {
      body: obj, resource: type.plural, query: { fieldManager: FIELD_MANAGER },
    });
  }

  /** JSON merge patch (RFC 7386). */
  async mergePatch<T extends KubeObject = KubeObject>(
    type: ResourceType, name: string, namespace: string | undefined, patch: unknown, subresource?: string,
  ): Promise<T> {
    return this.request<T>("PATCH", objectPath(type, name, namespace, subresource), {
      body: patch, contentType: "application/merge-patch+json", resource: type.plural,
      query: { fieldManager: FIELD_MANAGER },
    });
  }

  /**
   * Server-side apply of `obj` (apiVersion, kind, metadata.name[/namespace] required) with the
   * operator's field manager and force=true. `subresource: "status"` applies to /status.
   */
  async apply<T extends KubeObject>(
    type: ResourceType, obj: KubeObject, opts: { subresource?: string; fieldManager?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    const md = obj.metadata ?? {};
    if (!md.name) throw new Error(`apply ${type.kind}: metadata.name required`);
    const body = { ...obj, apiVersion: obj.apiVersion ?? type.apiVersion, kind: obj.kind ?? type.kind };
    return this.request<T>("PATCH", objectPath(type, md.name, md.namespace, opts.subresource), {
      body, contentType: "application/apply-patch+yaml", resource: type.plural,
      query: { fieldManager: opts.fieldManager ?? FIELD_MANAGER, force: true },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** DELETE; false when it was already gone. */
  async delete(
    type: ResourceType, name: string, namespace?: string, opts: { propagationPolicy?: string; uid?: string; signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const body: Record<string, unknown> = { apiVersion: "v1", kind: "DeleteOptions" };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.uid) body.preconditions = { uid: opts.uid };
    try {
      await this.request("DELETE", objectPath(type, name, namespace), { body, resource: type.plural, ...(opts.signal ? { signal: opts.signal } : {}) });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

function resourceFromPath(path: string): string {
  const parts = path.split("?")[0]!.split("/").filter(Boolean);
  // /api/v1/namespaces/ns/services/x[/status] or /apis/g/v/namespaces/ns/plural/x
  const rest = parts[0] === "api" ? parts.slice(2) : parts.slice(3);
  if (rest[0] === "namespaces" && rest.length >= 3) return rest[2]!;
  return rest[0] ?? "unknown";
}

function subresourceFromPath(path: string): string | undefined {
  const parts = path.split("?")[0]!.split("/").filter(Boolean);
  const rest = parts[0] === "api" ? parts.slice(2) : parts.slice(3);
  const r = rest[0] === "namespaces" && rest.length >= 3 ? rest.slice(2) : rest;
  return r.length >= 3 ? r[2] : undefined;
}

async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

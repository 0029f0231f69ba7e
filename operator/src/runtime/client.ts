// A small REST client for any resource, on client-node's own transport (KubeConfig authentication,
// TLS agent, undici fetch), returning plain JSON. Every mutating request is counted (metrics and
// an in-memory log) so tests can prove "a no-op resync performs zero writes".
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext } from "@kubernetes/client-node";
import type { KubeConfig } from "@kubernetes/client-node";
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

const http = new IsomorphicFetchHttpLibrary();

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
  readonly kubeConfig: KubeConfig;
  readonly writes = new WriteLog();
  private readonly metrics: Metrics | undefined;
  private readonly server: string;

  constructor(kubeConfig: KubeConfig, opts: { metrics?: Metrics } = {}) {
    this.kubeConfig = kubeConfig;
    this.metrics = opts.metrics;
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/+$/, "");
  }

  private async send(method: string, path: string, opts: RequestOptions, stream: boolean) {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), method as (typeof HttpMethod)[keyof typeof HttpMethod]);
    await this.kubeConfig.applySecurityAuthentication(ctx);
    ctx.setHeaderParam("Accept", "application/json");
    if (opts.body !== undefined) {
      ctx.setHeaderParam("Content-Type", opts.contentType ?? "application/json");
      ctx.setBody(typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body));
    }
    const signals: AbortSignal[] = [];
    if (opts.signal) signals.push(opts.signal);
    if (!stream) signals.push(AbortSignal.timeout(opts.timeoutMs ?? 30_000));
    if (signals.length) ctx.setSignal(signals.length === 1 ? signals[0]! : AbortSignal.any(signals));

    const verb = verbOf(method, opts.contentType);
    let code = 0;
    try {
      const resp = await http.send(ctx).toPromise();
      code = resp.httpStatusCode;
      return resp;
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
      text = await resp.body.text();
    } catch (err) {
      throw new ApiError(0, `${method} ${path}: reading body: ${(err as Error).message}`, "Transport", err);
    }
    const code = resp.httpStatusCode;
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
    const code = resp.httpStatusCode;
    if (code !== 200) {
      const text = await resp.body.text().catch(() => "");
      let st: { message?: string; reason?: string } | undefined;
      try {
        st = JSON.parse(text) as typeof st;
      } catch { /* not JSON */ }
      throw new ApiError(code, `watch ${path}: ${code} ${st?.message ?? text}`, st?.reason);
    }
    const body = resp.body.stream();
    if (!body) throw new ApiError(0, `watch ${path}: no body`, "Transport");
    return body;
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
  async apply<T extends KubeObject>(type: ResourceType, obj: KubeObject, opts: { subresource?: string; fieldManager?: string } = {}): Promise<T> {
    const md = obj.metadata ?? {};
    if (!md.name) throw new Error(`apply ${type.kind}: metadata.name required`);
    const body = { ...obj, apiVersion: obj.apiVersion ?? type.apiVersion, kind: obj.kind ?? type.kind };
    return this.request<T>("PATCH", objectPath(type, md.name, md.namespace, opts.subresource), {
      body, contentType: "application/apply-patch+yaml", resource: type.plural,
      query: { fieldManager: opts.fieldManager ?? FIELD_MANAGER, force: true },
    });
  }

  /** DELETE; false when it was already gone. */
  async delete(type: ResourceType, name: string, namespace?: string, opts: { propagationPolicy?: string; uid?: string } = {}): Promise<boolean> {
    const body: Record<string, unknown> = { apiVersion: "v1", kind: "DeleteOptions" };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.uid) body.preconditions = { uid: opts.uid };
    try {
      await this.request("DELETE", objectPath(type, name, namespace), { body, resource: type.plural });
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

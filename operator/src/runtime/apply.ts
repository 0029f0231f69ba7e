// Server-side apply with the operator's single field manager (force=true), skipping applies that
// would change nothing (ssa.ts), and owner references.
import type { Logger } from "pino";
import { FIELD_MANAGER } from "./client.ts";
import type { ApiClient } from "./client.ts";
import { AppliedMemo, compactOwned, fingerprintOf, hashText, viewOf, type CompactOptions } from "./compact.ts";
import type { Transform } from "./slim.ts";
import { needsApply } from "./ssa.ts";
import type { KubeObject, OwnerReference, ResourceType } from "./types.ts";

export interface ApplyResult<T> {
  /** false when the apply was skipped because it would change nothing */
  changed: boolean;
  /** the server's answer when applied; the observed object when skipped */
  object: T | undefined;
}

export interface WriteOptions {
  /**
   * Aborts the request itself (not only the next one): a reconcile passes its context's signal,
   * which aborts when the controller stops or loses leadership, so a deposed leader's in-flight
   * write is cancelled instead of landing after another replica took over.
   */
  signal?: AbortSignal;
}

function signalOf(opts: WriteOptions): { signal?: AbortSignal } {
  if (opts.signal?.aborted) throw new Error("write aborted: the controller stopped (lost leadership or shutdown)");
  return opts.signal ? { signal: opts.signal } : {};
}

export class Applier {
  readonly client: ApiClient;
  readonly fieldManager: string;
  private readonly log: Logger | undefined;
  /** applies sent / skipped as no-ops (the write count itself is client.writes) */
  readonly stats = { applied: 0, skipped: 0 };
  /** what was last applied (or found in sync) per object of a compact-cached type (compact.ts) */
  readonly memo = new AppliedMemo();
  /** compact-cached types (plural) → how their fingerprint is taken */
  private readonly compactTypes = new Map<string, CompactOptions>();

  constructor(client: ApiClient, opts: { fieldManager?: string; logger?: Logger } = {}) {
    this.client = client;
    this.fieldManager = opts.fieldManager ?? FIELD_MANAGER;
    this.log = opts.logger;
  }

  /**
   * The informer transform for a type whose cache holds compact entries (compact.ts): `apply` then
   * decides from the fingerprint and this applier's memo. Use the same transform for every copy of
   * such objects handed to `apply` as `observed`.
   */
  compactTransform(type: ResourceType, opts: { keep?: string[][] } = {}): Transform {
    const o: CompactOptions = { ...opts, manager: this.fieldManager };
    this.compactTypes.set(type.plural, o);
    return compactOwned(type, this.memo, o);
  }

  /**
   * Apply `desired` (main resource; a `status` in it is ignored) unless `observed` — normally the
   * informer's cached copy — shows the apply would change nothing. Pass observed = undefined when
   * the object is not in the cache: it is applied.
   *
   * A compact `observed` (compact.ts) is skipped when the memo knows this body and the object's
   * fingerprint; else, when it still carries its view, the full rule (ssa.ts) decides on the view;
   * else it is applied.
   */
  async apply<T extends KubeObject>(
    type: ResourceType, desired: KubeObject, observed: KubeObject | undefined, opts: WriteOptions = {},
  ): Promise<ApplyResult<T>> {
    const { status: _status, ...body } = desired;
    const compact = this.compactTypes.get(type.plural);
    const fp = fingerprintOf(observed);
    const desiredHash = compact ? hashText(JSON.stringify(body)) : "";
    if (compact && observed && fp) {
      const skip = this.memo.inSync(type, observed, desiredHash, fp.hash) ||
        (fp.view !== undefined && !needsApply(desired, viewOf(fp), this.fieldManager));
      if (skip) {
        this.memo.remember(type, observed, desiredHash, fp.hash);
        delete fp.view; // verified: the entry needs only its fingerprint from now on
        this.stats.skipped++;
        return { changed: false, object: observed as T };
      }
    } else if (!fp && !needsApply(desired, observed, this.fieldManager)) {
      this.stats.skipped++;
      return { changed: false, object: observed as T };
    }
    this.stats.applied++;
    this.log?.debug({ kind: type.kind, name: desired.metadata?.name, namespace: desired.metadata?.namespace }, "apply");
    const object = await this.client.apply<T>(type, body, { fieldManager: this.fieldManager, ...signalOf(opts) });
    if (compact && object) {
      // The answer's version is the one the watch echo carries: one fingerprint for both, and a
      // view an echo that came first left in the cache is dropped here (the memo knows it now).
      const fp = this.memo.fingerprintVersion(type, object, compact, false);
      this.memo.remember(type, object, desiredHash, fp.hash);
      delete fp.view;
    }
    return { changed: true, object };
  }

  /**
   * Apply `desired.status` on the status subresource (only apiVersion, kind, name, namespace and
   * status are sent), unless `observed` shows it would change nothing.
   */
  async applyStatus<T extends KubeObject>(
    type: ResourceType, desired: KubeObject, observed: KubeObject | undefined, opts: WriteOptions = {},
  ): Promise<ApplyResult<T>> {
    if (!needsApply(desired, observed, this.fieldManager, "status")) {
      this.stats.skipped++;
      return { changed: false, object: observed as T };
    }
    const md = desired.metadata ?? {};
    const body: KubeObject = {
      apiVersion: desired.apiVersion ?? type.apiVersion,
      kind: desired.kind ?? type.kind,
      metadata: { name: md.name, ...(md.namespace ? { namespace: md.namespace } : {}) },
      status: desired.status,
    };
    this.stats.applied++;
    this.log?.debug({ kind: type.kind, name: md.name, namespace: md.namespace }, "apply status");
    const object = await this.client.apply<T>(type, body, { subresource: "status", fieldManager: this.fieldManager, ...signalOf(opts) });
    return { changed: true, object };
  }
}

/** A controller owner reference to `owner` (garbage collection + `enqueueOwner`). */
export function ownerReference(owner: KubeObject, opts: { controller?: boolean; blockOwnerDeletion?: boolean } = {}): OwnerReference {
  const md = owner.metadata ?? {};
  if (!owner.apiVersion || !owner.kind || !md.name || !md.uid) {
    throw new Error("ownerReference: owner needs apiVersion, kind, metadata.name and metadata.uid");
  }
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: md.name,
    uid: md.uid,
    controller: opts.controller ?? true,
    blockOwnerDeletion: opts.blockOwnerDeletion ?? true,
  };
}

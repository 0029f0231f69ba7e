// Compact caches of the objects an operator owns. At 1,000 FtpServers × 100 ports the informer
// caches held 107 MB of V8 heap, most of it the port lists of Services and EndpointSlices kept
// only so the no-op skip rule (ssa.ts) could compare them with what we want. A compact cache
// entry keeps what a reconciler reads (metadata, status, a few `keep` paths) plus a fingerprint:
// a hash of exactly what the skip rule reads of the object — our manager's managedFields trie of
// the main resource and the fields that trie owns (the `ownedFieldsOnly` view without status and
// without server-set metadata).
//
// The Applier (apply.ts) remembers per object, in process (`AppliedMemo`), the hash of the last
// body it applied — or found in sync — and the fingerprint the object had then. An apply is
// skipped when the desired body hashes the same and the cached fingerprint is unchanged. Any
// out-of-band change of a field we own changes the fingerprint (a value changed or removed, or
// another manager took the field over — our trie loses it), so drift is still repaired.
//
// Objects whose fingerprint the memo does not know (after a restart, or after someone else changed
// them) keep their view (`view`: the JSON, deflated), and the first check decides with the full
// rule on the parsed view; afterwards it is dropped. So a restart over converged objects still
// writes nothing, and the cost of an unverified entry is one short string, not a tree of small
// objects: a 100-port Service's view is ≈ 18 KB of JSON and ≈ 1.5 KB deflated — after a restart
// at 1,000 × 100 ports every child's entry holds one until its first check.
import { createHash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { FIELD_MANAGER } from "./client.ts";
import { ownedFieldsOnly, type Transform } from "./slim.ts";
import type { KubeObject, ObjectMeta, ResourceType } from "./types.ts";

/** Where a compact entry carries its fingerprint (a symbol: invisible to JSON and to key iteration). */
export const FINGERPRINT = Symbol.for("pasv-operator.fingerprint");

export interface Fingerprint {
  /** hash of `view` */
  hash: string;
  /** the skip rule's view of the object, until a check verified it (then dropped): its JSON deflated, as a latin1 string (`viewOf`) */
  view?: string;
}

/** A view as an entry keeps it: deflated (raw, level 1: ≈ 60 µs for 18 KB) and held as a one-byte string of exactly its size. */
function packView(json: string): string {
  return deflateRawSync(json, { level: 1 }).toString("latin1");
}

/** The skip rule's view an entry still carries (parsed), or undefined once verified. */
export function viewOf(fp: Fingerprint): KubeObject | undefined {
  return fp.view === undefined ? undefined : (JSON.parse(inflateRawSync(Buffer.from(fp.view, "latin1")).toString("utf8")) as KubeObject);
}

export function fingerprintOf(obj: KubeObject | undefined): Fingerprint | undefined {
  return obj ? (obj as { [FINGERPRINT]?: Fingerprint })[FINGERPRINT] : undefined;
}

export function hashText(text: string): string {
  return createHash("sha1").update(text).digest("base64");
}

/** Metadata a compact entry keeps (identity, labels, annotations, owners, deletion); no managedFields. */
const META_KEYS = ["name", "namespace", "uid", "resourceVersion", "generation", "labels", "annotations", "ownerReferences", "deletionTimestamp", "creationTimestamp", "finalizers"] as const;
/** Metadata the skip rule compares (what an apply body sets) — server-set identity and versions are not part of the view. */
const VIEW_META_KEYS = ["name", "namespace", "labels", "annotations", "ownerReferences", "managedFields"] as const;

function pick(md: ObjectMeta, keys: readonly string[]): ObjectMeta {
  const out: ObjectMeta = {};
  for (const k of keys) if (md[k] !== undefined) out[k] = md[k];
  return out;
}

function memoKey(type: ResourceType, namespace: string | undefined, name: string | undefined): string {
  return `${type.plural}/${namespace ?? ""}/${name ?? ""}`;
}

interface MemoEntry {
  uid: string | undefined;
  /** hash of the apply body last applied or found in sync (undefined: only `seen` is known) */
  desired?: string;
  /** the object's fingerprint then */
  fingerprint?: string;
  /** the version of the object whose fingerprint was last taken, and that fingerprint */
  seenVersion?: string;
  seen?: Fingerprint;
}

/**
 * Per object: the last body applied (or found in sync) and the fingerprint the object had then;
 * and the fingerprint last taken of it with the resourceVersion it was taken of. In process only.
 *
 * The same version of an object reaches the operator up to three times — the apply's answer, the
 * copy kept of our last write (reconciler.ts RecentWrites), and the watch echo — and each took
 * the fingerprint anew (the owned view built, serialised and hashed: most of the allocation per
 * child event at 1,000 × 100 ports). An object with the same uid and resourceVersion is the same
 * object, so its fingerprint is taken once (`fingerprintVersion`).
 */
export class AppliedMemo {
  private readonly entries = new Map<string, MemoEntry>();
  /** fingerprints taken / reused by resourceVersion (tests and profiles) */
  readonly stats = { taken: 0, reused: 0 };

  private entry(type: ResourceType, md: ObjectMeta): MemoEntry {
    const key = memoKey(type, md.namespace, md.name);
    let e = this.entries.get(key);
    if (!e || (e.uid !== undefined && md.uid !== undefined && e.uid !== md.uid)) {
      e = { uid: md.uid };
      this.entries.set(key, e);
    }
    e.uid ??= md.uid;
    return e;
  }

  remember(type: ResourceType, obj: KubeObject, desiredHash: string, fingerprint: string): void {
    const e = this.entry(type, obj.metadata ?? {});
    e.desired = desiredHash;
    e.fingerprint = fingerprint;
  }

  /** Whether `fingerprint` is what the object had when we last applied or verified it. */
  knows(type: ResourceType, obj: KubeObject, fingerprint: string): boolean {
    const md = obj.metadata ?? {};
    const e = this.entries.get(memoKey(type, md.namespace, md.name));
    return e !== undefined && e.fingerprint !== undefined && e.fingerprint === fingerprint && (e.uid === undefined || md.uid === undefined || e.uid === md.uid);
  }

  /** Whether applying a body hashing to `desiredHash` is known to change nothing on `obj`. */
  inSync(type: ResourceType, obj: KubeObject, desiredHash: string, fingerprint: string): boolean {
    const md = obj.metadata ?? {};
    const e = this.entries.get(memoKey(type, md.namespace, md.name));
    return e !== undefined && e.desired === desiredHash && this.knows(type, obj, fingerprint);
  }

  /**
   * The fingerprint of `obj` (`fingerprint(obj, opts)`), taken once per object version: an
   * object with the uid and resourceVersion of the last one fingerprinted gets that Fingerprint
   * (the same instance, so dropping its view drops it wherever it is held). A reused fingerprint
   * whose view was dropped while the memo no longer knows its hash is taken again, so an entry
   * the memo does not know always carries its view (the rule in `compactOwned`).
   */
  fingerprintVersion(type: ResourceType, obj: KubeObject, opts: CompactOptions, keepView = true): Fingerprint {
    const md = obj.metadata ?? {};
    const rv = md.resourceVersion;
    const e = rv !== undefined && md.name !== undefined ? this.entry(type, md) : undefined;
    if (e?.seen && e.seenVersion === rv && (e.seen.view !== undefined || this.knows(type, obj, e.seen.hash))) {
      this.stats.reused++;
      return e.seen;
    }
    this.stats.taken++;
    const json = viewJson(obj, opts);
    const fp: Fingerprint = { hash: hashText(json) };
    // Packed only when it will be kept: not for an apply's answer, nor for a version the memo knows.
    if (keepView && !this.knows(type, obj, fp.hash)) fp.view = packView(json);
    if (e) {
      e.seenVersion = rv;
      e.seen = fp;
    }
    return fp;
  }

  forget(type: ResourceType, namespace: string | undefined, name: string | undefined): void {
    this.entries.delete(memoKey(type, namespace, name));
  }

  get size(): number {
    return this.entries.size;
  }
}

export interface CompactOptions {
  /** paths kept in the entry whoever owns them (e.g. ["spec", "clusterIP"]); they are part of the view too */
  keep?: string[][];
  manager?: string;
}

/**
 * The skip rule's view of an object (as `ownedFieldsOnly(keep)` caches it, without status and
 * without server-set metadata) and its fingerprint.
 */
export function fingerprint(obj: KubeObject, opts: CompactOptions = {}): Fingerprint {
  const json = viewJson(obj, opts);
  return { hash: hashText(json), view: packView(json) };
}

/** The view as JSON: what the fingerprint hashes. */
function viewJson(obj: KubeObject, opts: CompactOptions): string {
  const owned = ownedFieldsOnly(opts.keep ?? [], opts.manager ?? FIELD_MANAGER)(obj);
  const { status: _status, apiVersion: _a, kind: _k, metadata, ...rest } = owned;
  return JSON.stringify({ metadata: pick(metadata ?? {}, VIEW_META_KEYS), ...rest });
}

/**
 * An informer transform for owned children: a compact entry (kept metadata, status, `keep` paths
 * and the fingerprint). The view is kept only while `memo` does not know the fingerprint.
 */
export function compactOwned(type: ResourceType, memo: AppliedMemo, opts: CompactOptions = {}): Transform {
  const keep = opts.keep ?? [];
  return (obj) => {
    const fp = memo.fingerprintVersion(type, obj, opts);
    if (memo.knows(type, obj, fp.hash)) delete fp.view;
    const out: KubeObject = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: pick(obj.metadata ?? {}, META_KEYS) };
    if (obj.status !== undefined) out.status = obj.status;
    for (const path of keep) {
      let src: unknown = obj;
      for (const p of path) src = typeof src === "object" && src !== null ? (src as Record<string, unknown>)[p] : undefined;
      if (src === undefined) continue;
      let dst = out as Record<string, unknown>;
      for (const p of path.slice(0, -1)) {
        if (typeof dst[p] !== "object" || dst[p] === null) dst[p] = {};
        dst = dst[p] as Record<string, unknown>;
      }
      dst[path[path.length - 1]!] = src;
    }
    (out as { [FINGERPRINT]?: Fingerprint })[FINGERPRINT] = fp;
    return out;
  };
}

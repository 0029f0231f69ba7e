// Pure helpers to decide whether a server-side apply would change anything, so a no-op reconcile
// performs zero writes.
//
// The rule (see README.md "When is an apply skipped"): an apply of `desired` with our field manager
// is skipped when the observed object (from the informer cache)
//   1. has every field that `desired` sets, with an equal value (`subsetEqual`: objects compared
//      key by key on the desired side only — server defaults and other managers' fields are
//      ignored; lists compared element by element with equal length), and
//   2. has a managedFields entry of our manager (operation Apply, same subresource) whose every
//      field is still present in `desired` (`fieldsCovered`) — otherwise the apply would remove
//      fields we stopped setting.
// If either fails (or the object is absent, or we never applied it), apply.
import type { FieldsV1, KubeObject, ManagedFieldsEntry } from "./types.ts";

type Json = unknown;

function isObj(v: Json): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isEmpty(v: Json): boolean {
  return (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0);
}

/**
 * Whether every value `desired` sets is equal in `observed`. Objects: only desired keys are
 * compared (undefined values are ignored). Lists: same length and each element subset-equal.
 * An empty desired object/list equals an absent observed one (Go's omitempty drops it).
 */
export function subsetEqual(desired: Json, observed: Json): boolean {
  if (desired === undefined) return true;
  if (observed === undefined && isEmpty(desired)) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(observed) || observed.length !== desired.length) return false;
    return desired.every((d, i) => subsetEqual(d, observed[i]));
  }
  if (isObj(desired)) {
    if (!isObj(observed)) return false;
    for (const [k, v] of Object.entries(desired)) if (!subsetEqual(v, observed[k])) return false;
    return true;
  }
  if (desired === null) return observed === null || observed === undefined;
  return desired === observed;
}

function deepEqual(a: Json, b: Json): boolean {
  return subsetEqual(a, b) && subsetEqual(b, a);
}

/**
 * List items by their key fields (the "k:" entries of a managedFields trie), built once per list
 * and key-field set, so checking a list of n keyed items costs O(n), not O(n²): a Service with
 * 10,000 ports took 46 s per check with a linear search per key. `null` when some item lacks a
 * key field, has a non-primitive one, or a key repeats: then the linear search (where a missing
 * field matches anything, and the first match wins) decides. Otherwise the two agree: with every
 * key field present and primitive, deepEqual is ===, and at most one item matches.
 */
const isPrimitive = (v: Json): boolean => v === null || ["string", "number", "boolean"].includes(typeof v);
const keyIndexes = new WeakMap<Json[], Map<string, Map<string, Json> | null>>();

function keyIndex(list: Json[], names: string[]): Map<string, Json> | null {
  const signature = JSON.stringify(names);
  let byNames = keyIndexes.get(list);
  if (byNames === undefined) keyIndexes.set(list, (byNames = new Map<string, Map<string, Json> | null>()));
  let index = byNames.get(signature);
  if (index === undefined) {
    index = new Map<string, Json>();
    for (const e of list) {
      if (!isObj(e) || names.some((n) => !isPrimitive(e[n]))) {
        index = null;
        break;
      }
      const k = JSON.stringify(names.map((n) => e[n]));
      if (index.has(k)) {
        index = null;
        break;
      }
      index.set(k, e);
    }
    byNames.set(signature, index);
  }
  return index;
}

/**
 * Whether every field in a managedFields trie (fieldsV1) is set in `value`.
 * Keys: "f:<name>" map field, "k:<json>" list item by key fields (missing key fields in the desired
 * item match anything: the server may default them, e.g. protocol), "v:<json>" set item, "i:<n>"
 * list index, "." the node itself.
 */
export function fieldsCovered(fields: FieldsV1, value: Json): boolean {
  for (const [k, child] of Object.entries(fields)) {
    if (k === ".") continue;
    let next: Json;
    if (k.startsWith("f:")) {
      if (!isObj(value)) return false;
      next = value[k.slice(2)];
    } else if (k.startsWith("k:")) {
      if (!Array.isArray(value)) return false;
      const key = JSON.parse(k.slice(2)) as Record<string, Json>;
      const names = Object.keys(key);
      const index = names.length > 0 && names.every((n) => isPrimitive(key[n])) ? keyIndex(value, names) : null;
      next = index ? index.get(JSON.stringify(names.map((n) => key[n]))) : value.find((e) => isObj(e) && Object.entries(key).every(([kk, kv]) => e[kk] === undefined || deepEqual(e[kk], kv)));
    } else if (k.startsWith("v:")) {
      if (!Array.isArray(value)) return false;
      const item = JSON.parse(k.slice(2)) as Json;
      next = value.find((e) => deepEqual(e, item));
    } else if (k.startsWith("i:")) {
      if (!Array.isArray(value)) return false;
      next = value[Number(k.slice(2))];
    } else {
      continue;
    }
    if (next === undefined || next === null) return false;
    if (!fieldsCovered(child, next)) return false;
  }
  return true;
}

/** Our manager's Apply entry for the object (or its subresource, e.g. "status"). */
export function managedEntry(obj: KubeObject, manager: string, subresource?: string): ManagedFieldsEntry | undefined {
  return obj.metadata?.managedFields?.find(
    (e) => e.manager === manager && e.operation === "Apply" && (e.subresource ?? "") === (subresource ?? ""),
  );
}

/** What part of `desired` an apply sends: status only for "status", everything but status otherwise. */
export function applyContent(desired: KubeObject, subresource?: string): Record<string, Json> {
  if (subresource === "status") return { status: desired.status };
  const { apiVersion: _a, kind: _k, status: _s, ...rest } = desired;
  return rest;
}

/** Whether a server-side apply of `desired` by `manager` would change `observed` (see the rule above). */
export function needsApply(desired: KubeObject, observed: KubeObject | undefined, manager: string, subresource?: string): boolean {
  if (!observed) return true;
  const content = applyContent(desired, subresource);
  if (!subsetEqual(content, observed)) return true;
  const entry = managedEntry(observed, manager, subresource);
  if (!entry?.fieldsV1) return true;
  return !fieldsCovered(entry.fieldsV1, content);
}

// A validator for the JSON Schema subset our zod schemas turn into (z.toJSONSchema; the generated
// modules come from json-schema-gen.ts). The operator validates FtpServer and FtpUser specs and
// users files with it at run time instead of loading zod — zod alone adds ≈ 18 MB of resident
// memory before the first object is read (docs/benchmarks.md) — and the FTP server parses its
// users file with the same code, so both sides still agree on what a valid file is.
//
// Parsing follows zod's: a missing property with a `default` takes a copy of it (not validated,
// like zod's .default()); properties the schema does not declare are dropped unless the object
// is a map (additionalProperties is a schema) or strict (additionalProperties false: refused). A
// keyword this file does not know is refused when the schema is compiled, so a schema feature
// added later cannot pass unchecked. test/unit/operator/validation.test.ts holds this validator
// and the zod schemas to the same answers.

/** The JSON Schema keywords the generated schemas may carry. */
export interface JsonSchema {
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  /** The schema author's message for a failed pattern (zod's `.regex(re, message)`). */
  "x-message"?: string;
}
type JsonType = "object" | "array" | "string" | "integer" | "number" | "boolean" | "null";

const KEYWORDS = new Set<string>([
  "type", "properties", "required", "additionalProperties", "propertyNames", "items", "enum", "const", "default",
  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
  "minItems", "maxItems", "minProperties", "maxProperties", "x-message",
]);

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** A compiled schema: patterns built once, keywords checked once. */
export interface Validator<T> {
  validate(value: unknown): ValidationResult<T>;
}

interface Node {
  s: JsonSchema;
  types?: Set<JsonType>;
  re?: RegExp;
  props?: Map<string, Node>;
  required?: Set<string>;
  extra?: Node | false;
  keys?: Node;
  items?: Node;
}

function compileNode(s: JsonSchema, at: string): Node {
  for (const k of Object.keys(s)) if (!KEYWORDS.has(k)) throw new Error(`${at}: JSON Schema keyword ${k} is not supported by operator/src/api/json-schema.ts`);
  const n: Node = { s };
  if (s.type !== undefined) n.types = new Set(Array.isArray(s.type) ? s.type : [s.type]);
  if (s.pattern !== undefined) n.re = new RegExp(s.pattern);
  if (s.properties) n.props = new Map(Object.entries(s.properties).map(([k, v]) => [k, compileNode(v, `${at}.${k}`)]));
  if (s.required) n.required = new Set(s.required);
  if (s.additionalProperties === false) n.extra = false;
  else if (s.additionalProperties !== undefined && s.additionalProperties !== true) n.extra = compileNode(s.additionalProperties, `${at}.*`);
  else if (s.additionalProperties === true) n.extra = compileNode({}, `${at}.*`);
  if (s.propertyNames) n.keys = compileNode(s.propertyNames, `${at}{key}`);
  if (s.items) n.items = compileNode(s.items, `${at}[]`);
  return n;
}

/** `name` is the validated value's path in messages (`spec` gives `spec.passive.basePort: ...`). */
export function compileSchema<T>(schema: JsonSchema, name: string): Validator<T> {
  const root = compileNode(schema, name);
  return {
    validate(value) {
      const problems: string[] = [];
      const out = check(root, value, name, problems);
      return problems.length ? { ok: false, problems } : { ok: true, value: out as T };
    },
  };
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeMatches(t: JsonType, v: unknown): boolean {
  switch (t) {
    case "null":
      return v === null;
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v);
    case "array":
      return Array.isArray(v);
    case "string":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "integer":
      return typeof v === "number" && Number.isSafeInteger(v);
  }
}

const show = (v: unknown) => JSON.stringify(v);
const child = (path: string, key: string) => (path === "" ? key : `${path}.${key}`);

/** Validates `v` against `n`, pushing problems; returns the parsed value (defaults filled, undeclared keys dropped). */
function check(n: Node, v: unknown, path: string, problems: string[]): unknown {
  const s = n.s;
  const at = path === "" ? "" : `${path}: `;
  if (n.types && ![...n.types].some((t) => typeMatches(t, v))) {
    problems.push(`${at}expected ${[...n.types].join(" or ")}, got ${kindOf(v)}`);
    return v;
  }
  if (s.const !== undefined && v !== s.const) {
    problems.push(`${at}must be ${show(s.const)}`);
    return v;
  }
  if (s.enum && !s.enum.includes(v)) {
    problems.push(`${at}must be one of ${s.enum.map(show).join(", ")} (got ${show(v)})`);
    return v;
  }
  if (typeof v === "number") {
    if (s.minimum !== undefined && v < s.minimum) problems.push(`${at}must be >= ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) problems.push(`${at}must be <= ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) problems.push(`${at}must be > ${s.exclusiveMinimum}`);
    if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) problems.push(`${at}must be < ${s.exclusiveMaximum}`);
    return v;
  }
  if (typeof v === "string") {
    if (s.minLength !== undefined && v.length < s.minLength) problems.push(`${at}must be at least ${s.minLength} characters`);
    if (s.maxLength !== undefined && v.length > s.maxLength) problems.push(`${at}must be at most ${s.maxLength} characters`);
    if (n.re && !n.re.test(v)) problems.push(`${at}${s["x-message"] ?? `must match ${s.pattern}`}`);
    return v;
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) problems.push(`${at}must have at least ${s.minItems} items`);
    if (s.maxItems !== undefined && v.length > s.maxItems) problems.push(`${at}must have at most ${s.maxItems} items`);
    const items = n.items;
    return items ? v.map((x, i) => check(items, x, `${path}[${i}]`, problems)) : v;
  }
  if (typeof v === "object" && v !== null) return checkObject(n, v as Record<string, unknown>, path, problems);
  return v;
}

function checkObject(n: Node, v: Record<string, unknown>, path: string, problems: string[]): Record<string, unknown> {
  const s = n.s;
  const at = path === "" ? "" : `${path}: `;
  const keys = Object.keys(v);
  if (s.minProperties !== undefined && keys.length < s.minProperties) problems.push(`${at}must have at least ${s.minProperties} entries`);
  if (s.maxProperties !== undefined && keys.length > s.maxProperties) problems.push(`${at}must have at most ${s.maxProperties} entries`);
  const out: Record<string, unknown> = {};
  for (const [k, sub] of n.props ?? []) {
    const x = v[k];
    if (x === undefined) {
      if (sub.s.default !== undefined) out[k] = structuredClone(sub.s.default);
      else if (n.required?.has(k)) problems.push(`${child(path, k)}: required`);
      continue;
    }
    out[k] = check(sub, x, child(path, k), problems);
  }
  for (const k of keys) {
    if (n.props?.has(k)) continue;
    if (n.keys) {
      const keyProblems: string[] = [];
      check(n.keys, k, "", keyProblems);
      for (const p of keyProblems) problems.push(`${at}key ${show(k)}: ${p}`);
    }
    if (n.extra === false) problems.push(`${at}unknown field ${show(k)}`);
    else if (n.extra) out[k] = check(n.extra, v[k], child(path, k), problems);
  }
  return out;
}

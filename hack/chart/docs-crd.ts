// Generates docs/crd-reference.md from the CRD schema in crds/ (itself generated from the zod
// schema by `make manifests`): one section per object, one table row per field with its type,
// constraints, default and description, and the CEL rules the API server enforces.
//
//   node hack/chart/docs-crd.ts           write docs/crd-reference.md
//   node hack/chart/docs-crd.ts --check   exit 1 when it is not current (make docs-crd-check)
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";

const root = resolve(import.meta.dirname, "../..");
const OUT = join(root, "docs/crd-reference.md");

export interface Schema {
  type?: string;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  enum?: unknown[];
  format?: string;
  nullable?: boolean;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  "x-kubernetes-validations"?: { rule: string; message?: string; fieldPath?: string; reason?: string }[];
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
}

interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular?: string; shortNames?: string[]; categories?: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: Record<string, unknown>;
      additionalPrinterColumns?: { name: string; type: string; jsonPath: string; description?: string }[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

/** Markdown table cell: one line, pipes escaped. */
function cell(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").replaceAll("|", "\\|").trim();
}
const code = (s: string) => "`" + s.replaceAll("`", "'") + "`";
const anchor = (path: string) => path.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/** "object", "[]object", "map[string]string" ... */
function typeName(s: Schema): string {
  if (s.type === "array") return `[]${s.items ? typeName(s.items) : "any"}`;
  if (s.type === "object" && s.additionalProperties && !s.properties) return `map[string]${typeName(s.additionalProperties)}`;
  return s.type ?? (s["x-kubernetes-preserve-unknown-fields"] ? "any" : "?");
}

/** Object schema a field leads to (for its own section): itself, its items, or its map values. */
function nested(s: Schema): Schema | undefined {
  if (s.properties) return s;
  if (s.type === "array" && s.items) return nested(s.items);
  if (s.type === "object" && s.additionalProperties) return nested(s.additionalProperties);
  return undefined;
}
function nestedPath(path: string, s: Schema): string {
  if (s.properties) return path;
  if (s.type === "array" && s.items) return nestedPath(`${path}[]`, s.items);
  if (s.type === "object" && s.additionalProperties) return nestedPath(`${path}[*]`, s.additionalProperties);
  return path;
}

function constraints(s: Schema): string[] {
  const out: string[] = [];
  const range = (lo: number | undefined, hi: number | undefined, unit: string) => {
    if (lo !== undefined && hi !== undefined) out.push(`${unit}${lo}–${hi}`);
    else if (lo !== undefined) out.push(`${unit}≥ ${lo}`);
    else if (hi !== undefined) out.push(`${unit}≤ ${hi}`);
  };
  range(s.minimum, s.maximum, "");
  range(s.minLength, s.maxLength, "length ");
  range(s.minItems, s.maxItems, "items ");
  if (s.enum) out.push(`one of ${s.enum.map((v) => code(String(v))).join(", ")}`);
  if (s.pattern) out.push(`pattern ${code(s.pattern)}`);
  if (s.format) out.push(`format ${s.format}`);
  if (s["x-kubernetes-list-type"] === "map") out.push(`list map, keys ${(s["x-kubernetes-list-map-keys"] ?? []).map(code).join(", ")}`);
  else if (s["x-kubernetes-list-type"]) out.push(`list ${s["x-kubernetes-list-type"]}`);
  // Leaf CEL rules (on the field itself, or on each item / map value) are listed with the field.
  const leaf = s.items ?? s.additionalProperties;
  for (const v of [...(s.properties ? [] : (s["x-kubernetes-validations"] ?? [])), ...(leaf && !leaf.properties ? (leaf["x-kubernetes-validations"] ?? []) : [])]) {
    out.push(`CEL: ${v.message ?? v.rule}`);
  }
  return out;
}

function section(path: string, s: Schema, out: string[]): void {
  out.push(`### ${code(path)}`, "");
  if (s.description) out.push(s.description, "");
  const rules = s["x-kubernetes-validations"] ?? [];
  if (rules.length) {
    out.push("Validated at admission (CEL):", "");
    for (const r of rules) out.push(`- ${r.message ?? r.rule}${r.fieldPath ? ` (field ${code(r.fieldPath)})` : ""} — ${code(r.rule)}`);
    out.push("");
  }
  const props = Object.entries(s.properties ?? {});
  const children: [string, Schema][] = [];
  if (props.length) {
    out.push("| Field | Type | Required | Default | Constraints | Description |", "|---|---|---|---|---|---|");
    for (const [name, p] of props) {
      const n = nested(p);
      const np = nestedPath(`${path}.${name}`, p);
      if (n) children.push([np, n]);
      const field = n ? `[${code(name)}](#${anchor(np)})` : code(name);
      const req = (s.required ?? []).includes(name) ? "yes" : "";
      const def = p.default === undefined ? "" : code(JSON.stringify(p.default));
      out.push(`| ${field} | ${typeName(p)} | ${req} | ${cell(def)} | ${cell(constraints(p).join("; "))} | ${cell(p.description ?? "")} |`);
    }
    out.push("");
  }
  for (const [p, c] of children) section(p, c, out);
}

export function render(crdFiles: [string, string][]): string {
  const out: string[] = [
    "# CRD reference",
    "",
    "<!-- Generated by hack/chart/docs-crd.ts from crds/ (`make docs-crd`); `make docs-crd-check` fails when it is stale. Do not edit. -->",
    "",
    "Every field of the custom resources this project installs, as the API server sees them: types,",
    "defaults, the constraints and CEL rules enforced at admission, and the text `kubectl explain` shows.",
    "",
  ];
  for (const [file, text] of crdFiles) {
    const crd = parse(text) as Crd;
    const { group, names, scope } = crd.spec;
    for (const v of crd.spec.versions) {
      const apiVersion = `${group}/${v.name}`;
      out.push(`## ${names.kind} (${code(apiVersion)})`, "");
      out.push(`Source: ${code(`crds/${file}`)}`, "");
      out.push("| | |", "|---|---|");
      out.push(`| API version | ${code(apiVersion)}${v.storage ? " (storage version)" : ""}${v.served ? "" : " (not served)"} |`);
      out.push(`| Kind / plural | ${code(names.kind)} / ${code(names.plural)} |`);
      out.push(`| Scope | ${scope} |`);
      if (names.shortNames?.length) out.push(`| Short names | ${names.shortNames.map(code).join(", ")} |`);
      if (names.categories?.length) out.push(`| Categories | ${names.categories.map(code).join(", ")} (\`kubectl get ${names.categories[0]}\`) |`);
      out.push(`| Subresources | ${Object.keys(v.subresources ?? {}).map(code).join(", ") || "none"} |`, "");
      if (v.additionalPrinterColumns?.length) {
        out.push("`kubectl get` columns:", "", "| Column | Type | JSONPath | Description |", "|---|---|---|---|");
        for (const c of v.additionalPrinterColumns) {
          out.push(`| ${c.name} | ${c.type} | ${cell(code(c.jsonPath))} | ${cell(c.description ?? "")} |`);
        }
        out.push("");
      }
      const top = v.schema.openAPIV3Schema;
      if (top.description) out.push(top.description, "");
      for (const part of ["spec", "status"]) {
        const s = top.properties?.[part];
        if (s) section(part, s, out);
      }
    }
  }
  return out.join("\n").replace(/\n+$/, "\n");
}

function main(): void {
  const dir = join(root, "crds");
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
  const md = render(files.map((f) => [f, readFileSync(join(dir, f), "utf8")]));
  if (process.argv.includes("--check")) {
    let current = "";
    try {
      current = readFileSync(OUT, "utf8");
    } catch {
      /* missing = stale */
    }
    if (current !== md) {
      console.error("docs/crd-reference.md is out of date with crds/: run `make docs-crd` and commit it");
      process.exit(1);
    }
    console.log("docs/crd-reference.md is current");
    return;
  }
  writeFileSync(OUT, md);
  console.log("wrote docs/crd-reference.md");
}

if (import.meta.main) main();

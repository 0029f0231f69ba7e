// Generates crds/ftp.pasv.dev_ftpservers.yaml, crds/ftp.pasv.dev_ftpusers.yaml and the run-time
// validation schemas from the zod schemas: operator/src/api/generated/validation.ts (from
// schema/ftpserver.ts, schema/ftpuser.ts) and the users file's
// server-image/src/config/generated/users-file.ts (from server-image/src/config/schema.ts).
//
//   node operator/src/api/crd-gen.ts            write the files
//   node operator/src/api/crd-gen.ts --check    exit 1 when a file differs (CI: make manifests-check)
//
// How: zod 4's z.toJSONSchema (io "input", so defaults appear and nothing is `required` only
// because it has a default) gives JSON Schema 2020-12; toStructural() turns that into the
// structural OpenAPI v3 subset the API server accepts: drops $schema/propertyNames/
// additionalProperties:false, turns ["T","null"] into nullable, `const` into a one-value enum,
// and refuses anything it does not understand (anyOf/oneOf/$ref...) instead of emitting a
// schema the API server would reject or prune silently. It also fails when any property lacks
// a description, so `kubectl explain` is useful for every field. CEL rules, list types and
// descriptions are carried by `.meta()` in the zod schema and pass through unchanged.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { stringify } from "yaml";
import { CATEGORIES, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from "./v1alpha1.ts";
import { FTPUSER_CATEGORIES, FTPUSER_KIND, FTPUSER_PLURAL, FTPUSER_SHORT_NAMES, FTPUSER_SINGULAR } from "./ftpuser.ts";
import { specSchema, statusSchema } from "./schema/ftpserver.ts";
import { ftpUserSpecSchema, ftpUserStatusSchema } from "./schema/ftpuser.ts";
import { renderSchemaModule, validationSchema } from "../../../server-image/src/config/json-schema-gen.ts";
import { usersFileSchema } from "../../../server-image/src/config/schema.ts";

type Json = Record<string, unknown>;

const PASS = new Set([
  "type",
  "description",
  "default",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "maxProperties",
  "pattern",
  "enum",
  "format",
  "nullable",
  "x-kubernetes-validations",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-map-type",
]);

/** JSON Schema (2020-12, as zod emits it) → structural OpenAPI v3 schema. Throws on anything unsupported. */
export function toStructural(node: Json, path = "$"): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    switch (k) {
      case "$schema":
      case "propertyNames":
        break;
      case "type":
        if (Array.isArray(v)) {
          const types = v.filter((t) => t !== "null");
          if (types.length !== 1) throw new Error(`${path}: union type ${JSON.stringify(v)} is not structural`);
          out.type = types[0];
          if (v.includes("null")) out.nullable = true;
        } else out.type = v;
        break;
      case "const":
        out.enum = [v];
        break;
      case "additionalProperties":
        if (v === false) break;
        out.additionalProperties = toStructural(v as Json, `${path}.*`);
        break;
      case "properties": {
        const props: Json = {};
        for (const [name, sub] of Object.entries(v as Record<string, Json>)) {
          const s = toStructural(sub, `${path}.${name}`);
          if (typeof s.description !== "string" || s.description === "") throw new Error(`${path}.${name}: no description`);
          props[name] = s;
        }
        out.properties = props;
        break;
      }
      case "items":
        out.items = toStructural(v as Json, `${path}[]`);
        break;
      case "required":
        if ((v as unknown[]).length) out.required = v;
        break;
      default:
        if (!PASS.has(k)) throw new Error(`${path}: JSON Schema keyword ${k} has no structural equivalent`);
        out[k] = v;
    }
  }
  if (out.type === undefined && !out["x-kubernetes-int-or-string"] && !out["x-kubernetes-preserve-unknown-fields"])
    throw new Error(`${path}: no type`);
  return out;
}

/** What differs between our CRDs; everything else (group, version, scope, status subresource) is shared. */
interface CrdDef {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  description: string;
  printerColumns: Json[];
  spec: z.ZodType;
  status: z.ZodType;
}

function crdFor(def: CrdDef): Json {
  const spec = toStructural(z.toJSONSchema(def.spec, { io: "input", unrepresentable: "throw" }), "spec");
  const status = toStructural(z.toJSONSchema(def.status, { io: "input", unrepresentable: "throw" }), "status");
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind, listKind: `${def.kind}List`, plural: def.plural, singular: def.singular,
        shortNames: def.shortNames, categories: def.categories,
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: def.description,
              required: ["spec"],
              properties: {
                apiVersion: { type: "string", description: `APIVersion: ${GROUP}/${VERSION}.` },
                kind: { type: "string", description: `Kind: ${def.kind}.` },
                metadata: { type: "object" },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}

const readyColumn: Json = { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: "Ready condition." };
const ageColumn: Json = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

export function buildCrd(): Json {
  return crdFor({
    kind: KIND, plural: PLURAL, singular: SINGULAR, shortNames: SHORT_NAMES, categories: CATEGORIES,
    description: "An FTP service in passive mode: FTP-server pods, a Service with one port per passive port, routing that keeps each data connection on its control connection's pod, and the rendered server config.",
    printerColumns: [
      { name: "Base Port", type: "integer", jsonPath: ".spec.passive.basePort", description: "First passive port." },
      { name: "Ports", type: "integer", jsonPath: ".status.passive.numberOfPorts", description: "Passive ports in effect." },
      { name: "Port End", type: "integer", jsonPath: ".status.passive.portEnd", description: "Last passive port." },
      { name: "Address", type: "string", jsonPath: ".status.passive.externalAddress", description: "External PASV address." },
      readyColumn,
      ageColumn,
    ],
    spec: specSchema,
    status: statusSchema,
  });
}

export function buildFtpUserCrd(): Json {
  return crdFor({
    kind: FTPUSER_KIND, plural: FTPUSER_PLURAL, singular: FTPUSER_SINGULAR, shortNames: FTPUSER_SHORT_NAMES, categories: FTPUSER_CATEGORIES,
    description: "An FTP login of one FtpServer: user name, a Secret key holding its password hash, groups, type, home, permissions and quota. The operator merges it into the FtpServer's users file (hot-reloaded by the pods, no restart).",
    printerColumns: [
      { name: "Server", type: "string", jsonPath: ".spec.serverRef.name", description: "The FtpServer." },
      { name: "User", type: "string", jsonPath: ".status.userName", description: "Login name in effect." },
      { name: "Enabled", type: "boolean", jsonPath: ".spec.enabled", description: "false = disabled (empty = enabled)." },
      readyColumn,
      { name: "Reason", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: "Why (Active, Disabled, SecretNotFound, ...)." },
      ageColumn,
    ],
    spec: ftpUserSpecSchema,
    status: ftpUserStatusSchema,
  });
}

export function renderValidationTs(): string {
  return renderSchemaModule("operator/src/api/schema/", "#server-config", {
    ftpServerSpecJsonSchema: validationSchema(specSchema, "spec"),
    ftpUserSpecJsonSchema: validationSchema(ftpUserSpecSchema, "spec"),
  });
}

const header = (schema: string) =>
  `# Generated by operator/src/api/crd-gen.ts from the zod schema in operator/src/api/schema/${schema}.\n# Do not edit: change the schema and run \`make manifests\`.\n`;

export function renderCrdYaml(): string {
  return header("ftpserver.ts") + stringify(buildCrd(), { lineWidth: 0 });
}

export function renderFtpUserCrdYaml(): string {
  return header("ftpuser.ts") + stringify(buildFtpUserCrd(), { lineWidth: 0 });
}

const here = dirname(fileURLToPath(import.meta.url));
export const CRD_PATH = resolve(here, "../../../crds/ftp.pasv.dev_ftpservers.yaml");
export const FTPUSER_CRD_PATH = resolve(here, "../../../crds/ftp.pasv.dev_ftpusers.yaml");
export const VALIDATION_PATH = resolve(here, "generated/validation.ts");
export const USERS_FILE_SCHEMA_PATH = resolve(here, "../../../server-image/src/config/generated/users-file.ts");

export function renderUsersFileSchemaTs(): string {
  return renderSchemaModule("server-image/src/config/schema.ts", "../json-schema.ts", { usersFileJsonSchema: validationSchema(usersFileSchema, "") });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files: [string, string][] = [[CRD_PATH, renderCrdYaml()], [FTPUSER_CRD_PATH, renderFtpUserCrdYaml()], [VALIDATION_PATH, renderValidationTs()], [USERS_FILE_SCHEMA_PATH, renderUsersFileSchemaTs()]];
  if (process.argv.includes("--check")) {
    let stale = false;
    for (const [path, yaml] of files) {
      let current = "";
      try {
        current = readFileSync(path, "utf8");
      } catch {
        /* missing = differs */
      }
      if (current !== yaml) {
        console.error(`${path} is out of date with its zod schema: run \`make manifests\` and commit it.`);
        stale = true;
      }
    }
    if (stale) process.exit(1);
    console.log("crds/ and the generated validation schemas are up to date");
  } else {
    for (const [path, yaml] of files) {
      writeFileSync(path, yaml);
      console.log(`wrote ${path}`);
    }
  }
}

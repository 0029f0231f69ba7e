/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment -- specs are plain JSON */
// The operator validates specs and users files at run time with the JSON Schema generated from
// the zod schemas (server-image/src/config/json-schema.ts, operator/src/api/generated/validation.ts,
// server-image/src/config/generated/users-file.ts) instead of loading zod. These tests
// hold that validator to zod's answers on every example and on thousands of mutations of them
// (accept or refuse alike, and the same parsed value with defaults when accepted), and check that
// the operator's module graph never loads zod.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import type { z } from "zod";
import { specSchema } from "../../../operator/src/api/schema/ftpserver.ts";
import { ftpUserSpecSchema } from "../../../operator/src/api/schema/ftpuser.ts";
import { compileSchema, type JsonSchema } from "../../../server-image/src/config/json-schema.ts";
import { usersFileSchema } from "../../../server-image/src/config/schema.ts";
import { usersFileJsonSchema } from "../../../server-image/src/config/generated/users-file.ts";
import { ftpServerSpecJsonSchema, ftpUserSpecJsonSchema } from "../../../operator/src/api/generated/validation.ts";
import { renderValidationTs, VALIDATION_PATH } from "../../../operator/src/api/crd-gen.ts";
import { renderUsersFileSchemaTs, USERS_FILE_SCHEMA_PATH } from "../../../server-image/src/config/users-file-gen.ts";
import { validateSpec } from "../../../operator/src/api/v1alpha1.ts";
import { EVERY_FIELD, INVALID, validBase } from "./fixtures.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

function examples(kind: string): unknown[] {
  const out: unknown[] = [];
  for (const f of readdirSync(join(root, "examples")).filter((n) => n.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(join(root, "examples", f), "utf8"))) {
      const o = doc.toJS();
      if (o?.kind === kind) out.push(o.spec);
    }
  }
  return out;
}

/** Every leaf and object of `v` replaced, one at a time, by values that break or stretch it. */
function* mutations(v: unknown): Generator<[string, unknown]> {
  const swaps = (x: unknown): unknown[] => {
    if (typeof x === "string") return [12345, "", " bad value!", "x".repeat(5000), x.toUpperCase(), null];
    if (typeof x === "number") return ["7", x + 1e9, -x - 1e9, 0, 0.5, 65536, null];
    if (typeof x === "boolean") return ["yes", 1, null];
    if (Array.isArray(x)) return [{}, "list", [], [...x, ...x, ...x], null];
    if (typeof x === "object" && x !== null) return [[], "object", {}, { ...x, zzUnknownField: 1 }, null];
    return [];
  };
  function* walk(node: unknown, path: (string | number)[]): Generator<[string, unknown]> {
    for (const replacement of swaps(node)) yield [path.join("."), set(v, path, replacement)];
    if (Array.isArray(node)) for (let i = 0; i < node.length; i++) yield* walk(node[i], [...path, i]);
    else if (typeof node === "object" && node !== null) {
      for (const k of Object.keys(node)) {
        yield [`${[...path, k].join(".")} (deleted)`, set(v, [...path, k], undefined)];
        yield* walk((node as Record<string, unknown>)[k], [...path, k]);
      }
    }
  }
  yield* walk(v, []);
}

function set(v: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy: any = structuredClone(v);
  let at = copy;
  for (const p of path.slice(0, -1)) at = at[p];
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

function agree(zodSchema: z.ZodType, json: JsonSchema, seeds: unknown[], name = "spec"): { compared: number; accepted: number } {
  const ours = compileSchema(json, name);
  let compared = 0;
  let accepted = 0;
  const check = (what: string, input: unknown) => {
    compared++;
    const z = zodSchema.safeParse(input);
    const o = ours.validate(input);
    assert.equal(o.ok, z.success, `${what}: zod ${z.success ? "accepts" : `refuses (${z.error?.issues[0]?.message})`}, json-schema ${o.ok ? "accepts" : `refuses (${o.problems[0]})`}\n${JSON.stringify(input).slice(0, 400)}`);
    if (o.ok && z.success) {
      accepted++;
      assert.deepEqual(o.value, z.data, `${what}: parsed values differ`);
    }
  };
  seeds.forEach((seed, i) => {
    check(`seed ${i}`, seed);
    for (const [path, mutated] of mutations(seed)) check(`seed ${i} at ${path}`, mutated);
  });
  return { compared, accepted };
}

describe("run-time validation without zod (generated JSON Schema)", () => {
  it("the generated schemas are up to date with the zod schemas", () => {
    assert.equal(readFileSync(VALIDATION_PATH, "utf8"), renderValidationTs());
    assert.equal(readFileSync(USERS_FILE_SCHEMA_PATH, "utf8"), renderUsersFileSchemaTs());
  });

  it("FtpServer specs: the same answers and parsed values as zod on the examples and their mutations", () => {
    const seeds = [
      validBase,
      { ...validBase, podTemplate: structuredClone(EVERY_FIELD) },
      ...examples("FtpServer"),
      ...INVALID.map(([, spec]) => spec),
    ];
    assert.ok(seeds.length >= 10, `too few seeds: ${seeds.length}`);
    const { compared, accepted } = agree(specSchema, ftpServerSpecJsonSchema, seeds);
    assert.ok(compared > 3000 && accepted > 500, `compared ${compared}, accepted ${accepted}: the corpus lost its reach`);
  });

  it("FtpUser specs: the same answers and parsed values as zod", () => {
    const full = {
      serverRef: { name: "ftp" }, userName: "alice", passwordSecretRef: { name: "pw", key: "hash" }, groups: ["partners"],
      type: "standard", home: "partners/alice", permissions: { write: true, delete: false, rename: true }, quota: { bytes: 1000, files: 10 }, enabled: true,
    };
    const { compared } = agree(ftpUserSpecSchema, ftpUserSpecJsonSchema, [full, ...examples("FtpUser")]);
    assert.ok(compared > 100, `compared ${compared}`);
  });

  it("users files: the same answers and parsed values as zod (the server and the operator parse them with it)", () => {
    const scrypt = "scrypt$16384$8$1$c2FsdHNhbHQ=$aGFzaGhhc2g=";
    const bcrypt = `$2y$10$${"a".repeat(53)}`;
    const file = {
      users: [
        { name: "alice", password: scrypt, groups: ["partners"], type: "standard", home: "alice", permissions: { write: false }, quota: { bytes: 10, files: 1 } },
        { name: "bob", password: bcrypt },
      ],
    };
    const { compared } = agree(usersFileSchema, usersFileJsonSchema, [file], "");
    assert.ok(compared > 100, `compared ${compared}`);
  });

  it("fills defaults and keeps the custom messages of patterns, with the field's path", () => {
    const r = validateSpec(validBase);
    assert.ok(r.ok);
    assert.equal(r.spec.controlPort, 21);
    assert.deepEqual(r.spec.routing, { mode: "PortPartitioned", sessionAffinityTimeoutSeconds: 10800 });
    const bad = validateSpec({ ...validBase, passive: { ...validBase.passive, addressRules: [{ userClass: "a b", address: "auto" }] } });
    assert.ok(!bad.ok);
    assert.match(bad.problems.join("\n"), /^spec\.passive\.addressRules\[0\]\.userClass: pattern may contain letters/m);
    const key = validateSpec({ ...validBase, podTemplate: { metadata: { labels: { "team name": "a" } } } });
    assert.ok(!key.ok);
    assert.match(key.problems.join("\n"), /spec\.podTemplate\.metadata\.labels: key "team name": keys must be qualified names/);
    const type = validateSpec({ ...validBase, replicas: "3" });
    assert.ok(!type.ok);
    assert.deepEqual(type.problems, ["spec.replicas: expected integer, got string"]);
    assert.deepEqual((validateSpec([]) as { problems: string[] }).problems, ["spec: expected object, got array"]);
  });

  it("refuses a schema keyword it does not implement instead of ignoring it", () => {
    assert.throws(() => compileSchema({ type: "object", properties: { a: { type: "string", format: "email" } as JsonSchema } }, "spec"), /spec\.a: JSON Schema keyword format/);
    assert.throws(() => compileSchema({ anyOf: [] } as JsonSchema, "spec"), /keyword anyOf/);
  });

  it("the operator's module graph does not load zod", () => {
    // Import what operator/src/main.ts imports (main itself would start the operator) and record every module resolved.
    const modules = ["controller/operator.ts", "flags.ts", "runtime/kubeconfig.ts", "runtime/log.ts", "version.ts"].map((m) => join(root, "operator/src", m));
    const script = `
      import { registerHooks } from "node:module";
      const seen = [];
      registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.push(r.url); return r; } });
      for (const m of ${JSON.stringify(modules)}) await import(m);
      console.log(JSON.stringify(seen));`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const seen = JSON.parse(run.stdout) as string[];
    assert.ok(seen.some((u) => u.endsWith("/operator/src/controller/reconciler.ts")), "the hook saw the reconciler (the graph was walked)");
    assert.ok(seen.some((u) => u.endsWith("/operator/src/api/generated/validation.ts")), "validation comes from the generated schema");
    assert.deepEqual(seen.filter((u) => /\/node_modules\/zod\/|\/api\/schema\//.test(u)), [], "zod or the zod schemas are loaded at run time");
  });
});

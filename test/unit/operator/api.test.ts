/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return -- test fixtures poke at plain JSON */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { buildCrd, renderCrdYaml, toStructural, CRD_PATH } from "../../../operator/src/api/crd-gen.ts";
import { effectivePortCount, validateSpec } from "../../../operator/src/api/v1alpha1.ts";
import { readFileSync } from "node:fs";
import { INVALID, validBase as base } from "./fixtures.ts";

describe("FtpServer API validation (TypeScript twin of the CEL rules)", () => {
  it("accepts a minimal spec and fills defaults", () => {
    const r = validateSpec(base);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.spec.controlPort, 21);
    assert.equal(r.spec.replicas, 2);
    assert.equal(r.spec.routing.mode, "PortPartitioned");
    assert.equal(r.spec.service.type, "LoadBalancer");
  });
  it("numberOfPorts defaults to 5x expectedConcurrentConnections", () => {
    assert.equal(effectivePortCount({ expectedConcurrentConnections: 20 }), 100);
    assert.equal(effectivePortCount({ numberOfPorts: 7, expectedConcurrentConnections: 20 }), 7);
  });
  it("accepts passive.sharePorts where the pod sees client IPs (Strict, PROXY protocol, Local, ClusterIP)", () => {
    const cases: Record<string, unknown>[] = [
      { ...base, passive: { ...base.passive, sharePorts: true }, dataConnectionCheck: "Strict" },
      { ...base, passive: { ...base.passive, sharePorts: true }, proxyProtocol: { enabled: true, onData: true } },
      { ...base, passive: { ...base.passive, sharePorts: true }, service: { type: "LoadBalancer", externalTrafficPolicy: "Local" } },
      { ...base, passive: { ...base.passive, sharePorts: true }, service: { type: "ClusterIP" } },
      { ...base, passive: { ...base.passive, sharePorts: true }, routing: { mode: "ClientIPAffinity" } },
      { ...base, passive: { ...base.passive, sharePorts: false } },
    ];
    for (const c of cases) {
      const r = validateSpec(c);
      assert.ok(r.ok, JSON.stringify({ c, r }));
    }
  });
  for (const [name, spec, msg] of INVALID) {
    it(`rejects: ${name}`, () => {
      const r = validateSpec(spec);
      assert.equal(r.ok, false, `${name} should be invalid`);
      if (!r.ok) assert.match(r.problems.join("\n"), msg);
    });
  }
});

describe("CRD generation", () => {
  it("crds/ is up to date with the schema", () => {
    assert.equal(readFileSync(CRD_PATH, "utf8"), renderCrdYaml());
  });
  it("has the status subresource, printer columns, short name and category", () => {
    const crd = parse(renderCrdYaml());
    const v = crd.spec.versions[0];
    assert.deepEqual(v.subresources, { status: {} });
    assert.deepEqual(
      v.additionalPrinterColumns.map((c: any) => c.name),
      ["Base Port", "Ports", "Port End", "Address", "Ready", "Age"],
    );
    assert.ok(crd.spec.names.shortNames.includes("ftpsrv"));
    assert.ok(crd.spec.names.categories.includes("pasv"));
  });
  it("carries CEL rules and defaults", () => {
    const spec = (buildCrd() as any).spec.versions[0].schema.openAPIV3Schema.properties.spec;
    assert.ok(spec["x-kubernetes-validations"].some((r: any) => /controlPort/.test(r.rule)));
    assert.ok(spec.properties.passive["x-kubernetes-validations"].length >= 3);
    assert.equal(spec.properties.controlPort.default, 21);
    assert.equal(spec.properties.routing.properties.mode.default, "PortPartitioned");
  });
  it("refuses non-structural JSON Schema and missing descriptions", () => {
    assert.throws(() => toStructural({ anyOf: [{ type: "string" }, { type: "integer" }] }), /anyOf/);
    assert.throws(() => toStructural({ type: "object", properties: { a: { type: "string" } } }), /no description/);
    assert.deepEqual(toStructural({ type: ["string", "null"], description: "x" }), { type: "string", nullable: true, description: "x" });
  });
});

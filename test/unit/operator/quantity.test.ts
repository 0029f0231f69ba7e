import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalQuantity } from "../../../operator/src/controller/quantity.ts";

// Expected values are what kube-apiserver stores (apimachinery resource.Quantity.String()).
test("canonicalQuantity matches the API server's canonical form", () => {
  const cases: [string, string][] = [
    ["1000m", "1"], ["1", "1"], ["0.5", "500m"], ["1500m", "1500m"], ["1.5", "1500m"], ["100m", "100m"],
    ["2000", "2k"], ["1000000", "1M"], ["10", "10"], ["0", "0"], ["0m", "0"], ["0Mi", "0"],
    ["1Gi", "1Gi"], ["1024Mi", "1Gi"], ["1536Mi", "1536Mi"], ["1.5Gi", "1536Mi"], ["2048Ki", "2Mi"],
    ["512Ki", "512Ki"], ["0.5Ki", "512"], ["1000Ki", "1000Ki"], ["1Ki", "1Ki"],
    ["128974848", "128974848"], ["129e6", "129e6"], ["1e3", "1e3"], ["1E3", "1e3"], ["12e2", "1200"],
    ["1G", "1G"], ["1000M", "1G"], ["0.1m", "100u"], ["0.0000000001", "1n"], ["+1", "1"], ["-1000m", "-1"],
    ["10Gi", "10Gi"], ["256Mi", "256Mi"], ["500m", "500m"],
  ];
  for (const [input, want] of cases) assert.equal(canonicalQuantity(input), want, input);
});

test("canonicalQuantity leaves what it cannot parse alone", () => {
  for (const q of ["abc", "1Xi", "", "1.2.3"]) assert.equal(canonicalQuantity(q), q);
});

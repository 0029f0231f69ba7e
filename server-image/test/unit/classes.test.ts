import { test } from "node:test";
import assert from "node:assert/strict";
import { AddressMatcher, ClassTable, RuleTable, wildcardToRegExp, normalizeIp } from "../../src/classes/match.ts";

test("wildcards: ? is one character, * any run, the rest literal", () => {
  assert.ok(wildcardToRegExp("partner*").test("partner"));
  assert.ok(wildcardToRegExp("partner*").test("partners-eu"));
  assert.ok(!wildcardToRegExp("partner?").test("partner"));
  assert.ok(wildcardToRegExp("a.b").test("a.b"));
  assert.ok(!wildcardToRegExp("a.b").test("axb"));
  assert.ok(wildcardToRegExp("*").test(""));
  assert.ok(!wildcardToRegExp("ab").test("xab"));
});

test("address matcher: CIDRs v4/v6, plain IPs, wildcard text, v4-mapped", () => {
  const m = new AddressMatcher(["10.0.0.0/8", "2001:db8::/32", "192.0.2.*", "198.51.100.7"]);
  assert.ok(m.matches("10.1.2.3"));
  assert.ok(m.matches("::ffff:10.1.2.3"));
  assert.ok(m.matches("2001:db8::1"));
  assert.ok(m.matches("192.0.2.200"));
  assert.ok(m.matches("198.51.100.7"));
  assert.ok(!m.matches("11.0.0.1"));
  assert.ok(!m.matches("2001:db9::1"));
  assert.throws(() => new AddressMatcher(["10.0.0.0/99"]));
  assert.equal(normalizeIp("::FFFF:1.2.3.4"), "1.2.3.4");
});

test("classes: ordered, first match wins, every given criterion must match", () => {
  const t = new ClassTable([
    { name: "eu-partners", match: { groups: ["partners"], fromAddresses: ["10.0.0.0/8"] } },
    { name: "partners", match: { groups: ["partner*"] } },
    { name: "admins", match: { userNames: ["admin", "root?"], userTypes: ["staff"] } },
  ]);
  const s = (userName: string, groups: string[], userType: string, address: string) => ({ userName, groups, userType, address });
  assert.equal(t.classify(s("x", ["partners"], "standard", "10.0.0.1")), "eu-partners");
  assert.equal(t.classify(s("x", ["partners"], "standard", "192.0.2.1")), "partners");
  assert.equal(t.classify(s("root1", [], "staff", "192.0.2.1")), "admins");
  assert.equal(t.classify(s("root1", [], "standard", "192.0.2.1")), "default");
});

test("rules: first enabled rule whose pattern matches; disabled rules skipped", () => {
  const r = new RuleTable([
    { userClass: "partner*", address: "198.51.100.1", enabled: false },
    { userClass: "partner?", address: "198.51.100.2", enabled: true },
    { userClass: "*", address: "auto", enabled: true },
  ]);
  assert.equal(r.addressFor("partners"), "198.51.100.2");
  assert.equal(r.addressFor("partner"), "auto");
  assert.equal(new RuleTable([]).addressFor("x"), null);
  // empty (the PASV path then skips computing the class) counts enabled rules only.
  assert.equal(r.empty, false);
  assert.equal(new RuleTable([]).empty, true);
  assert.equal(new RuleTable([{ userClass: "*", address: "auto", enabled: false }]).empty, true);
});

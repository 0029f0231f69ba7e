// The pure part of the FtpUser feature (operator/src/controller/users.ts): merging FtpUsers into
// the FtpServer's users file, each FtpUser's verdict, and the CRD's schema rules.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseUsers } from "#server-config";
import { validateFtpUserSpec, type FtpUser } from "../../../operator/src/api/ftpuser.ts";
import { buildFtpUserCrd } from "../../../operator/src/api/crd-gen.ts";
import { checkHash, mergeUsers, type SecretData } from "../../../operator/src/controller/users.ts";
import { slimSecret } from "../../../operator/src/controller/ftpusers.ts";

// htpasswd -nbB -C 4 alice pw1 (bcrypt, cost 4: test speed) and a scrypt hash at a low test cost
const BCRYPT = "$2y$04$EZsrEDKYlg4Hhca3mPjX6ulWymXoUEkrtzgdiES6gmUGfBxDy6erG";
const SCRYPT = "scrypt$1024$8$1$oLCo6U5m5KDtTTg1R63usg==$8TAC1WfZw4DR0I+lbxjtCn/i6VjcCKJRd5uKqiOrtXQ=";
const b64 = (s: string) => Buffer.from(s).toString("base64");
const BASE = JSON.stringify({ users: [{ name: "demo", password: SCRYPT, home: "d" }] });

function user(name: string, spec: Record<string, unknown>, created = "2026-12-01T10:00:00Z"): FtpUser {
  return { metadata: { name, namespace: "ns", creationTimestamp: created, generation: 1 }, spec: { serverRef: { name: "ftp" }, passwordSecretRef: { name: `${name}-pw` }, ...spec } };
}
function merge(users: FtpUser[], secrets: Record<string, SecretData> = {}) {
  const m = new Map<string, SecretData>(Object.entries(secrets));
  return mergeUsers({ baseText: BASE, baseRef: "Secret ns/ftp-users key users.json", ftpUsers: users, secrets: m });
}
const verdict = (r: ReturnType<typeof merge>, n: string) => [r.verdicts.get(n)?.ready, r.verdicts.get(n)?.reason];

describe("FtpUser merge", () => {
  it("adds an enabled FtpUser with its fields after the file's users; the file's entries pass through unchanged", () => {
    const r = merge(
      [user("alice", { groups: ["staff"], type: "partner", home: "a/b", permissions: { delete: false }, quota: { bytes: 100 } })],
      { "alice-pw": { password: b64(`${BCRYPT}\n`) } },
    );
    assert.deepEqual(verdict(r, "alice"), [true, "Active"]);
    const file = JSON.parse(r.text) as { users: Record<string, unknown>[] };
    assert.deepEqual(file.users[0], { name: "demo", password: SCRYPT, home: "d" });
    assert.deepEqual(file.users[1], { name: "alice", password: BCRYPT, groups: ["staff"], type: "partner", home: "a/b", permissions: { delete: false }, quota: { bytes: 100 } });
    assert.equal(parseUsers(r.text).users.length, 2, "the server accepts the merged file");
  });

  it("disabled: not in the file, Ready=True reason Disabled (no Secret needed)", () => {
    const r = merge([user("alice", { enabled: false })]);
    assert.deepEqual(verdict(r, "alice"), [true, "Disabled"]);
    assert.equal((JSON.parse(r.text) as { users: unknown[] }).users.length, 1);
  });

  it("bad Secrets: missing, key missing, plain password, htpasswd line, bcrypt cost too high", () => {
    const r = merge(
      [
        user("nosecret", {}),
        user("nokey", { passwordSecretRef: { name: "nokey-pw", key: "hash" } }),
        user("plain", {}),
        user("line", {}),
        user("costly", {}),
      ],
      {
        "nokey-pw": { password: b64(BCRYPT) },
        "plain-pw": { password: b64("s3cret") },
        "line-pw": { password: b64(`line:${BCRYPT}`) },
        "costly-pw": { password: b64(BCRYPT.replace("$04$", "$31$")) },
      },
    );
    assert.deepEqual(verdict(r, "nosecret"), [false, "SecretNotFound"]);
    assert.deepEqual(verdict(r, "nokey"), [false, "SecretKeyMissing"]);
    assert.match(r.verdicts.get("nokey")!.message, /has no key hash.*keys: password/);
    assert.deepEqual(verdict(r, "plain"), [false, "InvalidHash"]);
    assert.deepEqual(verdict(r, "line"), [false, "InvalidHash"]);
    assert.match(r.verdicts.get("line")!.message, /cut -d: -f2-/);
    assert.deepEqual(verdict(r, "costly"), [false, "InvalidHash"]);
    assert.equal((JSON.parse(r.text) as { users: unknown[] }).users.length, 1, "none of them in the file");
  });

  it("a name of the Secret-based file is never taken over; among FtpUsers the oldest keeps it, even with a broken Secret", () => {
    const r = merge(
      [
        user("clash-file", { userName: "demo" }),
        user("young", { userName: "bob" }, "2026-12-01T11:00:00Z"),
        user("old", { userName: "bob" }, "2026-12-01T09:00:00Z"),
      ],
      { "clash-file-pw": { password: b64(BCRYPT) }, "young-pw": { password: b64(BCRYPT) } },
    );
    assert.deepEqual(verdict(r, "clash-file"), [false, "DuplicateUserName"]);
    assert.deepEqual(verdict(r, "old"), [false, "SecretNotFound"]);
    assert.deepEqual(verdict(r, "young"), [false, "DuplicateUserName"]);
    assert.match(r.verdicts.get("young")!.message, /already FtpUser old/);
    const names = (JSON.parse(r.text) as { users: { name: string; password: string }[] }).users.map((u) => [u.name, u.password]);
    assert.deepEqual(names, [["demo", SCRYPT]], "the file's demo is untouched");
  });

  it("a home the server refuses (from the user name) makes only that FtpUser InvalidSpec", () => {
    const r = merge([user("dots", { userName: ".." }), user("ok", {})], { "dots-pw": { password: b64(BCRYPT) }, "ok-pw": { password: b64(BCRYPT) } });
    assert.deepEqual(verdict(r, "dots"), [false, "InvalidSpec"]);
    assert.deepEqual(verdict(r, "ok"), [true, "Active"]);
  });

  it("deterministic: same input in another order gives byte-identical output (a no-op resync writes nothing)", () => {
    const users = [user("b", {}), user("a", {}), user("c", { userName: "aa" })];
    const secrets = { "a-pw": { password: b64(BCRYPT) }, "b-pw": { password: b64(SCRYPT) }, "c-pw": { password: b64(BCRYPT) } };
    const one = merge(users, secrets);
    const two = merge([...users].reverse(), secrets);
    assert.equal(one.text, two.text);
    assert.equal(one.hash, two.hash);
    assert.deepEqual((JSON.parse(one.text) as { users: { name: string }[] }).users.map((u) => u.name), ["demo", "a", "aa", "b"]);
  });

  it("checkHash trims the newline of --from-file and accepts both hash kinds", () => {
    assert.deepEqual(checkHash(`${SCRYPT}\n`), { hash: SCRYPT });
    assert.deepEqual(checkHash(BCRYPT), { hash: BCRYPT });
    assert.ok("problem" in checkHash(""));
  });
});

describe("FtpUser API", () => {
  it("validates the spec like admission: serverRef and passwordSecretRef required, names bounded", () => {
    assert.equal(validateFtpUserSpec({ serverRef: { name: "ftp" }, passwordSecretRef: { name: "pw" } }).ok, true);
    assert.equal(validateFtpUserSpec({ passwordSecretRef: { name: "pw" } }).ok, false);
    assert.equal(validateFtpUserSpec({ serverRef: { name: "ftp" }, passwordSecretRef: { name: "pw" }, userName: "x".repeat(65) }).ok, false);
    assert.equal(validateFtpUserSpec({ serverRef: { name: "ftp" }, passwordSecretRef: { name: "pw" }, password: "plain" }).ok, true, "unknown fields are pruned by the API server, not refused");
  });

  it("the CRD has the printer columns and the home CEL rule, and no plaintext password field", () => {
    const crd = buildFtpUserCrd() as { spec: { versions: { additionalPrinterColumns: { name: string }[]; schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, { "x-kubernetes-validations"?: unknown[] }> } } } } }[] } };
    const v = crd.spec.versions[0]!;
    assert.deepEqual(v.additionalPrinterColumns.map((c) => c.name), ["Server", "User", "Enabled", "Ready", "Reason", "Age"]);
    const props = v.schema.openAPIV3Schema.properties.spec.properties;
    assert.ok(props.home?.["x-kubernetes-validations"]?.length);
    assert.ok(!("password" in props));
  });

  it("the Secret cache keeps no data", () => {
    const s = slimSecret({ apiVersion: "v1", kind: "Secret", metadata: { name: "x", namespace: "n", resourceVersion: "5", labels: { a: "b" }, managedFields: [{ manager: "m" }] }, data: { k: "dg==" } });
    assert.deepEqual(s, { apiVersion: "v1", kind: "Secret", metadata: { name: "x", namespace: "n", resourceVersion: "5" } });
  });
});

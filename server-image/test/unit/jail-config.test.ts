import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, symlink, writeFile, rm, realpath } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Jail, PathError, closeDir } from "../../src/fs/jail.ts";
import { parseConfig, passiveRangeFor } from "../../src/config/load.ts";
import { ConfigError, parseUsers } from "../../src/config/users-file.ts";
import { UserDb } from "../../src/auth/users.ts";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test("jail: .. stops at the root, symlinks out are refused, inside ones are followed", async () => {
  const base = await mkdtemp(path.join(tmpdir(), "pasv-jail-"));
  dirs.push(base);
  const home = path.join(base, "home");
  await mkdir(path.join(home, "sub"), { recursive: true });
  await writeFile(path.join(base, "secret"), "x");
  await symlink(path.join(base, "secret"), path.join(home, "out-file"));
  await symlink(base, path.join(home, "out-dir"));
  await symlink(path.join(home, "sub"), path.join(home, "in-dir"));
  await symlink(path.join(base, "nowhere"), path.join(home, "dangling"));
  const j = new Jail(home);
  await j.init();
  const real = await realpath(home);
  const where = async (v: string, follow = true) => {
    const loc = await j.locate(v, follow);
    try {
      return path.join(loc.dir.real, loc.name);
    } finally {
      await closeDir(loc.dir);
    }
  };
  assert.equal(j.virtual("/sub", "../../../etc/passwd"), "/etc/passwd");
  assert.equal(await where(j.virtual("/", "../../secret")), path.join(real, "secret"));
  await assert.rejects(where("/out-file"), PathError);
  await assert.rejects(where("/out-dir/secret"), PathError);
  await assert.rejects(where("/out-dir/new-file"), PathError);
  await assert.rejects(where("/dangling"), PathError);
  assert.equal(await where("/dangling", false), path.join(real, "dangling")); // DELE acts on the link itself
  assert.equal(await where("/in-dir/x"), path.join(real, "sub", "x"));
  await assert.rejects(where("/sub/.pasv-upload-pod-0123456789abcdef"), PathError); // temp files are not addressable
  assert.throws(() => j.virtual("/", "a\0b"), PathError);
});

const minimal = { version: 1, passive: { portStart: 30000, portEnd: 30009 } };

test("config: YAML and JSON, defaults, range checks, slices", () => {
  const c = parseConfig(JSON.stringify(minimal));
  assert.equal(c.dataConnectionCheck, "strict");
  assert.equal(c.listen.controlPort, 21);
  assert.equal(parseConfig("version: 1\npassive:\n  portStart: 30000\n  portEnd: 30009\n").passive.portEnd, 30009);
  assert.throws(() => parseConfig("version: 1\npassive:\n  portStart: 30009\n  portEnd: 30000\n"), ConfigError);
  assert.throws(() => parseConfig("{"), ConfigError);
  assert.throws(() => parseConfig(JSON.stringify({ ...minimal, listen: { controlPort: 30005 } })), /control port/);
  assert.throws(() => parseConfig(JSON.stringify({ ...minimal, tls: { mode: "explicit" } })), /certFile/);
  const sliced = parseConfig(
    JSON.stringify({ version: 1, passive: { portStart: 30000, portEnd: 30009, slices: [{ slot: 0, portStart: 30000, portEnd: 30004 }, { slot: 1, portStart: 30005, portEnd: 30009 }] } }),
  );
  assert.deepEqual(passiveRangeFor(sliced, 1), { start: 30005, end: 30009 });
  assert.deepEqual(passiveRangeFor(sliced, null), { start: 30000, end: 30009 });
  const none = passiveRangeFor(sliced, 7);
  assert.ok(none.start > none.end && none.note);
  assert.throws(
    () => parseConfig(JSON.stringify({ version: 1, passive: { portStart: 30000, portEnd: 30009, slices: [{ slot: 0, portStart: 29999, portEnd: 30004 }] } })),
    /slice/,
  );
});

test("users file: schema, duplicates, home escapes", () => {
  const h = "scrypt$1024$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==";
  assert.equal(parseUsers(JSON.stringify({ users: [{ name: "a", password: h }] })).users[0]!.type, "standard");
  assert.throws(() => parseUsers(JSON.stringify({ users: [{ name: "a", password: "plain" }] })), ConfigError);
  assert.throws(() => parseUsers(JSON.stringify({ users: [{ name: "a", password: h }, { name: "a", password: h }] })), /duplicate/);
  assert.throws(() => parseUsers(JSON.stringify({ users: [{ name: "a", password: h, home: "../x" }] })), /home/);
});

test("users file: a user named .. or a home of '', '.', '/' is refused with a clear error (no root at or above storage.root)", () => {
  const h = "scrypt$1024$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==";
  const users = (u: Record<string, unknown>) => JSON.stringify({ users: [{ password: h, ...u }] });
  assert.throws(() => parseUsers(users({ name: ".." })), /user "\.\.": home "\.\." \(from the user name\) has a "\.\." component; set "home"/);
  assert.throws(() => parseUsers(users({ name: "." })), /is storage\.root itself/);
  for (const home of ["", ".", "/", "./", "a/../..", "x\u0000"]) {
    assert.throws(() => parseUsers(users({ name: "a", home })), ConfigError, `home ${JSON.stringify(home)}`);
  }
  // A user named ".." with a proper home is fine; homes are normalised.
  const ok = new UserDb(parseUsers(users({ name: "..", home: "/dots//./x/" })));
  assert.equal(ok.get("..")!.home, "dots/x");
  assert.throws(() => new UserDb({ users: [{ name: "..", password: h, groups: [], type: "standard" }] }), /home/);
});

test("users file: permissions and quota are parsed with defaults; unknown keys in them are refused", () => {
  const h = "scrypt$1024$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==";
  const db = new UserDb(
    parseUsers(
      JSON.stringify({
        users: [
          { name: "a", password: h },
          { name: "r", password: h, permissions: { write: false }, quota: { bytes: 1000, files: 3 } },
        ],
      }),
    ),
  );
  assert.deepEqual(db.get("a")!.permissions, { write: true, delete: true, rename: true });
  assert.equal(db.get("a")!.quota, null);
  assert.deepEqual(db.get("r")!.permissions, { write: false, delete: true, rename: true });
  assert.deepEqual(db.get("r")!.quota, { bytes: 1000, files: 3 });
  assert.throws(() => parseUsers(JSON.stringify({ users: [{ name: "a", password: h, permissions: { writ: false } }] })), /writ/);
  assert.throws(() => parseUsers(JSON.stringify({ users: [{ name: "a", password: h, quota: { bytes: -1 } }] })), /quota/);
});

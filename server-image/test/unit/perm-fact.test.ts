// The MLSx perm fact (fs/list.ts permFact): from the users-file permissions and the real mode bits
// of the entry and its parent, for a non-root identity (the test may run as root, where mode bits
// do not restrict, so the identity is passed in).

import { test } from "node:test";
import assert from "node:assert/strict";
import type { Stats } from "node:fs";
import { permFact, type Identity } from "../../src/fs/list.ts";

const me: Identity = { uid: 1000, gid: 1000, groups: [1000] };
const all = { write: true, delete: true, rename: true };

function st(kind: "file" | "dir", mode: number, uid = 1000, gid = 1000): Stats {
  return { mode, uid, gid, isDirectory: () => kind === "dir", isFile: () => kind === "file", isSymbolicLink: () => false } as unknown as Stats;
}

test("perm fact: mode bits of the entry and of its parent decide, per owner/group/other", () => {
  const parentRw = st("dir", 0o755);
  assert.equal(permFact(st("file", 0o644), parentRw, all, me), "radfw");
  assert.equal(permFact(st("file", 0o444), parentRw, all, me), "rdf", "read-only file: no append/overwrite");
  assert.equal(permFact(st("file", 0o644), st("dir", 0o555), all, me), "raw", "read-only parent: no delete/rename");
  assert.equal(permFact(st("file", 0o640, 0, 1000), parentRw, all, me), "rdf", "group bits: read only; the parent (mine) allows delete/rename");
  assert.equal(permFact(st("file", 0o600, 0, 0), st("dir", 0o755, 0, 0), all, me), "", "other bits: nothing");
  assert.equal(permFact(st("dir", 0o755), parentRw, all, me), "elcdmfp");
  assert.equal(permFact(st("dir", 0o555), parentRw, all, me), "eldf");
  assert.equal(permFact(st("dir", 0o755), null, all, me), "elcmp", "the home: no delete/rename of itself");
});

test("perm fact: the users-file permissions take away what the modes allow", () => {
  const parent = st("dir", 0o755);
  assert.equal(permFact(st("file", 0o644), parent, { write: false, delete: true, rename: true }, me), "r");
  assert.equal(permFact(st("file", 0o644), parent, { write: true, delete: false, rename: true }, me), "raf");
  assert.equal(permFact(st("file", 0o644), parent, { write: true, delete: true, rename: false }, me), "radw");
  assert.equal(permFact(st("dir", 0o755), parent, { write: false, delete: true, rename: true }, me), "el");
  const root: Identity = { uid: 0, gid: 0, groups: [] };
  assert.equal(permFact(st("file", 0o000, 5, 5), st("dir", 0o000, 5, 5), all, root), "radfw", "root is not limited by modes");
});

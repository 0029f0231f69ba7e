// The users file (users.json): its parser and the home rules, shared by the FTP server (at start
// and on every reload) and the operator (which checks a users Secret and merges FtpUsers with the
// same code, so a file the server would refuse is reported on the FtpServer first). No zod here:
// the file is checked against the JSON Schema generated from schema.ts's usersFileSchema
// (generated/users-file.ts), which keeps zod out of the operator.
import { compileSchema, type ValidationResult } from "./json-schema.ts";
import { usersFileJsonSchema } from "./generated/users-file.ts";
import type { UsersFile } from "./schema.ts";

export class ConfigError extends Error {}

const usersFileValidator = compileSchema<UsersFile>(usersFileJsonSchema, "");

/** Schema check of a parsed users file (no duplicate or home checks: parseUsers does those). */
export function checkUsersFile(raw: unknown): ValidationResult<UsersFile> {
  return usersFileValidator.validate(raw);
}

/** Parses and validates users-file JSON. Throws ConfigError naming `source`. */
export function parseUsers(text: string, source = "users file"): UsersFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${source}: not valid JSON: ${(e as Error).message}`);
  }
  const r = usersFileValidator.validate(raw);
  if (!r.ok) throw new ConfigError(`${source}: ${r.problems.join("; ")}`);
  const seen = new Set<string>();
  for (const u of r.value.users) {
    if (seen.has(u.name)) throw new ConfigError(`${source}: duplicate user ${u.name}`);
    seen.add(u.name);
    const why = homeProblem(u.home ?? u.name);
    if (why) {
      throw new ConfigError(
        `${source}: user ${JSON.stringify(u.name)}: home ${JSON.stringify(u.home ?? u.name)}${u.home === undefined ? " (from the user name)" : ""} ${why}; set "home" to a directory below storage.root`,
      );
    }
  }
  return r.value;
}

/**
 * Why `home` cannot be a user's home (null when it can): it must name a directory strictly below
 * storage.root, so "", ".", "/", any ".." component and NUL are refused. Empty components and
 * leading or trailing slashes are ignored ("a//b/" = "a/b").
 */
export function homeProblem(home: string): string | null {
  if (home.includes("\0")) return "contains a NUL byte";
  const comps = home.split("/").filter((c) => c !== "");
  if (comps.includes("..")) return 'has a ".." component';
  if (comps.filter((c) => c !== ".").length === 0) return "is storage.root itself";
  return null;
}

/** The home as a normalised relative path ("a//./b/" -> "a/b"); call after homeProblem() said null. */
export function normalHome(home: string): string {
  return home
    .split("/")
    .filter((c) => c !== "" && c !== ".")
    .join("/");
}


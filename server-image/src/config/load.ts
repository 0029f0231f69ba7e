// Reading and checking the config file (YAML or JSON), and picking this server's passive slice.
// The users file's parser is users-file.ts (zod-free: the operator runs it too).

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { serverConfigSchema, type ServerConfig } from "./schema.ts";
import { ConfigError } from "./users-file.ts";

/** Parses config text (YAML is a superset of JSON) and validates it. Throws ConfigError. */
export function parseConfig(text: string, source = "config"): ServerConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${source}: not valid YAML/JSON: ${(e as Error).message}`);
  }
  const r = serverConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(`${source}: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const cfg = r.data;
  const p = cfg.passive;
  if (p.portStart > p.portEnd) throw new ConfigError(`${source}: passive.portStart > passive.portEnd`);
  for (const s of p.slices ?? []) {
    if (s.portStart > s.portEnd || s.portStart < p.portStart || s.portEnd > p.portEnd) {
      throw new ConfigError(`${source}: slice for slot ${s.slot} is not inside the passive range`);
    }
  }
  const ctl = cfg.listen.controlPort;
  if (ctl >= p.portStart && ctl <= p.portEnd) throw new ConfigError(`${source}: the control port is inside the passive range`);
  if ((cfg.tls.mode !== "none") && (!cfg.tls.certFile || !cfg.tls.keyFile)) {
    throw new ConfigError(`${source}: tls.mode ${cfg.tls.mode} needs tls.certFile and tls.keyFile`);
  }
  if ((cfg.tls.mode === "implicit" || cfg.tls.mode === "both") && cfg.listen.implicitTlsPort === undefined) {
    throw new ConfigError(`${source}: tls.mode ${cfg.tls.mode} needs listen.implicitTlsPort`);
  }
  if (cfg.storage.type === "s3" && !cfg.storage.s3) throw new ConfigError(`${source}: storage.type s3 needs storage.s3 (bucket, ...)`);
  return cfg;
}

export function loadConfigFile(file: string): { config: ServerConfig; text: string } {
  const text = readFileSync(file, "utf8");
  return { config: parseConfig(text, file), text };
}

/**
 * The ports this server hands out: its slot's slice when slices are configured and the server
 * has a slot; the whole range when there are no slices or no slot. A slot without a slice gets
 * an empty range (every PASV answers 425) rather than ports another pod owns.
 */
export function passiveRangeFor(cfg: ServerConfig, slot: number | null): { start: number; end: number; note?: string } {
  const p = cfg.passive;
  if (!p.slices || p.slices.length === 0 || slot === null) return { start: p.portStart, end: p.portEnd };
  const s = p.slices.find((x) => x.slot === slot);
  if (!s) return { start: 1, end: 0, note: `no passive slice for slot ${slot}` };
  return { start: s.portStart, end: s.portEnd };
}

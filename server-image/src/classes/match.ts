// User classes and passive address rules.
// Patterns use `?` (one character) and `*` (any run, possibly empty), matched against the whole
// string. Address criteria accept CIDRs (IPv4 or IPv6) or wildcard patterns over the IP text.
// Classes are ordered and the first match names the session's class; rules are ordered and the
// first enabled rule whose pattern matches the class gives the PASV address.

import { BlockList, isIP } from "node:net";
import type { AddressRule, UserClass } from "../config/schema.ts";

export function wildcardToRegExp(pattern: string): RegExp {
  let re = "^";
  for (const ch of pattern) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(re + "$", "s");
}

/** IPv4-mapped IPv6 addresses (::ffff:1.2.3.4) are reported as plain IPv4. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return "";
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip.toLowerCase();
}

/** Matches an address against CIDRs / plain IPs / wildcard patterns. */
export class AddressMatcher {
  private readonly blocks = new BlockList();
  private readonly patterns: RegExp[] = [];
  private hasBlocks = false;

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const e = raw.trim();
      const slash = e.indexOf("/");
      if (slash > 0) {
        const ip = e.slice(0, slash);
        const bits = Number(e.slice(slash + 1));
        const fam = isIP(ip);
        if (fam && Number.isInteger(bits) && bits >= 0 && bits <= (fam === 4 ? 32 : 128)) {
          this.blocks.addSubnet(ip, bits, fam === 4 ? "ipv4" : "ipv6");
          this.hasBlocks = true;
          continue;
        }
        throw new Error(`invalid CIDR: ${e}`);
      }
      const fam = isIP(e);
      if (fam) {
        this.blocks.addAddress(e, fam === 4 ? "ipv4" : "ipv6");
        this.hasBlocks = true;
      } else {
        this.patterns.push(wildcardToRegExp(e.toLowerCase()));
      }
    }
  }

  matches(address: string): boolean {
    const ip = normalizeIp(address);
    const fam = isIP(ip);
    if (this.hasBlocks && fam && this.blocks.check(ip, fam === 4 ? "ipv4" : "ipv6")) return true;
    for (const re of this.patterns) if (re.test(ip)) return true;
    return false;
  }
}

export interface ClassSubject {
  userName: string;
  groups: readonly string[];
  userType: string;
  address: string;
}

interface CompiledClass {
  name: string;
  userNames: RegExp[] | null;
  groups: RegExp[] | null;
  userTypes: RegExp[] | null;
  from: AddressMatcher | null;
}

export const DEFAULT_CLASS = "default";

export class ClassTable {
  private readonly classes: CompiledClass[];

  constructor(classes: readonly UserClass[]) {
    this.classes = classes.map((c) => ({
      name: c.name,
      userNames: c.match.userNames ? c.match.userNames.map(wildcardToRegExp) : null,
      groups: c.match.groups ? c.match.groups.map(wildcardToRegExp) : null,
      userTypes: c.match.userTypes ? c.match.userTypes.map(wildcardToRegExp) : null,
      from: c.match.fromAddresses ? new AddressMatcher(c.match.fromAddresses) : null,
    }));
  }

  /** The name of the first class whose every given criterion matches; `default` when none does. */
  classify(s: ClassSubject): string {
    for (const c of this.classes) {
      if (c.userNames && !c.userNames.some((re) => re.test(s.userName))) continue;
      if (c.groups && !c.groups.some((re) => s.groups.some((g) => re.test(g)))) continue;
      if (c.userTypes && !c.userTypes.some((re) => re.test(s.userType))) continue;
      if (c.from && !c.from.matches(s.address)) continue;
      return c.name;
    }
    return DEFAULT_CLASS;
  }
}

export class RuleTable {
  private readonly rules: Array<{ re: RegExp; address: string }>;

  constructor(rules: readonly AddressRule[]) {
    this.rules = rules.filter((r) => r.enabled).map((r) => ({ re: wildcardToRegExp(r.userClass), address: r.address }));
  }

  /** No enabled rule: the class does not matter for the PASV address (it need not be computed). */
  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The address of the first enabled rule matching the class (may be `auto`), or null. */
  addressFor(className: string): string | null {
    for (const r of this.rules) if (r.re.test(className)) return r.address;
    return null;
  }
}

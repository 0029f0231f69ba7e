// Cross-field rules of the FtpServer API, each written twice on purpose and kept side by side:
// a CEL expression the API server evaluates at admission (emitted into the CRD as
// x-kubernetes-validations) and the same predicate in TypeScript, which the operator runs on
// every object it reads (an object stored before a rule existed still gets a clear condition,
// never a crash). test/unit/operator/api.test.ts checks that both reject the same table.
import { isIP } from "node:net";

/** A CEL rule plus its TypeScript twin. `path` is where the rule sits in the schema. */
export interface CrossRule<T> {
  rule: string;
  message: string;
  /** JSONPath-ish field the API server reports the error on (CRD `fieldPath`). */
  fieldPath?: string;
  /** CEL `reason` (FieldValueInvalid by default). */
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
  check: (self: T) => boolean;
}

// DNS name with a non-numeric last label, so "999.1.1.1" is not a host name.
export const HOSTNAME_RE = "^([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\\.?$";
export const hostnameRegExp = new RegExp(HOSTNAME_RE);
/** A DNS-1123 subdomain (names of Secrets, PVC storage classes, ...). */
export const DNS1123_SUBDOMAIN_RE = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/**
 * A label or annotation key (a "qualified name"): an optional DNS-subdomain prefix and `/`, then a
 * name of at most 63 characters. No backslashes, so the same text works in CEL and JavaScript.
 * The prefix's 253-character bound is left to the API server (a longer one fails the StatefulSet
 * apply, reported in status).
 */
export const QUALIFIED_NAME_RE = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/** A label value: empty, or at most 63 characters starting and ending alphanumeric. */
export const LABEL_VALUE_RE = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

/** A user-class / user-name pattern: same alphabet as the server's config (server-image/src/config/schema.ts). */
export const WILDCARD_RE = "^[A-Za-z0-9._@*?:\\-/]+$";
/** Wildcard over an IP's text, e.g. 192.0.2.* or 2001:db8::*. */
export const IP_WILDCARD_RE = "^[0-9A-Fa-f.:*?]+$";

export function isCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const fam = isIP(m[1] ?? "");
  const bits = Number(m[2]);
  return (fam === 4 && bits <= 32) || (fam === 6 && bits <= 128);
}

/** `auto`, an IPv4/IPv6 address, or a host name. */
export function isAddressForm(s: string): boolean {
  return s === "auto" || isIP(s) !== 0 || hostnameRegExp.test(s);
}
export const ADDRESS_FORM_CEL = `self == 'auto' || isIP(self) || self.matches('${HOSTNAME_RE.replaceAll("\\", "\\\\")}')`;

/**
 * A relative path of plain segments (no empty, `.` or `..` segment, no leading `/`): a volume
 * subPath. RE2 (the API server's regexp): no look-ahead, so a segment is spelled out as
 * "starts with a non-dot", ".x...", or "..x...".
 */
const SUB_PATH_SEGMENT = "(\\.\\.[^/]+|\\.[^./][^/]*|[^./][^/]*)";
export const SUB_PATH_RE = `^${SUB_PATH_SEGMENT}(/${SUB_PATH_SEGMENT})*$`;

// PROXY protocol v1 (text) and v2 (binary) header parsing
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt, described in docs/ftp-server.md).
// parseProxyHeader() looks at the bytes received so far and answers: need more, a parsed header
// (with the number of bytes it took), or an error. It never throws on input.

import { isIP } from "node:net";

export interface ProxyInfo {
  /** null for v1 UNKNOWN / v2 LOCAL: use the real peer. */
  sourceAddress: string | null;
  sourcePort: number | null;
  destAddress: string | null;
  destPort: number | null;
}

export type ProxyParse =
  | { kind: "incomplete" }
  | { kind: "ok"; info: ProxyInfo; length: number }
  | { kind: "error"; reason: string };

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from("PROXY ");
const V1_MAX = 107;

export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return { kind: "incomplete" };
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf);
  return { kind: "error", reason: "not a PROXY protocol header" };
}

function prefixMatches(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(buf: Buffer): ProxyParse {
  if (!prefixMatches(buf, V1_PREFIX)) return { kind: "error", reason: "bad v1 prefix" };
  const end = buf.indexOf("\r\n");
  if (end < 0) return buf.length >= V1_MAX ? { kind: "error", reason: "v1 header too long" } : { kind: "incomplete" };
  if (end + 2 > V1_MAX) return { kind: "error", reason: "v1 header too long" };
  const parts = buf.toString("latin1", 0, end).split(" ");
  const length = end + 2;
  if (parts[1] === "UNKNOWN") {
    return { kind: "ok", length, info: { sourceAddress: null, sourcePort: null, destAddress: null, destPort: null } };
  }
  if (parts.length !== 6) return { kind: "error", reason: "v1 header has wrong field count" };
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const fam = proto === "TCP4" ? 4 : proto === "TCP6" ? 6 : 0;
  if (!fam) return { kind: "error", reason: "v1 unknown protocol" };
  if (isIP(src) !== fam || isIP(dst) !== fam) return { kind: "error", reason: "v1 bad address" };
  const sp = v1Port(sport);
  const dp = v1Port(dport);
  if (sp === null || dp === null) return { kind: "error", reason: "v1 bad port" };
  return { kind: "ok", length, info: { sourceAddress: src, sourcePort: sp, destAddress: dst, destPort: dp } };
}

function v1Port(s: string): number | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}

function parseV2(buf: Buffer): ProxyParse {
  if (!prefixMatches(buf, V2_SIGNATURE)) return { kind: "error", reason: "bad v2 signature" };
  if (buf.length < 16) return { kind: "incomplete" };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: "error", reason: "v2 bad version" };
  const cmd = verCmd & 0x0f;
  const famProto = buf[13]!;
  const len = buf.readUInt16BE(14);
  const length = 16 + len;
  if (buf.length < length) return { kind: "incomplete" };
  const none: ProxyInfo = { sourceAddress: null, sourcePort: null, destAddress: null, destPort: null };
  if (cmd === 0x0) return { kind: "ok", length, info: none }; // LOCAL: health check etc.
  if (cmd !== 0x1) return { kind: "error", reason: "v2 bad command" };
  const fam = famProto >> 4;
  const body = buf.subarray(16, length);
  if (fam === 0x1) {
    if (len < 12) return { kind: "error", reason: "v2 short IPv4 block" };
    return {
      kind: "ok",
      length,
      info: {
        sourceAddress: `${body[0]}.${body[1]}.${body[2]}.${body[3]}`,
        destAddress: `${body[4]}.${body[5]}.${body[6]}.${body[7]}`,
        sourcePort: body.readUInt16BE(8),
        destPort: body.readUInt16BE(10),
      },
    };
  }
  if (fam === 0x2) {
    if (len < 36) return { kind: "error", reason: "v2 short IPv6 block" };
    return {
      kind: "ok",
      length,
      info: {
        sourceAddress: ipv6(body.subarray(0, 16)),
        destAddress: ipv6(body.subarray(16, 32)),
        sourcePort: body.readUInt16BE(32),
        destPort: body.readUInt16BE(34),
      },
    };
  }
  // AF_UNSPEC / AF_UNIX: no usable address, treat like LOCAL.
  return { kind: "ok", length, info: none };
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Let the URL parser compress it canonically.
  return new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
}

/** Builds a v1 header (used by tests and tools). */
export function buildV1(src: string, dst: string, sport: number, dport: number): Buffer {
  const fam = isIP(src) === 6 ? "TCP6" : "TCP4";
  return Buffer.from(`PROXY ${fam} ${src} ${dst} ${sport} ${dport}\r\n`, "latin1");
}

/** Builds a v2 PROXY header for TCP over IPv4 (used by tests and tools). */
export function buildV2Ipv4(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(28);
  V2_SIGNATURE.copy(b, 0);
  b[12] = 0x21;
  b[13] = 0x11;
  b.writeUInt16BE(12, 14);
  src.split(".").forEach((o, i) => (b[16 + i] = Number(o)));
  dst.split(".").forEach((o, i) => (b[20 + i] = Number(o)));
  b.writeUInt16BE(sport, 24);
  b.writeUInt16BE(dport, 26);
  return b;
}

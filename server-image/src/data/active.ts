// Active mode (PORT / EPRT): the server connects to the client. Off by default. No FTP bounce:
// the target must be the control connection's client IP, and never a privileged port.

import { connect, isIP, type Socket } from "node:net";
import { normalizeIp } from "../classes/match.ts";

export interface ActiveTarget {
  host: string;
  port: number;
}

/** PORT h1,h2,h3,h4,p1,p2 */
export function parsePort(arg: string): ActiveTarget | null {
  const m = /^\s*(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})\s*$/.exec(arg);
  if (!m) return null;
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) return null;
  return { host: n.slice(0, 4).join("."), port: n[4]! * 256 + n[5]! };
}

/** EPRT |1|132.235.1.2|6275| (any printable delimiter) */
export function parseEprt(arg: string): ActiveTarget | null {
  const a = arg.trim();
  if (a.length < 7) return null;
  const d = a[0]!;
  const parts = a.split(d);
  if (parts.length !== 5 || parts[0] !== "" || parts[4] !== "") return null;
  const [, proto, host, portText] = parts as [string, string, string, string, string];
  const fam = isIP(host);
  if ((proto === "1" && fam !== 4) || (proto === "2" && fam !== 6) || (proto !== "1" && proto !== "2")) return null;
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  return { host, port };
}

/** Why a target is refused, or null when it is allowed. */
export function refuseTarget(t: ActiveTarget, clientIp: string): string | null {
  if (normalizeIp(t.host) !== clientIp) return "active mode only to the client's own address";
  if (t.port < 1024) return "active mode to a privileged port refused";
  if (t.port < 1 || t.port > 65535) return "bad port";
  return null;
}

export function connectActive(t: ActiveTarget, localAddress: string | undefined, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: t.host, port: t.port, localAddress, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("active connect timeout"));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.off("error", onErr);
      s.on("error", () => {});
      resolve(s);
    });
    const onErr = (e: Error) => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    s.once("error", onErr);
  });
}

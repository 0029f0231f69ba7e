// Free TCP ports for servers a test starts (etcd, apiserver, kubelet, FTP servers, ...).
//
// A port the kernel hands out for `listen(0)` comes from the ephemeral range, the same range it
// uses for the source port of every outgoing connection. Between probing such a port and the real
// server binding it, any connect() on the machine may take it (seen: etcd failing with
// EADDRINUSE on 127.0.0.1:32777 while the cluster started). So ports are picked at random from
// above the ephemeral range, where no outgoing connection lands, and probed with an exclusive bind.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The kernel's ephemeral port range (Linux default when /proc is unreadable). */
export function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low && high) return { low, high };
  } catch { /* not Linux */ }
  return { low: 32768, high: 60999 };
}

/** Ports above the ephemeral range (61000–65535 with the default range), else below it (10000–). */
function pickRange(): { low: number; high: number } {
  const eph = ephemeralRange();
  if (65535 - eph.high >= 1000) return { low: eph.high + 1, high: 65535 };
  return { low: 10000, high: eph.low - 1 };
}

export function canListen(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

const handedOut = new Set<number>();

/** A port that nothing listens on now, outside the ephemeral range, not handed out before by this process. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const { low, high } = pickRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (await canListen(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${low}-${high} on ${host} after 200 tries`);
}

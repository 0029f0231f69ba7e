// Reads a PROXY protocol header off the start of a socket. The socket is left paused; bytes that
// followed the header in the same read are returned as `rest` for the caller to put back
// (socket.unshift for plain streams, tls/context.ts prependBytes before a TLS handshake).

import type { Socket } from "node:net";
import { parseProxyHeader, type ProxyInfo } from "./parse.ts";

const MAX_HEADER = 16 + 65535;

export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<{ info: ProxyInfo; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err: Error | null, info?: ProxyInfo, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("error", onClose);
      if (err) return reject(err);
      socket.pause();
      resolve({ info: info!, rest: rest ?? Buffer.alloc(0) });
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const r = parseProxyHeader(buf);
      if (r.kind === "ok") done(null, r.info, buf.subarray(r.length));
      else if (r.kind === "error") done(new Error(`PROXY protocol: ${r.reason}`));
      else if (buf.length > MAX_HEADER) done(new Error("PROXY protocol: header too long"));
    };
    const onClose = () => done(new Error("PROXY protocol: connection closed before header"));
    const timer = setTimeout(() => done(new Error("PROXY protocol: header timeout")), timeoutMs);
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", onClose);
  });
}

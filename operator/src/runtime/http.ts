// /healthz, /readyz and /metrics on one small HTTP server.
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/** A check returns true/undefined when fine, or a string/false describing what is wrong. */
export type Check = () => boolean | string | undefined;

export interface HealthServerOptions {
  /** default "0.0.0.0" (in-cluster probes); tests use "127.0.0.1" */
  host?: string;
  /** default 8080; 0 = any free port */
  port?: number;
  registry: Registry;
  healthz: Check;
  readyz: Check;
}

export class HealthServer {
  private readonly opts: HealthServerOptions;
  private server: Server | undefined;

  constructor(opts: HealthServerOptions) {
    this.opts = opts;
  }

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      const reply = (code: number, body: string, type = "text/plain; charset=utf-8") => {
        res.writeHead(code, { "content-type": type });
        res.end(body);
      };
      if (req.method !== "GET" && req.method !== "HEAD") return reply(405, "method not allowed\n");
      if (path === "/healthz" || path === "/readyz") {
        const r = (path === "/healthz" ? this.opts.healthz : this.opts.readyz)();
        if (r === true || r === undefined) return reply(200, "ok\n");
        return reply(503, `${r === false ? "not ok" : r}\n`);
      }
      if (path === "/metrics") {
        this.opts.registry.metrics().then(
          (text) => reply(200, text, this.opts.registry.contentType),
          (err: unknown) => reply(500, `${String(err)}\n`),
        );
        return;
      }
      reply(404, "not found\n");
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 8080, this.opts.host ?? "0.0.0.0", () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}

// Prometheus metrics (prom-client) and the tiny HTTP server that serves /metrics, /healthz, /readyz.

import { createServer, type Server } from "node:http";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { PoolStats } from "./passive/pool.ts";
import { passwordHashRuns } from "./auth/password.ts";
import { transferBuffers } from "./data/buffer-pool.ts";
import { directReadStats } from "./data/direct-read.ts";
import { sendfileStats } from "./data/native-io.ts";

export class Metrics {
  readonly registry = new Registry();
  readonly sessions: Gauge;
  readonly sessionsTotal: Counter<"result">;
  readonly logins: Counter<"result">;
  readonly transfers: Counter<"direction" | "result">;
  readonly bytes: Counter<"direction">;
  readonly reloads: Counter<"file" | "result">;
  readonly dataRejected: Counter<"reason">;

  constructor(poolStats: () => PoolStats, openListeners: () => number = () => 0) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.sessions = new Gauge({ name: "ftp_sessions", help: "Open control connections", registers });
    this.sessionsTotal = new Counter({
      name: "ftp_sessions_total",
      help: "Control connections by outcome at accept (accepted, refused_limit, refused_proxy, refused_draining)",
      labelNames: ["result"],
      registers,
    });
    this.logins = new Counter({ name: "ftp_logins_total", help: "Login attempts", labelNames: ["result"], registers });
    this.transfers = new Counter({
      name: "ftp_transfers_total",
      help: "Data transfers (RETR/STOR/APPE/LIST...) by direction and result",
      labelNames: ["direction", "result"],
      registers,
    });
    this.bytes = new Counter({ name: "ftp_bytes_total", help: "File bytes moved", labelNames: ["direction"], registers });
    this.reloads = new Counter({ name: "ftp_config_reloads_total", help: "Config / users file reloads", labelNames: ["file", "result"], registers });
    this.dataRejected = new Counter({
      name: "ftp_data_connections_rejected_total",
      help: "Data connections refused by the data-connection check",
      labelNames: ["reason"],
      registers,
    });
    new Gauge({ name: "ftp_passive_ports", help: "Size of this server's passive range or slice", registers, collect() { this.set(poolStats().size); } });
    new Gauge({ name: "ftp_passive_ports_in_use", help: "Passive ports with a live listener or data connection", registers, collect() { this.set(poolStats().inUse); } });
    new Gauge({ name: "ftp_passive_port_leases", help: "Sessions holding a passive port (above ftp_passive_ports_in_use only with sharePorts)", registers, collect() { this.set(poolStats().leases); } });
    new Gauge({ name: "ftp_passive_ports_quarantined", help: "Passive ports released within quarantineSeconds after a data connection (handed out only when no free port is left)", registers, collect() { this.set(poolStats().quarantined); } });
    new Gauge({ name: "ftp_passive_listeners", help: "Passive listening sockets open (waiting for a data connection, or pre-opened and idle)", registers, collect() { this.set(openListeners()); } });
    new Gauge({ name: "ftp_passive_ports_free", help: "Passive ports handed out first (never used, released unused, or past their quarantine)", registers, collect() { this.set(poolStats().free); } });
    new Counter({
      name: "ftp_password_hash_runs_total",
      help: "Password-hash runs (scrypt or bcrypt) for password checks (concurrent identical checks share one; cached successes need none)",
      registers,
      collect() {
        this.reset();
        this.inc(passwordHashRuns());
      },
    });
    /** A counter per `result` label read from a stats object the data paths count into. */
    const resultCounter = (name: string, help: string, stats: Record<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: ["result"],
        registers,
        collect() {
          this.reset();
          for (const [result, n] of Object.entries(stats)) this.inc({ result }, n);
        },
      });
    resultCounter(
      "ftp_upload_direct_reads_total",
      "Uploads spliced from the socket into the file (spliced), read straight into pool buffers (adopted), or through the ordinary path (declined: TLS, active, pool short, disabled)",
      directReadStats,
    );
    resultCounter(
      "ftp_download_sendfile_total",
      "Downloads larger than 64 KiB sent with sendfile (used) or through the copying loop (declined: TLS, S3, native module not built or PASV_NATIVE_IO=0)",
      sendfileStats,
    );
    new Gauge({ name: "ftp_transfer_buffers", help: "1 MiB transfer buffers allocated (capped by PASV_BUFFER_POOL_MB)", registers, collect() { this.set(transferBuffers.stats().allocated); } });
    new Gauge({ name: "ftp_transfer_buffers_in_use", help: "1 MiB transfer buffers held by transfers now", registers, collect() { this.set(transferBuffers.stats().inUse); } });
    new Gauge({ name: "ftp_transfer_buffers_waiting", help: "Transfers waiting for a transfer buffer", registers, collect() { this.set(transferBuffers.stats().waiting); } });
    new Counter({
      name: "ftp_passive_pool_exhausted_total",
      help: "PASV/EPSV answered 425 because the pool was empty",
      registers,
      collect() {
        this.reset();
        this.inc(poolStats().exhaustedTotal);
      },
    });
  }

  /** Serves /metrics, /healthz and /readyz (503 while draining). */
  serve(host: string, port: number, ready: () => boolean): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.url === "/metrics") {
        this.registry.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": this.registry.contentType });
            res.end(text);
          },
          () => {
            res.writeHead(500);
            res.end();
          },
        );
      } else if (req.url === "/healthz") {
        res.writeHead(200).end("ok\n");
      } else if (req.url === "/readyz") {
        const ok = ready();
        res.writeHead(ok ? 200 : 503).end(ok ? "ok\n" : "draining\n");
      } else {
        res.writeHead(404).end();
      }
    });
    server.on("clientError", (_e, sock) => sock.destroy());
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => resolve(server));
    });
  }
}

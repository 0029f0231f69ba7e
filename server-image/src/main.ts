// Entry point: node server-image/src/main.ts --config /path/config.yaml [--slot N]
// The slot (pod ordinal) may also come from PASV_SLOT. SIGTERM/SIGINT drain and exit.

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { TERMINATION_LOG } from "#server-config";
import { FtpServer } from "./server.ts";
import { createLogger } from "./log.ts";
import { prewarmFromEnv, transferBuffers } from "./data/buffer-pool.ts";

const log = createLogger();

function parseSlot(v: string | undefined): number | null {
  if (v === undefined || v === "") return null;
  // Accept a bare ordinal or a StatefulSet pod name ("ftp-3").
  const m = /(\d+)$/.exec(v);
  if (!m) throw new Error(`bad slot: ${v}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: "string", short: "c" }, slot: { type: "string" } },
    strict: true,
  });
  const configPath = values.config ?? process.env.PASV_CONFIG;
  if (!configPath) throw new Error("usage: main.ts --config /path/config.yaml [--slot N]");
  const slot = parseSlot(values.slot ?? process.env.PASV_SLOT);
  const pollMs = process.env.PASV_RELOAD_POLL_MS ? Number(process.env.PASV_RELOAD_POLL_MS) : undefined;
  const server = await FtpServer.create({ configPath, slot, log, pollMs });
  await server.start();
  // Transfer buffers backed by memory before the first RETR/STOR (buffer-pool.ts).
  transferBuffers.prewarm(prewarmFromEnv());

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    server.drain().then(
      () => {
        log.info("drained; bye");
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: (err as Error).message }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGHUP", () => void server.reload());
}

// Last line of defence: a bug must not take every session down with it. Log and carry on.
process.on("uncaughtException", (err) => {
  log.error({ err: err.message, stack: err.stack }, "uncaught exception");
});
process.on("unhandledRejection", (err) => {
  log.error({ err: (err as Error)?.message ?? String(err) }, "unhandled rejection");
});

// `docker run -i IMAGE hash-password [--bcrypt]`: the image's ENTRYPOINT puts `--config …` first.
const hashCmd = process.argv.indexOf("hash-password", 2);
if (hashCmd !== -1) {
  const { hashPasswordCli } = await import("./hash-password.ts");
  process.exit(await hashPasswordCli(process.argv.slice(hashCmd + 1)));
}

main().catch((err: unknown) => {
  const message = `cannot start: ${(err as Error).message}`;
  log.fatal({ err: (err as Error).message }, "cannot start");
  // In a pod the kubelet shows this file as the container's termination message, which the
  // operator copies into the FtpServer's status. "r+": only an existing file (the kubelet's mount) is
  // written; outside Kubernetes nothing is created. PASV_TERMINATION_LOG: another path (tests).
  try {
    writeFileSync(process.env.PASV_TERMINATION_LOG || TERMINATION_LOG, message.slice(0, 4000), { flag: "r+" });
  } catch {
    /* not in a pod */
  }
  process.exit(1);
});

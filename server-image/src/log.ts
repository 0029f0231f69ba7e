// JSON logs (pino) to stdout. Never log a PASS argument or file contents.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(): Logger {
  return pino({
    level: process.env.LOG_LEVEL ?? "info",
    base: { component: "ftp-server" },
    redact: { paths: ["password", "*.password", "pass"], censor: "[redacted]" },
  });
}

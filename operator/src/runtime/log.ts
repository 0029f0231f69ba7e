// pino JSON logs: one line per record on stdout, level from $LOG_LEVEL (default "info").
import { pino } from "pino";
import type { Logger } from "pino";

export function createLogger(opts: { name?: string; level?: string } = {}): Logger {
  return pino({
    name: opts.name ?? "pasv-operator",
    level: opts.level ?? process.env.LOG_LEVEL ?? "info",
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

export type { Logger };

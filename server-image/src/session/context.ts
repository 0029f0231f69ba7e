// What a session needs from the server. Every field is read at the moment of use, so a hot
// reload (new rules, classes, users, external address, slice, certificate) takes effect on the
// next command of every open session without touching the session itself.

import type { SecureContext } from "node:tls";
import type { ServerConfig } from "../config/schema.ts";
import type { ClassTable, RuleTable, AddressMatcher } from "../classes/match.ts";
import type { UserDb, LoginThrottle } from "../auth/users.ts";
import type { PortPool } from "../passive/pool.ts";
import type { Metrics } from "../metrics.ts";
import type { Logger } from "../log.ts";
import type { ListenerPolicy } from "../data/passive.ts";

export interface Runtime {
  config: ServerConfig;
  classes: ClassTable;
  rules: RuleTable;
  /** Trusted PROXY protocol sources, when proxyProtocol.enabled. */
  proxyTrusted: AddressMatcher | null;
  tls: SecureContext | null;
}

export interface ServerContext {
  readonly runtime: Runtime;
  readonly users: UserDb;
  readonly pool: PortPool;
  readonly throttle: LoginThrottle;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly draining: boolean;
  /** Which passive listeners stay open between PASVs (pre-opened pool ports); null: none. */
  readonly listenerPolicy?: ListenerPolicy | null;
  /** IPv4 address for a host name (cached), or null. */
  resolveIpv4(host: string): Promise<string | null>;
}

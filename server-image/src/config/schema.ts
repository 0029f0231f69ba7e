// The server's configuration file: the contract between the operator (which renders it
// into a ConfigMap) and the FTP server (which reads it, stand-alone or in a pod, and
// hot-reloads it). Changes here must stay backward compatible within `version: 1`.
import { z } from "zod";

/** A user-class pattern: `?` matches one character, `*` any run (possibly empty). */
export const wildcardPattern = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9._@*?:\-/]+$/, "pattern may contain letters, digits, . _ @ : - / and the wildcards ? *");

const port = z.number().int().min(1).max(65535);
/** A listening port; 0 = an ephemeral port chosen by the OS (for tests; the server logs the port it got). */
const listenPort = z.number().int().min(0).max(65535);

export const addressRuleSchema = z.object({
  /** Pattern over the session's user-class name. */
  userClass: wildcardPattern,
  /** `auto` = the server's `passive.externalAddress` (or, when unknown, the local address); else an IPv4/IPv6 address or a host name. */
  address: z.string().min(1).max(253),
  enabled: z.boolean().default(true),
});

export const userClassSchema = z.object({
  name: z.string().min(1).max(63),
  /** Every given criterion must match; an omitted criterion matches anything. Each list matches when any entry matches. */
  match: z
    .object({
      userNames: z.array(wildcardPattern).optional(),
      groups: z.array(wildcardPattern).optional(),
      userTypes: z.array(wildcardPattern).optional(),
      /** Wildcard patterns over the client's IP text (e.g. `192.0.2.*`) or CIDRs (e.g. `2001:db8::/32`). */
      fromAddresses: z.array(z.string().min(1).max(64)).optional(),
    })
    .default({}),
});

export const sliceSchema = z.object({
  /** Pod slot (StatefulSet ordinal); the server picks its slice by `--slot` / `PASV_SLOT`. */
  slot: z.number().int().min(0),
  portStart: port,
  portEnd: port,
});

/**
 * Object storage (storage.type s3). Credentials are not in the config: the AWS SDK's default chain
 * reads them (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from a Secret, or the pod's workload
 * identity: web identity token, EKS Pod Identity, instance metadata).
 */
export const s3StorageSchema = z
  .object({
    /** S3 endpoint URL (SeaweedFS, Ceph RGW, GCS interop, ...); omitted = AWS S3 of `region`. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    region: z.string().min(1).max(64).default("us-east-1"),
    bucket: z.string().min(3).max(63),
    /** Key prefix of all homes ("" or ending in "/", e.g. "ftp/"). */
    prefix: z
      .string()
      .max(512)
      .regex(/^$|^[^/].*\/$/, "prefix must be empty or end in / (and not start with /)")
      .default(""),
    /** Path-style URLs (endpoint/bucket/key) instead of virtual hosts (bucket.endpoint/key): most non-AWS servers need it. */
    forcePathStyle: z.boolean().default(false),
    /** STOR's multipart part size; an upload holds at most partBuffers parts in memory. S3 needs at least 5 MiB. */
    partSizeMiB: z.number().int().min(5).max(512).default(8),
    partBuffers: z.number().int().min(1).max(16).default(2),
  })
  .strict();

export const serverConfigSchema = z.object({
  version: z.literal(1),
  listen: z
    .object({
      host: z.string().default("0.0.0.0"),
      controlPort: listenPort.default(21),
      /** Port for implicit FTPS (RFC 4217 section 7, usually 990); omitted = off. */
      implicitTlsPort: listenPort.optional(),
    })
    .default({ host: "0.0.0.0", controlPort: 21 }),
  /** Text of the 220 greeting; may span lines. */
  greeting: z.string().max(2000).default("pasv-operator FTP server ready"),
  /** Other configurable server messages (added later; all optional). */
  messages: z
    .object({
      /** Text of the 230 reply after a successful login. */
      login: z.string().max(2000).optional(),
      /** Text of the 221 reply to QUIT. */
      goodbye: z.string().max(2000).optional(),
    })
    .default({}),
  passive: z.object({
    /** The whole passive range, inclusive. */
    portStart: port,
    portEnd: port,
    /** Per-pod slices of the range; when absent, or when the server has no slot, it uses the whole range. */
    slices: z.array(sliceSchema).optional(),
    /** The externally reachable address (load balancer). Used for `auto` rules and as the default PASV address. */
    externalAddress: z.string().max(253).nullable().default(null),
    /** Ordered; the first enabled rule whose pattern matches the session's class wins. */
    addressRules: z.array(addressRuleSchema).default([]),
    /**
     * How long a port that carried a data connection is the last choice (its TIME_WAIT): free ports
     * are handed out first, then the one released longest ago. A preference, never a refusal.
     */
    quarantineSeconds: z.number().min(0).max(600).default(60),
    /**
     * Several sessions may hold one passive port when their client IPs differ; each data connection
     * goes to the session waiting for its source IP. Needs dataConnectionCheck strict (the server
     * must see client IPs: PROXY protocol on data, or no SNAT).
     */
    sharePorts: z.boolean().default(false),
    /** How long a PASV listener waits for its data connection. */
    acceptTimeoutSeconds: z.number().min(1).max(600).default(30),
  }),
  /** Ordered; the first matching class names the session's class. No match = class `default`. */
  userClasses: z.array(userClassSchema).default([]),
  /** Path of the users file (format: docs/users-file.md). */
  usersFile: z.string().default("/etc/pasv/users/users.json"),
  /**
   * Which data connections are accepted:
   * strict  - the data peer's IP must equal the control peer's (after PROXY protocol, if used);
   * relaxed - for SNAT'ed paths: only the first connection on a freshly opened passive port, and under PROT P the
   *           data TLS session must resume the control session.
   */
  dataConnectionCheck: z.enum(["strict", "relaxed"]).default("strict"),
  proxyProtocol: z
    .object({
      enabled: z.boolean().default(false),
      /** CIDRs allowed to send a PROXY header; connections from elsewhere are refused when enabled. */
      trustedSources: z.array(z.string()).default([]),
      /** Expect a PROXY header on data connections too. */
      onData: z.boolean().default(false),
    })
    .default({ enabled: false, trustedSources: [], onData: false }),
  tls: z
    .object({
      /** none | explicit (AUTH TLS on the control port) | implicit (TLS from the first byte on implicitTlsPort) | both */
      mode: z.enum(["none", "explicit", "implicit", "both"]).default("none"),
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      /** Refuse USER/PASS before AUTH TLS. */
      requireForLogin: z.boolean().default(false),
      /** Refuse data transfers without PROT P. */
      requireForData: z.boolean().default(false),
      /**
       * A PROT P data connection must resume the control connection's TLS session (vsftpd's
       * require_ssl_reuse), so only the holder of that session can use the data port. Always on
       * with dataConnectionCheck: relaxed; off only for clients that cannot resume (Python ftplib).
       */
      requireSessionReuse: z.boolean().default(true),
    })
    .default({ mode: "none", requireForLogin: false, requireForData: false, requireSessionReuse: true }),
  activeMode: z
    .object({
      /** PORT/EPRT; off by default. When on, only to the control connection's peer address (no bounce). */
      enabled: z.boolean().default(false),
    })
    .default({ enabled: false }),
  limits: z
    .object({
      maxSessions: z.number().int().min(1).default(2000),
      maxSessionsPerIp: z.number().int().min(1).default(200),
      /** Idle control connection (no complete command, no transfer in progress; partial lines do not count). */
      idleTimeoutSeconds: z.number().min(1).default(300),
      /** A session not logged in this long after connecting is closed (421), however busy it is. */
      loginTimeoutSeconds: z.number().min(1).default(60),
      /** A data connection with no bytes moving for this long is cut; a flowing transfer is never cut. */
      dataTimeoutSeconds: z.number().min(1).default(300),
      maxCommandLength: z.number().int().min(64).max(65536).default(4096),
      /** Delay after a failed login, doubling per failure from the same IP up to 8x. */
      loginFailureDelayMs: z.number().int().min(0).default(1000),
    })
    .default({
      maxSessions: 2000,
      maxSessionsPerIp: 200,
      idleTimeoutSeconds: 300,
      loginTimeoutSeconds: 60,
      dataTimeoutSeconds: 300,
      maxCommandLength: 4096,
      loginFailureDelayMs: 1000,
    }),
  storage: z
    .object({
      /** Where files live (docs/storage.md): local = the directory `root`; s3 = the bucket prefix of `s3`. */
      type: z.enum(["local", "s3"]).default("local"),
      /** Root of all user homes; a user's home is root/<home or name>. */
      root: z.string().default("/data"),
      /** type s3: a user's home is the key prefix <prefix><home or name>/ in the bucket. */
      s3: s3StorageSchema.optional(),
    })
    .default({ type: "local", root: "/data" }),
  metrics: z
    .object({
      host: z.string().default("0.0.0.0"),
      /** 0 = off. */
      port: z.number().int().min(0).max(65535).default(9100),
    })
    .default({ host: "0.0.0.0", port: 9100 }),
  /** On SIGTERM: stop accepting, let transfers finish for up to this long, then close. */
  drainGraceSeconds: z.number().min(0).default(30),
  /**
   * While draining, a session is closed (421) once it has been quiet — no command running, no
   * transfer — for this long. Closing an idle session at once would race a client that is about
   * to send its next command (e.g. RETR right after STOR's 226) and fail it mid-job.
   */
  drainQuietSeconds: z.number().min(0).max(60).default(2),
}).refine((c) => !c.passive.sharePorts || c.dataConnectionCheck === "strict", {
  path: ["passive", "sharePorts"],
  message: "sharePorts routes data connections by client IP and needs dataConnectionCheck strict",
});

export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;
export type AddressRule = z.infer<typeof addressRuleSchema>;
export type UserClass = z.infer<typeof userClassSchema>;

/** Per-user permissions in the users file (docs/users-file.md, "Permissions"). */
export const userPermissionsSchema = z
  .object({
    /** false = read-only: no STOR, APPE, DELE, MKD, RMD, RNFR/RNTO. */
    write: z.boolean().default(true),
    /** false = nothing existing is destroyed: no DELE, RMD, no STOR over an existing file, no RNTO onto one, REST+STOR only at the file's end. */
    delete: z.boolean().default(true),
    /** false = no RNFR/RNTO. */
    rename: z.boolean().default(true),
  })
  .strict();

export const userQuotaSchema = z
  .object({
    /** Most bytes the home may hold (sum of regular file sizes). */
    bytes: z.number().int().min(0).optional(),
    /** Most regular files the home may hold. */
    files: z.number().int().min(0).optional(),
  })
  .strict();
export type UserPermissions = z.infer<typeof userPermissionsSchema>;
export type UserQuota = z.infer<typeof userQuotaSchema>;

/** The users file (mounted from a Secret). Passwords are hashed: see docs/users-file.md. */
export const usersFileSchema = z.object({
  users: z.array(
    z.object({
      name: z.string().min(1).max(64),
      /** `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>`, or bcrypt `$2y$<cost>$…` (htpasswd -B; auth/bcrypt.ts) */
      password: z.string().regex(
        /^(scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+|\$2[aby]\$(0[4-9]|1[0-7])\$[./A-Za-z0-9]{53})$/,
        "password must be an scrypt hash (hash-password) or a bcrypt hash ($2y$/$2b$/$2a$, cost 4-17: htpasswd -nbB)",
      ),
      groups: z.array(z.string()).default([]),
      type: z.string().default("standard"),
      /**
       * Directory under storage.root; defaults to the user name. Must name a directory strictly
       * below storage.root: "", ".", ".." components or NUL are refused when the file is loaded.
       */
      home: z.string().max(4096).optional(),
      /** What the user may change; everything is allowed by default. Reading and listing are always allowed. */
      permissions: userPermissionsSchema.optional(),
      /** Optional limits on what the home holds (regular files; upload temp files excluded). Exceeding answers 552. */
      quota: userQuotaSchema.optional(),
    }),
  ),
});
export type UsersFile = z.infer<typeof usersFileSchema>;

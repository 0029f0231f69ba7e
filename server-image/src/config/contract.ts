// The contract between the operator and the FTP server, in one module both import by name
// (`#server-config`, package.json "imports"): the config file's types, the users file's parser,
// the TLS key pair check, the run-time JSON Schema validator, and where a pod finds each file. The
// operator renders the config with these types and validates the users Secret and the TLS Secret
// with the same functions the server runs at start and on reload, so a file the server would
// refuse is reported on the FtpServer before a pod crash-loops on it. Nothing here loads zod (the
// operator imports this module at run time): the config file's zod schema and parser are
// schema.ts and load.ts, which only the server and the tests import.
import { createSecureContext, type SecureContext } from "node:tls";

export { ConfigError, checkUsersFile, homeProblem, normalHome, parseUsers } from "./users-file.ts";
export { compileSchema, type JsonSchema, type ValidationResult, type Validator } from "./json-schema.ts";
export type { AddressRule, ServerConfig, ServerConfigInput, UserClass, UsersFile } from "./schema.ts";

/** Where the pod mounts what (the operator's StatefulSet and the server's defaults agree on these). */
export const CONFIG_DIR = "/etc/pasv/config";
export const CONFIG_FILE_NAME = "config.yaml";
export const USERS_DIR = "/etc/pasv/users";
export const USERS_FILE_NAME = "users.json";
export const TLS_DIR = "/etc/pasv/tls";
/** Keys of a kubernetes.io/tls Secret, mounted as files of these names under TLS_DIR. */
export const TLS_CERT_KEY = "tls.crt";
export const TLS_KEY_KEY = "tls.key";
/** The kubelet reads this file when the container dies and shows it as the termination message. */
export const TERMINATION_LOG = "/dev/termination-log";

/**
 * The server's TLS context from PEM certificate and key. Throws (with OpenSSL's reason, e.g.
 * "key values mismatch", "no start line") on anything the server could not serve with.
 */
export function tlsContext(cert: string | Buffer, key: string | Buffer, ticketKeys?: Buffer): SecureContext {
  return createSecureContext({ cert, key, minVersion: "TLSv1.2", ticketKeys });
}

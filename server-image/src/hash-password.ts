// Prints a password hash in the users-file format (docs/users-file.md): scrypt by default, bcrypt
// with --bcrypt (the same kind `htpasswd -nbB` writes).
// Usage: node server-image/src/hash-password.ts [--bcrypt] [--cost N] < password   (or PASSWORD env, or a TTY prompt)
//        make hash-password [ARGS=--bcrypt]                 (the pinned Node)
//        docker run --rm -i IMAGE hash-password [--bcrypt]  (the FTP-server image; main.ts hands over)

import { parseArgs } from "node:util";
import { createInterface } from "node:readline/promises";
import bcrypt from "bcryptjs";
import { hashPassword, DEFAULT_PARAMS } from "./auth/password.ts";

async function readPassword(): Promise<string> {
  if (process.env.PASSWORD) return process.env.PASSWORD;
  if (process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const p = await rl.question("password: ");
    rl.close();
    return p;
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

const USAGE = "usage: hash-password [--bcrypt] [--cost N] < password   (or PASSWORD=… in the environment)\n" +
  "  scrypt (default): --cost is N, a power of two 2..1048576 (default 16384)\n" +
  "  --bcrypt:         --cost is the bcrypt cost 4..17 (default 10)\n";

/** The CLI; returns the exit code. */
export async function hashPasswordCli(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { cost: { type: "string" }, bcrypt: { type: "boolean" }, help: { type: "boolean", short: "h" } }, strict: true }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const cost = values.cost === undefined ? undefined : Number(values.cost);
  if (values.bcrypt ? cost !== undefined && !(Number.isInteger(cost) && cost >= 4 && cost <= 17) : cost !== undefined && !(Number.isInteger(cost) && cost >= 2 && (cost & (cost - 1)) === 0 && cost <= 2 ** 20)) {
    process.stderr.write(`--cost ${values.cost}: out of range\n${USAGE}`);
    return 2;
  }
  const password = await readPassword();
  if (!password) {
    process.stderr.write("empty password\n");
    return 2;
  }
  if (values.bcrypt && Buffer.byteLength(password) > 72) {
    process.stderr.write("bcrypt uses only the first 72 bytes of a password: use scrypt (no --bcrypt) for longer ones\n");
    return 2;
  }
  const hash = values.bcrypt ? bcrypt.hashSync(password, cost ?? 10) : await hashPassword(password, { ...DEFAULT_PARAMS, N: cost ?? DEFAULT_PARAMS.N });
  process.stdout.write(hash + "\n");
  return 0;
}

if (import.meta.main) process.exitCode = await hashPasswordCli(process.argv.slice(2));

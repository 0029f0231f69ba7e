// Prints an scrypt hash in the users-file format (docs/users-file.md).
// Usage: node server-image/src/hash-password.ts [--cost N] < password   (or PASSWORD env, or a TTY prompt)

import { parseArgs } from "node:util";
import { createInterface } from "node:readline/promises";
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

const { values } = parseArgs({ options: { cost: { type: "string" } } });
const N = values.cost ? Number(values.cost) : DEFAULT_PARAMS.N;
if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20) {
  console.error("--cost must be a power of two between 2 and 1048576");
  process.exit(2);
}
const password = await readPassword();
if (!password) {
  console.error("empty password");
  process.exit(2);
}
process.stdout.write((await hashPassword(password, { ...DEFAULT_PARAMS, N })) + "\n");

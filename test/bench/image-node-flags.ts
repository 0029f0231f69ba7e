// The node flags an image's Dockerfile ENTRYPOINT passes (`["node", FLAGS..., SCRIPT, ARGS...]`), so
// a benchmark runs the operator or the FTP server exactly as its image does.
import { readFileSync } from "node:fs";

/** The flags between "node" and the script in `dockerfile`'s exec-form ENTRYPOINT ([] without one). */
export function entrypointNodeFlags(dockerfile: string): string[] {
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(dockerfile, "utf8"));
  const argv = m ? (JSON.parse(m[1]!) as string[]) : [];
  const script = argv.findIndex((a, i) => i > 0 && !a.startsWith("-"));
  return argv.slice(1, script < 0 ? argv.length : script);
}

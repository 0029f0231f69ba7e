// Exit 0 when the e2e tests can run on this machine (a full node can start), else print why and exit 1.
// --allow-own DIR: a node owned by the cluster in DIR does not count (make demo reuses it).
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { canRunNode } from "../cluster/node.ts";

const { values } = parseArgs({ options: { "allow-own": { type: "string" } } });
const check = canRunNode(values["allow-own"] ? resolve(values["allow-own"]) : undefined);
if (!check.ok) {
  console.error(`SKIPPING e2e (test/e2e): the full node cannot run here: ${check.reason}`);
  process.exit(1);
}

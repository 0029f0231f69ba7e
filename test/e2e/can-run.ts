// Exit 0 when the e2e tests can run on this machine (a full node can start), else print why and exit 1.
import { canRunNode } from "../cluster/node.ts";

const check = canRunNode();
if (!check.ok) {
  console.error(`SKIPPING e2e (test/e2e): the full node cannot run here: ${check.reason}`);
  process.exit(1);
}

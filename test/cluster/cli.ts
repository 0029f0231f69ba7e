// `make cluster-up` / `make cluster-down`: start a local control plane whose processes
// outlive this command, or stop one started earlier.
//   node test/cluster/cli.ts up   --dir out/cluster
//   node test/cluster/cli.ts down --dir out/cluster
//   node test/cluster/cli.ts up --node   also a full node (kubelet, kube-proxy, MetalLB; root only)
//
// `up` is safe to repeat: a healthy cluster is reused; one whose start was interrupted (no
// `ready` mark) or whose apiserver no longer answers is stopped and started afresh. Ctrl-C
// during `up` stops what was started.
import { existsSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { apiGet, loadState, startCluster, stopCluster, type ClusterState } from "./cluster.ts";
import { recoverHost } from "./node.ts";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { dir: { type: "string", default: "out/cluster" }, "no-scheduler": { type: "boolean", default: false },
    node: { type: "boolean", default: false } },
});

async function healthy(state: ClusterState): Promise<boolean> {
  if (!state.ready) return false;
  try {
    return (await apiGet(state, "/readyz")).status === 200;
  } catch {
    return false;
  }
}

const cmd = positionals[0];
if (cmd === "up") {
  const existing = loadState(values.dir);
  if (existing && (await healthy(existing)) && (!values.node || existing.node)) {
    console.log(`cluster already running in ${existing.dir}\nexport KUBECONFIG=${existing.kubeconfig}`);
  } else {
    if (existing) {
      console.log(`stopping the ${existing.ready ? "unhealthy" : "half-started"} cluster in ${existing.dir}`);
      await stopCluster(existing);
    }
    // Ctrl-C mid-start: the processes run in their own process groups (the terminal's SIGINT
    // does not reach them), so abort the start, which stops what it started, and exit 130.
    const interrupt = new AbortController();
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.once(sig, () => {
        console.error(`\n${sig}: stopping the cluster being started in ${values.dir}`);
        interrupt.abort();
      });
    }
    const started = Date.now();
    let state: ClusterState;
    try {
      state = await startCluster({ dir: values.dir, scheduler: !values["no-scheduler"], node: values.node, signal: interrupt.signal });
    } catch (err) {
      if (interrupt.signal.aborted) process.exit(130);
      throw err;
    }
    if (interrupt.signal.aborted) {
      await stopCluster(state);
      process.exit(130);
    }
    console.log(`cluster ${state.version} ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${state.server}`);
    if (state.node) {
      console.log(`node ${state.node.name}: pods ${state.node.podCidr}, services ${state.node.serviceCidr}, LoadBalancer pool ${state.node.lbPool}`);
      console.log(`import images: ctr --address ${state.node.socket} --namespace k8s.io images import IMAGE.tar`);
    }
    console.log(`export KUBECONFIG=${state.kubeconfig}`);
  }
} else if (cmd === "down") {
  const state = loadState(values.dir);
  if (state) {
    await stopCluster(state);
    console.log(`cluster in ${state.dir} stopped and removed`);
  } else if (existsSync(values.dir)) {
    // A start that failed leaves its logs (and, if killed hard, host state): clean both.
    recoverHost(resolve(values.dir));
    rmSync(values.dir, { recursive: true, force: true });
    console.log(`no running cluster in ${values.dir}; removed what a failed start left`);
  } else {
    console.log(`no cluster in ${values.dir}`);
  }
} else {
  console.error("usage: cli.ts up|down [--dir DIR]");
  process.exit(2);
}

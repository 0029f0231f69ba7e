// `make cluster-up` / `make cluster-down`: start a local control plane whose processes
// outlive this command, or stop one started earlier.
//   node test/cluster/cli.ts up   --dir out/cluster
//   node test/cluster/cli.ts down --dir out/cluster
//   node test/cluster/cli.ts up --node   also a full node (kubelet, kube-proxy, MetalLB; root only)
import { parseArgs } from "node:util";
import { loadState, startCluster, stopCluster } from "./cluster.ts";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { dir: { type: "string", default: "out/cluster" }, "no-scheduler": { type: "boolean", default: false },
    node: { type: "boolean", default: false } },
});

const cmd = positionals[0];
if (cmd === "up") {
  const existing = loadState(values.dir);
  if (existing) {
    console.log(`cluster already running in ${existing.dir}\nexport KUBECONFIG=${existing.kubeconfig}`);
  } else {
    const started = Date.now();
    const state = await startCluster({ dir: values.dir, scheduler: !values["no-scheduler"], node: values.node });
    console.log(`cluster ${state.version} ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${state.server}`);
    if (state.node) {
      console.log(`node ${state.node.name}: pods ${state.node.podCidr}, services ${state.node.serviceCidr}, LoadBalancer pool ${state.node.lbPool}`);
      console.log(`import images: ctr --address ${state.node.socket} --namespace k8s.io images import IMAGE.tar`);
    }
    console.log(`export KUBECONFIG=${state.kubeconfig}`);
  }
} else if (cmd === "down") {
  const state = loadState(values.dir);
  if (!state) {
    console.log(`no cluster in ${values.dir}`);
  } else {
    await stopCluster(state);
    console.log(`cluster in ${state.dir} stopped and removed`);
  }
} else {
  console.error("usage: cli.ts up|down [--dir DIR]");
  process.exit(2);
}

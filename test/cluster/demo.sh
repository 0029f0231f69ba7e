#!/usr/bin/env bash
# `make demo`: bring up the local cluster and show that it is a real one.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${CLUSTER_DIR:-$root/out/cluster}
bin=$("$root/test/cluster/build.sh" control-plane)
node "$root/test/cluster/cli.ts" up --dir "$dir"
export KUBECONFIG=$dir/kubeconfig
echo
echo "\$ kubectl version"
"$bin/kubectl" version
echo
echo "\$ kubectl get nodes,ns"
"$bin/kubectl" get nodes,ns
echo
echo "The cluster keeps running. Use it with:  export KUBECONFIG=$KUBECONFIG"
echo "Stop it with:                            make cluster-down"

#!/usr/bin/env bash
# `make demo`: the whole thing on this machine, no registry, no cloud.
#   1. builds (cached) the FTP-server image and the operator image offline;
#   2. starts the local cluster with the full node (kubelet, kube-proxy, MetalLB) in out/cluster;
#   3. installs the CRD + operator with the Helm chart (in-cluster operator pod), or, when that
#      cannot work, runs the operator as a local process against the admin kubeconfig - it says which;
#   4. creates a ReadWriteMany volume (a hostPath PV on the node + its claim), applies a sample
#      FtpServer on it (3 replicas, port-partitioned, fixed blocks of 10 ports) and waits for Ready;
#   5. from a client network namespace (its only route: the load-balancer pool) runs a real FTP
#      session (Python ftplib) through the LB address: prints the PASV exchange, uploads and
#      downloads a file and compares checksums; then `kubectl get ftpservers`.
# The cluster keeps running; `make cluster-down` stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dir=${CLUSTER_DIR:-$root/out/cluster}
export PATH="$(hack/node.sh):$root/node_modules/.bin:$PATH"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# The images under their published names (images.pasv.dev/<image>:<the chart's appVersion>,
# test/images/lib.sh), imported into the node's containerd: the chart's defaults and FtpServers
# without spec.image find them there (pull policy IfNotPresent). The helm --set lines below only
# repeat the chart's defaults, unless SERVER_IMAGE / OPERATOR_IMAGE are set to other names.
# shellcheck source=../images/lib.sh
. test/images/lib.sh
SERVER_IMAGE=${SERVER_IMAGE:-$(server_image_name)}
OPERATOR_IMAGE=${OPERATOR_IMAGE:-$(operator_image_name)}
NAME=demo
USER_NAME=demo
PASSWORD=demo-password

[ "$(id -u)" = 0 ] || { echo "make demo runs a full Kubernetes node: it needs root" >&2; exit 1; }
hack/install-system-deps.sh

say "1. images (built offline, cached)"
make --no-print-directory image-tar SERVER_IMAGE="$SERVER_IMAGE"
operator_image=yes
if make --no-print-directory operator-image-tar OPERATOR_IMAGE="$OPERATOR_IMAGE"; then
  :
else
  operator_image=no
  echo "(operator image build failed: the operator will run as a local process)"
fi

say "2. cluster with a full node"
bin=$(test/cluster/build.sh all)
kubectl() { "$bin/kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }
node test/e2e/can-run.ts --allow-own "$dir" || { echo "make demo needs the full node (see above)" >&2; exit 1; }
# Reuses a healthy cluster; replaces one whose start was interrupted.
node test/cluster/cli.ts up --node --dir "$dir"
sock=$dir/node/containerd/containerd.sock
ctr --address "$sock" --namespace k8s.io images import out/images/ftp-server.tar >/dev/null
[ $operator_image = yes ] && ctr --address "$sock" --namespace k8s.io images import out/images/pasv-operator.tar >/dev/null

say "3. CRD + operator"
mode=""
if [ $operator_image = yes ]; then
  helm=$(test/tools/helm/build.sh)
  if run "$helm" --kubeconfig "$dir/kubeconfig" upgrade --install pasv-operator charts/pasv-operator \
      --namespace pasv-system --create-namespace \
      --set image.repository="${OPERATOR_IMAGE%:*}" --set image.tag="${OPERATOR_IMAGE##*:}" \
      --set ftpServerImage.repository="${SERVER_IMAGE%:*}" --set ftpServerImage.tag="${SERVER_IMAGE##*:}" \
      --set replicaCount=1 --wait --timeout 120s; then
    mode="helm"
  else
    echo "(helm install did not become ready; operator pod logs:)"
    kubectl -n pasv-system logs deploy/pasv-operator --tail=20 2>&1 || true
    "$helm" --kubeconfig "$dir/kubeconfig" uninstall pasv-operator -n pasv-system >/dev/null 2>&1 || true
  fi
fi
if [ -z "$mode" ]; then
  kubectl apply --server-side -f crds/ >/dev/null
  if [ -f "$dir/operator.pid" ] && kill -0 "$(cat "$dir/operator.pid")" 2>/dev/null; then
    echo "operator already running as a local process (pid $(cat "$dir/operator.pid"))"
  else
    mkdir -p "$dir/logs"
    nohup node operator/src/main.ts --kubeconfig "$dir/kubeconfig" --no-leader-elect --health-port 0 \
      --ftp-server-image "$SERVER_IMAGE" >>"$dir/logs/operator.log" 2>&1 &
    echo $! >"$dir/operator.pid"
  fi
  mode="local process (pid $(cat "$dir/operator.pid"), log $dir/logs/operator.log)"
fi
kubectl wait --for=condition=Established crd/ftpservers.ftp.pasv.dev --timeout=60s >/dev/null
echo "operator: $mode"

say "4. a sample FtpServer"
hash=$(PASSWORD=$PASSWORD node server-image/src/hash-password.ts)
kubectl apply -f - <<EOF
apiVersion: v1
kind: Secret
metadata: {name: demo-users}
type: Opaque
stringData:
  users.json: '{"users":[{"name":"$USER_NAME","password":"$hash","groups":["staff"]}]}'
EOF
# Shared storage: every replica mounts one ReadWriteMany claim, so a file uploaded through one pod
# is there for the next session whichever pod it lands on. Here a hostPath PV declared ReadWriteMany
# on the single node; on a real cluster an NFS / CephFS / EFS / Azure Files / Filestore claim.
# storage is immutable: an FtpServer left by an older demo (EmptyDir) is replaced.
if kubectl get ftpserver $NAME >/dev/null 2>&1 && [ "$(kubectl get ftpserver $NAME -o jsonpath='{.spec.storage.type}')" != SharedClaim ]; then
  run "$bin/kubectl" --kubeconfig "$dir/kubeconfig" delete ftpserver $NAME --wait=true --timeout=90s
fi
node test/cluster/shared-volume.ts --dir "$dir/shared/demo-files" --name demo-files | kubectl apply -f -
kubectl wait --for=jsonpath='{.status.phase}'=Bound pvc/demo-files --timeout=60s >/dev/null
kubectl apply -f - <<EOF
apiVersion: ftp.pasv.dev/v1alpha1
kind: FtpServer
metadata: {name: $NAME}
spec:
  replicas: 3                      # no image: the operator's default, $SERVER_IMAGE
  routing: {mode: PortPartitioned}
  passive:
    basePort: 31000
    numberOfPorts: 40              # 4 blocks of 10: room to scale to 4 replicas
    portsPerReplica: 10            # pod i owns 31000+10i..+9 whatever the replica count
    addressRules:
      - {userClass: "*", address: auto, enabled: true}   # auto = the load balancer's address
  users: {secretName: demo-users}
  storage: {type: SharedClaim, claimName: demo-files}    # one ReadWriteMany claim for every pod
EOF
run "$bin/kubectl" --kubeconfig "$dir/kubeconfig" wait --for=condition=Ready ftpserver/$NAME --timeout=180s
lb=$(kubectl get ftpserver $NAME -o jsonpath='{.status.passive.externalAddress}')
echo "load-balancer address (MetalLB): $lb"

say "5. a real FTP session from outside (client network namespace) to $lb"
netns=$(node --input-type=module -e "
import { loadState } from '$root/test/cluster/cluster.ts';
import { createClientNamespace } from '$root/test/cluster/node.ts';
const s = loadState('$dir');
const c = createClientNamespace(s);
console.log(c.netns);
" | tail -1)
ip netns exec "$netns" ip -4 -o addr show dev eth0 | awk '{print "client " $4 " in netns '"$netns"'"}'
ip netns exec "$netns" ip route
# kube-proxy programs the 41-port Service a moment after Ready.
for _ in $(seq 1 60); do ip netns exec "$netns" python3 -c "import socket; socket.create_connection(('$lb', 21), 2).close()" 2>/dev/null && break; sleep 0.5; done
ip netns exec "$netns" python3 test/e2e/ftp_client.py demo --host "$lb" --user $USER_NAME --password $PASSWORD
echo
echo "curl (a second client) lists the directory through $lb with PASV (--ftp-pasv --disable-epsv):"
ip netns exec "$netns" curl -sS --ftp-pasv --disable-epsv -v "ftp://$USER_NAME:$PASSWORD@$lb/" 2>&1 | grep -E '^(< 227|> PASV)|demo-file' || true
echo
echo "shared storage: 6 more sessions (kube-proxy spreads them over the 3 pods) each list the file:"
for i in 1 2 3 4 5 6; do
  n=$(ip netns exec "$netns" curl -sS --ftp-pasv --disable-epsv --list-only "ftp://$USER_NAME:$PASSWORD@$lb/" | grep -c '^demo-file.bin' || true)
  if [ "$n" = 1 ]; then echo "  session $i: demo-file.bin listed"; else echo "  session $i: demo-file.bin NOT listed"; fi
done

say "kubectl get ftpservers"
kubectl get ftpservers -o wide
kubectl get pods -o wide -l app.kubernetes.io/instance=$NAME
echo
echo "The cluster keeps running (operator: $mode)."
echo "  export KUBECONFIG=$dir/kubeconfig      # then: $bin/kubectl get ftpservers"
echo "  ip netns exec $netns python3 test/e2e/ftp_client.py probe --host $lb --user $USER_NAME --password $PASSWORD"
echo "Stop it with:  make cluster-down"

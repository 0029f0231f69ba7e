#!/usr/bin/env bash
# Builds the pinned Kubernetes and etcd binaries from their Go modules into a cache
# outside the checkout, keyed by the pin (go.mod + go.sum + this script). A fresh clone
# on the same machine reuses them; a changed pin builds a new set.
#
# usage: test/cluster/build.sh [control-plane|node|all]   (default: control-plane)
# prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/tools"
what=${1:-control-plane}

k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$tools/go.mod")
key=$(cat "$tools/go.mod" "$tools/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)
cache=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
bin="$cache/k8s-$k8s_version-$key/bin"
mkdir -p "$bin"

minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

case "$what" in
  control-plane) cmds="etcd kube-apiserver kube-controller-manager kube-scheduler kubectl" ;;
  node) cmds="kubelet kube-proxy" ;;
  all) cmds="etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy" ;;
  *) echo "unknown target $what" >&2; exit 2 ;;
esac

cd "$tools"
for c in $cmds; do
  [ -x "$bin/$c" ] && continue
  if [ "$c" = etcd ]; then pkg=./cmd/etcd; else pkg=k8s.io/kubernetes/cmd/$c; fi
  echo "building $c ($k8s_version) into $bin ..." >&2
  start=$(date +%s)
  # -trimpath and fixed ldflags: the same pin gives the same binaries.
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$c.tmp" "$pkg"
  mv "$bin/$c.tmp" "$bin/$c"
  echo "built $c in $(( $(date +%s) - start ))s" >&2
done
echo "$bin"

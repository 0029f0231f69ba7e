#!/usr/bin/env bash
# Builds the operator image offline under its published name, images.pasv.dev/pasv-operator:<the
# chart's appVersion> (test/images/lib.sh operator_image_name; or $OPERATOR_IMAGE):
# dockerd and pasv.local/node:24 from test/images (Debian packages + the pinned Node binary), and
# a staged build context (the operator compiled to JavaScript by hack/compile-js.sh in prebuilt/dist,
# package*.json and the packages the operator imports, pruned from the checkout's node_modules, in
# prebuilt/node_modules), so neither the build nor the image needs a registry or network. Production builds use operator/Dockerfile's public default base instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../../test/images/lib.sh
. "$root/test/images/lib.sh"

image=${OPERATOR_IMAGE:-$(operator_image_name)}
base=${NODE_IMAGE_NAME:-pasv.local/node:24}

"$root/test/images/node-base-image.sh"
[ -d "$root/node_modules" ] || die "no node_modules in the checkout: run make deps"
node_bin=$("$root/hack/node.sh")

ctx=$PASV_CACHE/image-context/pasv-operator
rm -rf "$ctx"
mkdir -p "$ctx/operator" "$ctx/server-image/src" "$ctx/prebuilt"
cp -p "$root/package.json" "$root/package-lock.json" "$root/tsconfig.json" "$root/operator/Dockerfile" "$ctx/"
cp -p "$root/operator/tsconfig.build.json" "$ctx/operator/"
mkdir -p "$ctx/hack" && cp -p "$root/hack/compile-js.sh" "$ctx/hack/"
# The Dockerfile's COPY lines need the sources; the image takes prebuilt/dist.
cp -rp "$root/operator/src" "$ctx/operator/src"
cp -rp "$root/server-image/src/config" "$ctx/server-image/src/config"
find "$ctx/operator/src" "$ctx/server-image/src" -name '*.test.ts' -delete
"$root/hack/compile-js.sh" operator "$ctx/prebuilt/dist"
# Packages the compiled operator imports (import type is gone from the emitted code).
deps=$("$node_bin/node" "$root/test/images/prod-deps.ts" "$ctx/prebuilt/node_modules" "$ctx/prebuilt/dist")
log "production packages the operator imports (with their closure): ${deps:-none}"

build_image "$image" "$base" "$ctx" pasv-operator/operator

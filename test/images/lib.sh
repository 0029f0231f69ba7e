# Shared settings for the offline image scripts (sourced, not executed).
# Everything lives outside the checkout so a fresh clone can reuse it.
PASV_CACHE=${PASV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pasv-operator}
DOCKER_STATE=${PASV_DOCKER_STATE:-$PASV_CACHE/docker}
# The socket our dockerd listens on. The default path, so testcontainers and the docker
# CLI find it without DOCKER_HOST; override with PASV_DOCKER_HOST.
DOCKER_SOCK=${PASV_DOCKER_SOCK:-/var/run/docker.sock}
export DOCKER_HOST=${DOCKER_HOST:-unix://$DOCKER_SOCK}
# Prefer the CLI that matches Debian's daemon (a newer static CLI may shadow it in PATH).
if [ -x /usr/bin/docker ]; then DOCKER=${DOCKER:-/usr/bin/docker}; else DOCKER=${DOCKER:-docker}; fi

# The images' published names (test/images/names.ts has the same scheme):
#   $IMAGE_REGISTRY/ftp-server:<appVersion> and $IMAGE_REGISTRY/pasv-operator:<appVersion>,
# appVersion read from the chart (charts/pasv-operator/Chart.yaml), the one source of truth.
IMAGE_REGISTRY=${PASV_IMAGE_REGISTRY:-images.pasv.dev}
app_version() {
  sed -n 's/^appVersion:[[:space:]]*["'"'"']\{0,1\}\([^"'"'"'[:space:]#]*\).*/\1/p' \
    "$(dirname "${BASH_SOURCE[0]}")/../../charts/pasv-operator/Chart.yaml"
}
server_image_name() { echo "$IMAGE_REGISTRY/ftp-server:$(app_version)"; }
operator_image_name() { echo "$IMAGE_REGISTRY/pasv-operator:$(app_version)"; }

log() { echo "[$(basename "$0")] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# build_image IMAGE BASE CONTEXT SOURCE: the offline docker build of our images (classic builder,
# so unchanged layers are cached), labelled with the revision and SOURCE; then drops earlier builds
# of the same SOURCE left untagged.
build_image() {
  local image=$1 base=$2 ctx=$3 source=$4 rev
  rev=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --short HEAD 2>/dev/null || echo unknown)
  log "building $image on $base ..."
  DOCKER_BUILDKIT=0 "$DOCKER" build --quiet \
    --build-arg "BASE_IMAGE=$base" \
    --label "org.opencontainers.image.revision=$rev" \
    --label "org.opencontainers.image.source=$source" \
    --tag "$image" "$ctx" >/dev/null
  log "$image ready ($("$DOCKER" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'), user $("$DOCKER" image inspect --format '{{.Config.User}}' "$image"))"
  "$DOCKER" image prune --force --filter "label=org.opencontainers.image.source=$source" >/dev/null || true
}

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

log() { echo "[$(basename "$0")] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

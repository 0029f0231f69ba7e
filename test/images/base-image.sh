#!/usr/bin/env bash
# Builds pasv.local/debian:bookworm offline: a minimal Debian bookworm rootfs made by mmdebstrap
# from the machine's own apt sources (no registry, no pull), imported with `docker import`.
# Cached: does nothing when the image exists; re-imports from a cached tarball when only the
# Docker data was wiped. FORCE=1 rebuilds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

image=${BASE_IMAGE_NAME:-pasv.local/debian:bookworm}
tarball=$PASV_CACHE/images/debian-bookworm-rootfs.tar

"$here/dockerd.sh" >/dev/null
if [ "${FORCE:-0}" != 1 ] && image_exists "$image"; then
  log "$image exists"
  exit 0
fi

if [ "${FORCE:-0}" = 1 ] || [ ! -s "$tarball" ]; then
  command -v mmdebstrap >/dev/null 2>&1 || "$here/../../hack/install-system-deps.sh"
  # The host's enabled apt sources, passed as files: mmdebstrap pastes each into the
  # chroot's sources list, so no mirror name is written anywhere by us.
  sources=()
  [ -s /etc/apt/sources.list ] && grep -qE '^\s*deb\s' /etc/apt/sources.list && sources+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sources+=("$f")
  done
  [ ${#sources[@]} -gt 0 ] || die "no apt sources found on this machine"
  mkdir -p "$(dirname "$tarball")"
  log "mmdebstrap bookworm (minbase) from ${sources[*]} ..."
  # minbase = Essential packages + apt; libstdc++6 (needed by node) comes with apt.
  # Docs, man pages and locales are dropped; apt lists are emptied at the end.
  mmdebstrap --variant=minbase --format=tar --quiet \
    --include=ca-certificates,tzdata \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    --customize-hook='rm -f "$1"/etc/apt/sources.list.d/* && : > "$1"/etc/apt/sources.list' \
    --customize-hook='echo pasv-base > "$1"/etc/hostname' \
    bookworm "$tarball.tmp" "${sources[@]}"
  mv "$tarball.tmp" "$tarball"
fi

log "docker import $tarball -> $image"
"$DOCKER" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  --message "Debian bookworm minbase from mmdebstrap (pasv-operator test/images/base-image.sh)" \
  "$tarball" "$image" >/dev/null
log "$image ready ($("$DOCKER" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"

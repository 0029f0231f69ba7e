#!/usr/bin/env bash
# Installs the Debian packages the build and tests need (lists in hack/apt/*.txt, one
# package per line, '#' comments). Idempotent and quick when everything is present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t want < <(cat "$here"/apt/*.txt 2>/dev/null | sed 's/#.*//' | awk 'NF{print $1}' | sort -u)
[ ${#want[@]} -gt 0 ] || exit 0
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

#!/usr/bin/env bash
# Starts Docker Engine from Debian's docker.io for the tests (no systemd needed), or stops it.
#   test/images/dockerd.sh [start]   idempotent: installs docker.io if missing, starts dockerd in
#                                    the background, waits until the API answers
#   test/images/dockerd.sh stop      stops the dockerd this script started
#   test/images/dockerd.sh status
# State (data-root, exec-root, pid file, log) under $PASV_CACHE/docker (~/.cache/pasv-operator/docker).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

pidfile=$DOCKER_STATE/dockerd.pid
logfile=$DOCKER_STATE/dockerd.log

api_up() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

ensure_installed() {
  if ! command -v dockerd >/dev/null 2>&1 || [ ! -x /usr/bin/docker ]; then
    log "installing Debian's docker.io ..."
    "$here/../../hack/install-system-deps.sh"
  fi
  command -v dockerd >/dev/null 2>&1 || die "dockerd not found after installing docker.io"
  if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; fi
}

# Closes this shell's descriptors above 2 (the daemon started next inherits them otherwise).
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null || continue
    eval "exec $fd>&-" 2>/dev/null || true
  done
}

start() {
  ensure_installed
  if api_up; then
    log "dockerd already answering on $DOCKER_HOST"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "dockerd needs root (run as root, or point DOCKER_HOST at a running engine)"
  mkdir -p "$DOCKER_STATE/data" "$DOCKER_STATE/exec"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "dockerd (pid $(cat "$pidfile")) is running but not answering yet; waiting"
  else
    rm -f "$pidfile" "$DOCKER_SOCK"
    # Networking that works on this kind of host (VM, cgroup v1, nf_tables iptables, no systemd):
    # - bridge + iptables on (port publishing via NAT), userland proxy on so 127.0.0.1 publishing
    #   works without route_localnet tricks;
    # - ip-forward on (dockerd sets net.ipv4.ip_forward itself), no IPv6 on the bridge;
    # - cgroupfs driver (no systemd as PID 1); overlay2 on the cache's ext4.
    # A quiet bridge name/subnet so we do not collide with other local networks.
    # The daemon outlives this script: it must not inherit the caller's descriptors above 2 (a
    # `flock LOCK make test` would otherwise stay locked for as long as dockerd runs).
    (close_inherited_fds; exec setsid dockerd \
      --data-root "$DOCKER_STATE/data" \
      --exec-root "$DOCKER_STATE/exec" \
      --pidfile "$pidfile" \
      --host "unix://$DOCKER_SOCK" \
      --exec-opt native.cgroupdriver=cgroupfs \
      --storage-driver overlay2 \
      --iptables=true --ip-forward=true --ip-masq=true \
      --userland-proxy=true \
      --bip 172.29.0.1/24 \
      --default-address-pool base=172.30.0.0/16,size=24 \
      --log-level warn) \
      </dev/null >>"$logfile" 2>&1 &
    log "dockerd starting (pid $!), log: $logfile"
  fi
  for _ in $(seq 1 120); do
    if api_up; then
      log "dockerd up: $("$DOCKER" version --format 'server {{.Server.Version}}') on $DOCKER_HOST"
      return 0
    fi
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
    sleep 0.5
  done
  tail -n 30 "$logfile" >&2 || true
  die "dockerd did not come up (see $logfile)"
}

stop() {
  if [ ! -f "$pidfile" ]; then log "no dockerd started by us"; return 0; fi
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then log "dockerd $pid did not stop in 30s; killing"; kill -KILL "$pid"; fi
  fi
  rm -f "$pidfile"
  log "dockerd stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) if api_up; then "$DOCKER" version --format 'dockerd {{.Server.Version}} up'; else echo "dockerd down"; exit 1; fi ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac

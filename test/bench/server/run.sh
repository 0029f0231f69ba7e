#!/usr/bin/env bash
# make bench-server: our FTP server vs vsftpd from Debian, same run, 127.0.0.1 only.
# Bounded: fixed counts, per-operation timeouts, and a whole-run limit (BENCH_MAX_MINUTES, 25).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
command -v vsftpd >/dev/null 2>&1 || [ -x /usr/sbin/vsftpd ] || "$root/hack/install-system-deps.sh"
command -v curl >/dev/null 2>&1 || "$root/hack/install-system-deps.sh"
# 1,000 sessions = 2,000+ sockets in the client and in each server.
want=65536
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then ulimit -Hn "$want" 2>/dev/null || want=$hard; fi  # root may raise the hard limit; else use it
ulimit -n "$want"
node_bin=$("$root/hack/node.sh")
echo "[bench] ulimit -n $(ulimit -n); bench files and server state in ${PASV_CACHE:-~/.cache/pasv-operator}/bench-server" >&2
# --expose-gc: the client collects its garbage before each timed burst (bench.ts).
exec "$node_bin/node" --expose-gc "$here/bench.ts" "$@"

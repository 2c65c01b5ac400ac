#!/usr/bin/env bash
# A 3-member etcd cluster on free loopback ports, for tests that share one
# (WEIR_TEST_ETCD="$(cat DIR/endpoints)"):
#   scripts/etcd-cluster.sh start DIR   # data, logs and pids under DIR; client URLs in DIR/endpoints
#   scripts/etcd-cluster.sh stop DIR    # stops the members (SIGTERM, then SIGKILL) and removes DIR
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

free_ports() {  # N ports the kernel picks as free, held until all are picked
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

start() {
  mkdir -p "$dir"
  read -r -a ports <<<"$(free_ports 6)"
  local initial="" urls=""
  for i in 0 1 2; do
    initial+="${initial:+,}m$i=http://127.0.0.1:${ports[$((2 * i + 1))]}"
    urls+="${urls:+,}http://127.0.0.1:${ports[$((2 * i))]}"
  done
  for i in 0 1 2; do
    local client="http://127.0.0.1:${ports[$((2 * i))]}" peer="http://127.0.0.1:${ports[$((2 * i + 1))]}"
    etcd --name "m$i" --data-dir "$dir/m$i.etcd" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token "weir-ci-$$" \
      --heartbeat-interval 50 --election-timeout 500 --logger zap --log-outputs stderr --log-level error \
      --experimental-watch-progress-notify-interval 1s \
      </dev/null >"$dir/m$i.log" 2>&1 &
    echo $! >"$dir/m$i.pid"
  done
  # Healthy: every member answers a linearizable read, within 20 s.
  for _ in $(seq 200); do
    if ETCDCTL_API=3 etcdctl --endpoints "$urls" --command-timeout 1s endpoint health >/dev/null 2>&1; then
      echo "$urls" >"$dir/endpoints"
      echo "$urls"
      return 0
    fi
    sleep 0.1
  done
  echo "etcd cluster did not become healthy within 20 s; logs in $dir" >&2
  stop_members
  return 1
}

stop_members() {
  local pids=()
  for f in "$dir"/m*.pid; do
    [ -e "$f" ] || continue
    pids+=("$(cat "$f")")
    rm -f "$f"
  done
  [ ${#pids[@]} -eq 0 ] && return 0
  kill -CONT "${pids[@]}" 2>/dev/null || true
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "${pids[@]}" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

case "$cmd" in
  start) start ;;
  stop) stop_members; rm -rf "$dir" ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Compare Weir, HAProxy and nginx as 90/10 splitting reverse proxies in one run,
# and Weir with a running progressive rollout against plain Weir (its cost).
#
#   bash bench/run.sh PATH_TO_WEIR_BINARY          (make bench)
#
# Environment (defaults):
#   BENCH_ROUNDS=3          interleaved rounds per target (median reported)
#   BENCH_DURATION=5s       wrk duration per run (Ns or Nm)
#   BENCH_CONNECTIONS=64    wrk connections
#   BENCH_WARMUP=1s         one unmeasured wrk run per target before round 1 ("0" = none)
#   BENCH_IDLE_CONNS=2000   keep-alive connections for the RSS-per-idle-connection test
#   BENCH_BURST_CONNS=3000  connections for the burst test (one request on each at once, then idle)
#   BENCH_BURST_SETTLE=3    seconds the burst's connections stay idle before RSS is read
#   BENCH_MEMORY_ONLY=0     1: skip the load rounds (RSS tests only; throughput columns read n/a)
#   BENCH_SKIP_WEIR=0       1: measure only the baselines (Weir reported as skipped)
#   BENCH_SKIP_ROLLOUT=0    1: do not measure the weir+rollout target
#   BENCH_ROLLOUT_PAIRS=2   Weir / Weir+rollout runs per round (1 = once each, as the others)
#   BENCH_ROLLOUT_AA=0      1: calibration — the second Weir gets no rollout (A/A: the noise floor)
#   BENCH_START_TIMEOUT=15  seconds each server gets to start answering
#   BENCH_STRICT=0          1: exit 2 when a Weir target is not met
#   BENCH_KEEP=0            1: keep the temp dir (configs, logs, raw wrk output)
#   BENCH_TLS=1             0: skip the TLS rounds (Weir, HAProxy, nginx terminating TLS)
#   BENCH_ONLY=             tls: run only the TLS rounds; tunnel: only the tunnel rounds;
#                           h2: only the HTTP/2 rounds (no plain rounds, latest.md untouched)
#   BENCH_TLS_ROUNDS=5      interleaved rounds of the TLS keep-alive and new-connection runs
#   BENCH_TLS_UP_ROUNDS=5   interleaved rounds with TLS to the upstreams (plain client; 0 = skip)
#   BENCH_TLS_IDLE_CONNS=2000  idle TLS connections for the RSS test (fewer if the fd limit is low; 0 = skip)
#   BENCH_TLS_NGINX_PROTOCOLS="TLSv1.2 TLSv1.3"  nginx's ssl_protocols ("default": nginx 1.22's own,
#                           TLSv1 TLSv1.1 TLSv1.2, i.e. no TLS 1.3, unlike Weir and HAProxy)
#   BENCH_TUNNEL=1          0: skip the tunnel rounds (HTTP/1.1 Upgrade: websocket through each proxy)
#   BENCH_TUNNEL_BYTES=268435456  bytes each way through one tunnel in the throughput runs
#   BENCH_TUNNEL_ROUNDS=5   interleaved throughput rounds (median reported)
#   BENCH_TUNNEL_IDLE=1000  idle tunnels (and idle keep-alive connections) for the RSS test (0 = skip)
#   BENCH_TUNNEL_TOOL=      the tunnel client/backend (default: weir_tunnel_tool next to the Weir binary,
#                           else build/weir_tunnel_tool)
#   BENCH_H2=1              0: skip the HTTP/2 rounds (h2load -c16 -m10 over TLS h2 and h2c, idle h2 connections)
#   BENCH_H2_ROUNDS=5       interleaved HTTP/2 rounds (each: TLS h2, then h2c, then h2 upstream, on every proxy)
#   BENCH_H2_DURATION=      h2load duration per run (Ns or Nm; default: BENCH_DURATION)
#   BENCH_H2_IDLE_CONNS=1000  idle h2 connections over TLS for the RSS test (0 = skip)
#   BENCH_H2_UP=1           0: no "h2 upstream" runs in the HTTP/2 rounds (h2c client, each proxy speaking
#                           h2c to two nginx h2c backends: Weir protocol: h2, HAProxy proto h2, nginx grpc_pass)
# BENCH_ONLY=h2 runs only the HTTP/2 rounds (the h2 upstream runs included).
# Writes bench/results/latest.md, tls.md, tunnel.md and h2.md (see bench/README.md).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL="$BENCH_DIR/bench_tool.py"
RESULTS_DIR="$BENCH_DIR/results"

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5s}
CONNS=${BENCH_CONNECTIONS:-64}
WARMUP=${BENCH_WARMUP:-1s}
IDLE_CONNS=${BENCH_IDLE_CONNS:-2000}
BURST_CONNS=${BENCH_BURST_CONNS:-3000}
BURST_SETTLE=${BENCH_BURST_SETTLE:-3}
MEMORY_ONLY=${BENCH_MEMORY_ONLY:-0}
SKIP_WEIR=${BENCH_SKIP_WEIR:-0}
SKIP_ROLLOUT=${BENCH_SKIP_ROLLOUT:-0}
ROLLOUT_PAIRS=${BENCH_ROLLOUT_PAIRS:-2}
ROLLOUT_AA=${BENCH_ROLLOUT_AA:-0}
START_TIMEOUT=${BENCH_START_TIMEOUT:-15}
STRICT=${BENCH_STRICT:-0}
TLS=${BENCH_TLS:-1}
ONLY=${BENCH_ONLY:-}
TLS_ROUNDS=${BENCH_TLS_ROUNDS:-5}
TLS_UP_ROUNDS=${BENCH_TLS_UP_ROUNDS:-5}
TLS_IDLE_CONNS=${BENCH_TLS_IDLE_CONNS:-2000}
TLS_NGINX_PROTOCOLS=${BENCH_TLS_NGINX_PROTOCOLS:-TLSv1.2 TLSv1.3}
TUNNEL=${BENCH_TUNNEL:-1}
TUNNEL_BYTES=${BENCH_TUNNEL_BYTES:-268435456}
TUNNEL_ROUNDS=${BENCH_TUNNEL_ROUNDS:-5}
TUNNEL_IDLE=${BENCH_TUNNEL_IDLE:-1000}
H2=${BENCH_H2:-1}
H2_ROUNDS=${BENCH_H2_ROUNDS:-5}
H2_DURATION=${BENCH_H2_DURATION:-$DURATION}
H2_IDLE_CONNS=${BENCH_H2_IDLE_CONNS:-1000}
H2_UP=${BENCH_H2_UP:-1}
H2_CLIENTS=16   # h2load -c: connections
H2_STREAMS=10   # h2load -m: concurrent streams per connection
H2_IDLE_TIMEOUT=300   # s: no proxy closes an idle h2 connection sooner in the idle test

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

to_seconds() { # 5s | 2m | 7 -> seconds
  case $1 in
    *s) echo "${1%s}" ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *) echo "$1" ;;
  esac
}

# --- preconditions ---------------------------------------------------------
for tool in wrk haproxy nginx python3; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (run scripts/install-deps.sh)"
done
case $ONLY in
  "") ;;
  tls) TLS=1; TUNNEL=0; H2=0 ;;
  tunnel) TUNNEL=1; TLS=0; H2=0 ;;
  h2) H2=1; TLS=0; TUNNEL=0 ;;
  *) die "BENCH_ONLY must be empty, 'tls', 'tunnel' or 'h2'" ;;
esac
[[ $TUNNEL == 0 || $TUNNEL == 1 ]] || die "BENCH_TUNNEL must be 0 or 1"
[[ $TUNNEL_BYTES =~ ^[1-9][0-9]*$ ]] || die "BENCH_TUNNEL_BYTES must be a positive integer"
[[ $TUNNEL_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_TUNNEL_ROUNDS must be a positive integer"
[[ $TUNNEL_IDLE =~ ^[0-9]+$ ]] || die "BENCH_TUNNEL_IDLE must be an integer"
if [[ $TUNNEL == 0 ]]; then TUNNEL_IDLE=0; fi
[[ $TLS == 0 || $TLS == 1 ]] || die "BENCH_TLS must be 0 or 1"
[[ $H2 == 0 || $H2 == 1 ]] || die "BENCH_H2 must be 0 or 1"
[[ $H2_ROUNDS =~ ^[0-9]+$ ]] || die "BENCH_H2_ROUNDS must be an integer"
[[ $H2_IDLE_CONNS =~ ^[0-9]+$ ]] || die "BENCH_H2_IDLE_CONNS must be an integer"
[[ $H2_UP == 0 || $H2_UP == 1 ]] || die "BENCH_H2_UP must be 0 or 1"
if [[ $H2 == 0 ]]; then H2_IDLE_CONNS=0; fi
if [[ $H2 == 1 ]]; then
  command -v h2load >/dev/null 2>&1 \
    || die "'h2load' not found (package nghttp2-client; needed for the HTTP/2 rounds; BENCH_H2=0 skips them)"
  command -v openssl >/dev/null 2>&1 || die "'openssl' not found (needed for the HTTP/2 rounds; BENCH_H2=0 skips them)"
  if [[ $H2_UP == 1 ]]; then
    command -v nghttp >/dev/null 2>&1 \
      || die "'nghttp' not found (package nghttp2-client; checks the h2 upstream runs' answers; BENCH_H2_UP=0 skips them)"
  fi
fi
if [[ $TLS == 1 ]]; then
  command -v openssl >/dev/null 2>&1 || die "'openssl' not found (needed for the TLS rounds; BENCH_TLS=0 skips them)"
fi
[[ $TLS_ROUNDS =~ ^[0-9]+$ ]] || die "BENCH_TLS_ROUNDS must be an integer"
[[ $TLS_UP_ROUNDS =~ ^[0-9]+$ ]] || die "BENCH_TLS_UP_ROUNDS must be an integer"
[[ $TLS_IDLE_CONNS =~ ^[0-9]+$ ]] || die "BENCH_TLS_IDLE_CONNS must be an integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
[[ $IDLE_CONNS =~ ^[0-9]+$ ]] || die "BENCH_IDLE_CONNS must be an integer"
[[ $BURST_CONNS =~ ^[0-9]+$ ]] || die "BENCH_BURST_CONNS must be an integer"
[[ $BURST_SETTLE =~ ^[0-9]+([.][0-9]+)?$ ]] || die "BENCH_BURST_SETTLE must be a number of seconds"
[[ $ROLLOUT_PAIRS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROLLOUT_PAIRS must be a positive integer"
DUR_S=$(to_seconds "$DURATION"); [[ $DUR_S =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_DURATION '$DURATION'"
WARM_S=$(to_seconds "$WARMUP"); [[ $WARM_S =~ ^[0-9]+$ ]] || die "bad BENCH_WARMUP '$WARMUP'"
H2_DUR_S=$(to_seconds "$H2_DURATION"); [[ $H2_DUR_S =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_H2_DURATION '$H2_DURATION'"

WEIR=${1:-}
if [[ $SKIP_WEIR == 1 ]]; then
  log "BENCH_SKIP_WEIR=1: Weir will not be measured"
  WEIR=""
elif [[ -z $WEIR ]]; then
  die "usage: bash bench/run.sh PATH_TO_WEIR_BINARY   (or BENCH_SKIP_WEIR=1 for baselines only)"
elif [[ ! -x $WEIR ]]; then
  die "Weir binary '$WEIR' is missing or not executable (build it with 'make build', or set BENCH_SKIP_WEIR=1)"
else
  WEIR=$(cd "$(dirname "$WEIR")" && pwd)/$(basename "$WEIR")
fi
TUNNEL_TOOL=${BENCH_TUNNEL_TOOL:-}
if [[ $TUNNEL == 1 ]]; then
  if [[ -z $TUNNEL_TOOL ]]; then
    TUNNEL_TOOL="$BENCH_DIR/../build/weir_tunnel_tool"
    if [[ -n $WEIR && -x $(dirname "$WEIR")/weir_tunnel_tool ]]; then TUNNEL_TOOL="$(dirname "$WEIR")/weir_tunnel_tool"; fi
  fi
  [[ -x $TUNNEL_TOOL ]] \
    || die "tunnel tool '$TUNNEL_TOOL' is missing (built with weir: 'make build'; or BENCH_TUNNEL_TOOL=PATH, or BENCH_TUNNEL=0)"
  TUNNEL_TOOL=$(cd "$(dirname "$TUNNEL_TOOL")" && pwd)/$(basename "$TUNNEL_TOOL")
fi

# Enough descriptors for the idle and burst tests (client side here; servers get
# their own limits). A burst also opens as many upstream connections.
MEM_CONNS=$(( IDLE_CONNS > BURST_CONNS ? IDLE_CONNS : BURST_CONNS ))
MEM_CONNS=$(( TUNNEL_IDLE > MEM_CONNS ? TUNNEL_IDLE : MEM_CONNS ))
MEM_CONNS=$(( H2_IDLE_CONNS > MEM_CONNS ? H2_IDLE_CONNS : MEM_CONNS ))
NEED_FD=$(( MEM_CONNS + CONNS + 512 ))
# A proxy holds two descriptors per tunnel (client and backend side); it inherits this limit.
if (( 2 * TUNNEL_IDLE + 512 > NEED_FD )); then NEED_FD=$(( 2 * TUNNEL_IDLE + 512 )); fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt $NEED_FD ]]; then
  die "open-file limit $(ulimit -n) < $NEED_FD needed for BENCH_IDLE_CONNS=$IDLE_CONNS / BENCH_BURST_CONNS=$BURST_CONNS / BENCH_TUNNEL_IDLE=$TUNNEL_IDLE / BENCH_H2_IDLE_CONNS=$H2_IDLE_CONNS (raise 'ulimit -Hn' or lower them)"
fi
MAXCONN=$(( MEM_CONNS + CONNS + 256 ))
if [[ $TLS == 1 && $(ulimit -n) != unlimited ]] && (( TLS_IDLE_CONNS + CONNS + 512 > $(ulimit -n) )); then
  TLS_IDLE_CONNS=$(( $(ulimit -n) - CONNS - 512 ))
  (( TLS_IDLE_CONNS > 0 )) || TLS_IDLE_CONNS=0
  log "open-file limit $(ulimit -n): the idle TLS test opens $TLS_IDLE_CONNS connections"
fi
if (( TLS_IDLE_CONNS + CONNS + 256 > MAXCONN )); then MAXCONN=$(( TLS_IDLE_CONNS + CONNS + 256 )); fi

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- temp dir and cleanup --------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/weir-bench.XXXXXX")
declare -A PID=()   # name -> pid of a process this script started
cleanup() {
  local rc=$? name p i
  trap - EXIT INT TERM
  for name in "${!PID[@]}"; do
    p=${PID[$name]}
    kill -TERM "$p" 2>/dev/null || true
  done
  for name in "${!PID[@]}"; do
    p=${PID[$name]}
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      log "$name (pid $p) did not exit after SIGTERM; killing"
      kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
  done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    log "BENCH_KEEP=1: configs and logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r P_B1 P_B2 P_WEIR P_WEIR_ADMIN P_HAP P_NGX P_WR P_WR_ADMIN P_WT P_WT_ADMIN P_HT P_NT \
  <<<"$(python3 "$TOOL" ports 12)"
log "ports: backends $P_B1 $P_B2, weir $P_WEIR (admin $P_WEIR_ADMIN), weir+rollout $P_WR (admin $P_WR_ADMIN)," \
    "haproxy $P_HAP, nginx $P_NGX; TLS: weir $P_WT (admin $P_WT_ADMIN), haproxy $P_HT, nginx $P_NT; work dir $TMP"

# --- helpers ---------------------------------------------------------------
children_of() { # pid -> direct children pids
  local t
  for t in /proc/"$1"/task/*/children; do
    cat "$t" 2>/dev/null || true
  done | xargs -n 1 2>/dev/null || true
}

tree() { # pid -> pid and its children (nginx master + workers)
  echo "$1"
  children_of "$1"
}

cpu_ticks() { # pids... -> sum of utime+stime (all threads) in clock ticks
  local p total=0 t
  for p in "$@"; do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || t=0
    total=$(( total + ${t:-0} ))
  done
  echo "$total"
}

children_us() { # VAR -> sets VAR to the CPU (user+system) of this shell's finished children so far, in µs
  # Run in this shell, not in $(...): a subshell has no children of its own.
  local t
  times >"$TMP/times.txt"
  t=$(tail -n 1 "$TMP/times.txt")
  printf -v "$1" '%s' "$(awk -v t="$t" 'BEGIN { n = split(t, f, " "); s = 0
    for (i = 1; i <= n; i++) { split(f[i], ms, "m"); sub(/s$/, "", ms[2]); s += ms[1] * 60 + ms[2] }
    printf "%.0f", s * 1e6 }')"
}

machine_ticks() { # -> "total idle steal" clock ticks of all CPUs so far (/proc/stat)
  awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6, $9; exit }' /proc/stat  # guest time is in user
}

stop_proc() { # name: SIGTERM to a process this script started, SIGKILL after 5 s
  local p=${PID[$1]:-} i
  [[ -n $p ]] || return 0
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "PID[$1]"
}

tail_log() { # name file
  log "---- last lines of $1 log ($2) ----"
  tail -n 30 "$2" >&2 2>/dev/null || true
  log "----"
}

wait_ready() { # name port logfile [tls]
  local name=$1 port=$2 logf=$3 tls=${4:-} deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      tail_log "$name" "$logf"
      return 1
    fi
    if python3 "$TOOL" probe "$port" 1 $tls; then
      return 0
    fi
    sleep 0.2
  done
  log "$name did not answer HTTP 200 on 127.0.0.1:$port${tls:+ (over TLS)} within ${START_TIMEOUT}s"
  tail_log "$name" "$logf"
  return 1
}

# nginx temp paths must not point at /var/lib/nginx (not writable as non-root).
NGINX_V=$(nginx -V 2>&1 || true)
nginx_common() { # dir -> directives shared by all nginx instances
  local d=$1 m
  if [[ $(id -u) == 0 ]]; then echo "user root;"; fi
  echo "pid $d/nginx.pid;"
  echo "error_log $d/error.log warn;"
  echo "worker_processes 1;"
  echo "worker_rlimit_nofile $(( MAXCONN * 2 + 1024 ));"
  echo "events { worker_connections $(( MAXCONN * 2 )); }"
  echo "http {"
  echo "  access_log off;"
  echo "  keepalive_timeout 120s;"
  echo "  keepalive_requests 10000000;"
  echo "  client_body_temp_path $d/body;"
  for m in proxy fastcgi uwsgi scgi; do
    if ! grep -q -- "--without-http_${m}_module" <<<"$NGINX_V"; then
      echo "  ${m}_temp_path $d/$m;"
    fi
  done
}

# HAProxy as proxy, 1 thread, 90/10 over the two backends: name bind_args
# [port1 port2 server_options extra_defaults] -> starts haproxy with DIR/name
# (bind_args: the address, plus "ssl crt PEM" for TLS, or several "bind" lines joined
# by a newline and "  bind "; the backends' ports, and
# options such as "ssl verify required ca-file PEM" for TLS to them; port2 "-":
# one server only; extra_defaults: more lines for the defaults section).
start_haproxy() {
  local name="$1" bind="$2" dir="$TMP/$1" b1=${3:-$P_B1} b2=${4:-$P_B2} opts=${5:-} extra=${6:-} second
  second="  server canary 127.0.0.1:$b2 weight 10 $opts"
  if [[ $b2 == - ]]; then second=""; fi
  mkdir -p "$dir"
  cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $MAXCONN
  pidfile $dir/haproxy.pid

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 2s
  timeout client 120s
  timeout server 30s
  timeout http-request 10s
  timeout http-keep-alive 120s
$extra

frontend public
  bind $bind
  maxconn $MAXCONN
  default_backend split

backend split
  balance roundrobin
  server stable 127.0.0.1:$b1 weight 90 $opts
$second
EOF
  haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/check.log" 2>&1 \
    || { cat "$dir/check.log" >&2; die "haproxy config check failed ($name)"; }
  haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
  PID[$name]=$!
}

nginx_split() { # name port1 port2 -> nginx's upstream block: 90/10 over the two, keep-alive
  printf '  upstream %s {\n    server 127.0.0.1:%s weight=90;\n    server 127.0.0.1:%s weight=10;\n' "$1" "$2" "$3"
  printf '    keepalive 64;\n    keepalive_requests 10000000;\n  }'
}

start_nginx() { # name conf_body -> starts nginx with DIR/name
  local name=$1 body=$2 d="$TMP/$1"
  mkdir -p "$d"
  { nginx_common "$d"; printf '%s\n}\n' "$body"; } >"$d/nginx.conf"
  nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/stdout.log" 2>&1 &
  PID[$name]=$!
}

# The certificate of the TLS and HTTP/2 rounds: ECDSA P-256, self-signed, SAN localhost
# and 127.0.0.1, made once per run in the temp dir ($TLS_DIR: site.pem, site.key, and
# haproxy.pem, certificate and key in one file for HAProxy).
TLS_DIR="$TMP/tls"
bench_cert() {
  [[ -s $TLS_DIR/haproxy.pem ]] && return 0
  mkdir -p "$TLS_DIR"
  if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
       -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
       -keyout "$TLS_DIR/site.key" -out "$TLS_DIR/site.pem" >"$TLS_DIR/openssl.log" 2>&1; then
    cat "$TLS_DIR/openssl.log" >&2 || true
    die "openssl could not generate the bench certificate"
  fi
  cat "$TLS_DIR/site.pem" "$TLS_DIR/site.key" >"$TLS_DIR/haproxy.pem"   # HAProxy: cert + key in one file
  log "TLS: ECDSA P-256 certificate in $TLS_DIR"
}

# --- backends --------------------------------------------------------------
for b in 1 2; do
  if [[ $b == 1 ]]; then port=$P_B1; word=stable; else port=$P_B2; word=canary; fi
  start_nginx "backend$b" "  server {
    listen 127.0.0.1:$port backlog=4096;
    location / { default_type text/plain; return 200 \"$word\\n\"; }
  }"
done
wait_ready backend1 "$P_B1" "$TMP/backend1/error.log" || die "backend nginx 1 did not start"
wait_ready backend2 "$P_B2" "$TMP/backend2/error.log" || die "backend nginx 2 did not start"

# Shared by the plain and the TLS rounds.
# Weir, and Weir whose route runs a rollout (same traffic; see README "Rollout cost")
weir_config() { # name port admin_port [rollout|tls|upstream_tls|h2|h2idle [h2c_port]|h2up] -> writes $TMP/name/weir.yaml
  local d="$TMP/$1"
  mkdir -p "$d"
  {
    echo "workers: 1"
    if [[ ${4:-} == h2 || ${4:-} == h2idle ]]; then
      # HTTP/2 by ALPN on the TLS listener (its default, spelled out) and with prior knowledge on a plain one.
      echo "listeners:"
      echo "  - {name: public, address: 127.0.0.1:$2, http2: true,"
      echo "     tls: {cert: \"$TLS_DIR/site.pem\", key: \"$TLS_DIR/site.key\"}}"
      echo "  - {name: h2c, address: 127.0.0.1:$5, http2: true}"
    elif [[ ${4:-} == tls ]]; then
      echo "listeners: [{name: public, address: 127.0.0.1:$2, tls: {cert: \"$TLS_DIR/site.pem\", key: \"$TLS_DIR/site.key\"}}]"
    elif [[ ${4:-} == h2up ]]; then
      echo "listeners: [{name: h2c, address: 127.0.0.1:$2, http2: true}]"
    else
      echo "listeners: [{name: public, address: 127.0.0.1:$2}]"
    fi
    echo "admin: {address: 127.0.0.1:$3}"
    if [[ ${4:-} == h2idle ]]; then
      # The idle h2 test holds connections that never send a request (see the HTTP/2 rounds).
      echo "limits: {header_timeout: ${H2_IDLE_TIMEOUT}s, idle_timeout: ${H2_IDLE_TIMEOUT}s$( (( MAXCONN > 10000 )) && echo ", max_connections: $MAXCONN" )}"
    elif (( MAXCONN > 10000 )); then echo "limits: {max_connections: $MAXCONN}"; fi
    echo "pools:"
    if [[ ${4:-} == tunnel ]]; then
      # The tunnel backend alone (bench/tunnel_tool.cpp); Upgrade: websocket is tunnelled by default.
      echo "  - name: tunnel"
      echo "    endpoints: [{address: 127.0.0.1:$P_TB}]"
    elif [[ ${4:-} == upstream_tls ]]; then
      # The TLS backends, verified against the bench certificate (by address).
      echo "  - name: stable"
      echo "    endpoints: [{address: 127.0.0.1:$P_BT1}]"
      echo "    upstream: {tls: {ca_file: \"$TLS_DIR/site.pem\"}}"
      echo "  - name: canary"
      echo "    endpoints: [{address: 127.0.0.1:$P_BT2}]"
      echo "    upstream: {tls: {ca_file: \"$TLS_DIR/site.pem\"}}"
    elif [[ ${4:-} == h2up ]]; then
      # The h2c backends of the HTTP/2 rounds, spoken to with prior knowledge.
      echo "  - name: stable"
      echo "    protocol: h2"
      echo "    endpoints: [{address: 127.0.0.1:$P_BH1}]"
      echo "  - name: canary"
      echo "    protocol: h2"
      echo "    endpoints: [{address: 127.0.0.1:$P_BH2}]"
    else
      echo "  - name: stable"
      echo "    endpoints: [{address: 127.0.0.1:$P_B1}]"
      echo "  - name: canary"
      echo "    endpoints: [{address: 127.0.0.1:$P_B2}]"
    fi
    echo "routes:"
    echo "  - name: web"
    echo "    match: {host: \"*\", path_prefix: /}"
    if [[ ${4:-} == tunnel ]]; then
      echo "    split: {tunnel: 100}"
    else
      echo "    split: {stable: 90, canary: 10}"
    fi
    if [[ ${4:-} == rollout ]]; then
      # Step 10% is the 90/10 split; it never advances (a day per step) and, with
      # limits no traffic can reach, never rolls back: the judge just looks every second.
      echo "    rollout: {canary: canary, baseline: stable, steps: [10, 100], step_min_duration: 24h,"
      echo "              step_max_duration: 48h, min_samples: 100000000, max_latency_ratio: 100,"
      echo "              max_error_rate_increase: 1, on_inconclusive: hold}"
    fi
  } >"$d/weir.yaml"
  if ! timeout 10 "$WEIR" check -c "$d/weir.yaml" >"$d/check.log" 2>&1; then
    log "'weir check' rejected the benchmark config $d/weir.yaml:"
    cat "$d/check.log" >&2 || true
    log "config was:"; cat "$d/weir.yaml" >&2
    die "Weir config check failed (binary $WEIR)"
  fi
}

start_weir() { # name
  (cd "$TMP/$1" && exec "$WEIR" run -c "$TMP/$1/weir.yaml") >"$TMP/$1/weir.log" 2>&1 &
  PID[$1]=$!
}

# The three targets weir_SFX, haproxy_SFX and nginx_SFX on their ports; Weir is
# configured (weir_config MODE) and started, the other two are the caller's.
declare_targets() { # sfx weir_port weir_admin_port haproxy_port nginx_port weir_mode [weir_h2c_port]
  local sfx=$1
  STATUS[weir_$sfx]=ok; STATUS[haproxy_$sfx]=ok; STATUS[nginx_$sfx]=ok
  PORT[weir_$sfx]=$2; PORT[haproxy_$sfx]=$4; PORT[nginx_$sfx]=$5
  LOGF[weir_$sfx]="$TMP/weir_$sfx/weir.log"; LOGF[haproxy_$sfx]="$TMP/haproxy_$sfx/haproxy.log"
  LOGF[nginx_$sfx]="$TMP/nginx_$sfx/error.log"
  if [[ -n $WEIR ]]; then
    weir_config "weir_$sfx" "$2" "$3" "$6" "${7:-}"
    start_weir "weir_$sfx"
  else
    STATUS[weir_$sfx]=skipped
  fi
}
alive() { # target -> 0 if all its processes still run
  local p
  for p in ${PROCS[$1]}; do kill -0 "$p" 2>/dev/null || return 1; done
}

mark_dead() { # target reason
  STATUS[$1]="FAILED: $2"
  log "${1}: $2"
  tail_log "$1" "${LOGF[$1]}"
}

# parse_wrk FILE -> "rps p50_ms p99_ms requests errors"
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000.0
      if (v ~ /ms$/) return v + 0.0
      if (v ~ /m$/)  return v * 60000.0
      if (v ~ /h$/)  return v * 3600000.0
      if (v ~ /s$/)  return v * 1000.0
      return v + 0.0
    }
    /^[ \t]*50%/          { p50 = ms($2) }
    /^[ \t]*99%/          { p99 = ms($2) }
    / requests in /       { req = $1 }
    /^Requests\/sec:/     { rps = $2 }
    /Socket errors:/      { gsub(",", ""); err += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx/      { err += $5 }
    END {
      if (rps == "" || req == "") exit 1
      printf "%s %.4f %.4f %d %d\n", rps, p50, p99, req, err
    }' "$1"
}

# rss_test KIND TARGET ARGS...: one bench_tool.py idle/burst run, a row of KIND.tsv
rss_test() {
  local kind=$1 t=$2 j
  shift 2
  # shellcheck disable=SC2086
  if j=$(timeout 180 python3 "$TOOL" "$kind" "${PORT[$t]}" "$@" ${PROCS[$t]}); then
    python3 - "$t" "$j" >>"$RD/$kind.tsv" <<'EOF'
import json, sys
t, d = sys.argv[1], json.loads(sys.argv[2])
print("\t".join(str(x) for x in [t, d["requested"], d["opened"], d["still_open"], d["errors"],
                                 d["rss_before_kib"], d["rss_after_kib"], d["bytes_per_conn"]]))
EOF
    log "$kind $t: $j"
  else
    log "$kind test against $t failed"
  fi
  alive "$t" || mark_dead "$t" "process exited during the $kind-connection test"
}

declare -A STATUS=() PORT=() LOGF=() PROCS=() SCHEME=()   # SCHEME: http for plain-client targets of the TLS rounds
CLK_TCK=$(getconf CLK_TCK)
PLAIN_FAILED=0
WEIR_VERSION="Weir: skipped"
if [[ -n $WEIR ]]; then WEIR_VERSION="Weir $(timeout 5 "$WEIR" version 2>&1 | head -n 1 || true)"; fi

# ============================================================================
# The plain-HTTP rounds (skipped with BENCH_ONLY=tls or tunnel). Not indented, to keep the
# history of these lines readable.
if [[ -z $ONLY ]]; then

# --- proxies ---------------------------------------------------------------
declare -A STATUS=([direct]=ok [weir]=ok [weir_rollout]=ok [haproxy]=ok [nginx]=ok)
declare -A PORT=([direct]=$P_B1 [weir]=$P_WEIR [weir_rollout]=$P_WR [haproxy]=$P_HAP [nginx]=$P_NGX)
declare -A LOGF=([direct]="$TMP/backend1/error.log" [weir]="$TMP/weir/weir.log"
                 [weir_rollout]="$TMP/weir_rollout/weir.log"
                 [haproxy]="$TMP/haproxy/haproxy.log" [nginx]="$TMP/nginx/error.log")

if [[ -n $WEIR ]]; then
  weir_config weir "$P_WEIR" "$P_WEIR_ADMIN"
  start_weir weir
  if [[ $SKIP_ROLLOUT == 1 ]]; then
    STATUS[weir_rollout]="skipped"
  else
    if [[ $ROLLOUT_AA == 1 ]]; then
      log "BENCH_ROLLOUT_AA=1: the weir_rollout target is a second plain Weir (A/A calibration)"
      weir_config weir_rollout "$P_WR" "$P_WR_ADMIN"
    else
      weir_config weir_rollout "$P_WR" "$P_WR_ADMIN" rollout
    fi
    start_weir weir_rollout
  fi
else
  STATUS[weir]="skipped"
  STATUS[weir_rollout]="skipped"
fi

# HAProxy
start_haproxy haproxy "127.0.0.1:$P_HAP"

# nginx as proxy
start_nginx nginx "$(nginx_split split "$P_B1" "$P_B2")
  server {
    listen 127.0.0.1:$P_NGX backlog=4096;
    location / {
      proxy_pass http://split;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"

if [[ ${STATUS[weir]} == ok ]]; then
  wait_ready weir "$P_WEIR" "${LOGF[weir]}" || die "Weir ($WEIR run -c weir.yaml) did not start or does not serve traffic"
fi
if [[ ${STATUS[weir_rollout]} == ok ]]; then
  wait_ready weir_rollout "$P_WR" "${LOGF[weir_rollout]}" \
    || die "Weir with a rollout ($WEIR run -c weir_rollout/weir.yaml) did not start or does not serve traffic"
  # Start the rollout before anything is measured; it holds step 0 (10%) from here on.
  if [[ $ROLLOUT_AA == 1 ]]; then
    :
  elif started=$(timeout 20 python3 "$TOOL" rollout-start "$P_WR_ADMIN" web 2>"$TMP/weir_rollout/start.err"); then
    log "weir+rollout: rollout started ($started)"
  else
    cat "$TMP/weir_rollout/start.err" >&2 || true
    STATUS[weir_rollout]="FAILED: POST /routes/web/rollout/start did not start the rollout"
    log "weir_rollout: ${STATUS[weir_rollout]}"
  fi
fi
wait_ready haproxy "$P_HAP" "${LOGF[haproxy]}" || die "haproxy did not start"
wait_ready nginx "$P_NGX" "${LOGF[nginx]}" || die "nginx proxy did not start"

declare -A PROCS=()   # target -> pids whose CPU/RSS is measured
PROCS[direct]="$(tree "${PID[backend1]}" | xargs)"
PROCS[haproxy]="$(tree "${PID[haproxy]}" | xargs)"
PROCS[nginx]="$(tree "${PID[nginx]}" | xargs)"
[[ ${STATUS[weir]} == ok ]] && PROCS[weir]="$(tree "${PID[weir]}" | xargs)"
[[ ${STATUS[weir_rollout]} == ok ]] && PROCS[weir_rollout]="$(tree "${PID[weir_rollout]}" | xargs)"
TARGETS=(direct weir weir_rollout haproxy nginx)
log "measured processes: direct=[${PROCS[direct]}] weir=[${PROCS[weir]:-}] weir_rollout=[${PROCS[weir_rollout]:-}]" \
    "haproxy=[${PROCS[haproxy]}] nginx=[${PROCS[nginx]}]"

# --- results files -----------------------------------------------------------
RD="$TMP/results"
mkdir -p "$RD"
printf 'round\ttarget\tok\trps\tp50_ms\tp99_ms\tcpu_us\trequests\terrors\n' >"$RD/runs.tsv"
printf 'target\tstable\tcanary\tother\terrors\n' >"$RD/split.tsv"
printf 'target\trequested\topened\tstill_open\terrors\trss_before_kib\trss_after_kib\tbytes_per_conn\n' >"$RD/idle.tsv"
cp "$RD/idle.tsv" "$RD/burst.tsv"

# --- split sanity check (also warms each path) --------------------------------
for t in weir weir_rollout haproxy nginx; do
  [[ ${STATUS[$t]} == ok ]] || continue
  read -r s c o e <<<"$(timeout 60 python3 "$TOOL" split "${PORT[$t]}" 1000 || echo "0 0 0 1000")"
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$s" "$c" "$o" "$e" >>"$RD/split.tsv"
  log "split via $t: stable=$s canary=$c other=$o errors=$e"
done

# --- load rounds --------------------------------------------------------------
run_wrk() { # target duration_s outfile
  timeout $(( $2 + 30 )) wrk -t1 -c"$CONNS" -d"${2}s" --latency "http://127.0.0.1:${PORT[$1]}/" >"$3" 2>&1
}

if [[ $MEMORY_ONLY == 1 ]]; then
  log "BENCH_MEMORY_ONLY=1: no warm-up and no load rounds"
  WARM_S=0
  ROUNDS=0
fi
if (( WARM_S > 0 )); then
  for t in "${TARGETS[@]}"; do
    [[ ${STATUS[$t]} == ok ]] || continue
    log "warm-up $t (${WARM_S}s)"
    run_wrk "$t" "$WARM_S" "$TMP/warmup-$t.txt" || true
    alive "$t" || mark_dead "$t" "died during warm-up"
  done
fi

# Nanoseconds the Weir control thread (the main thread: admin API, health checks, and
# the rollout driver's once-a-second look) has been on a CPU (schedstat: ns resolution).
ctl_ns() { # pid
  awk '{ print $1 }' "/proc/$1/task/$1/schedstat" 2>/dev/null || echo 0
}

# measure ROUND TARGET TAG: one wrk run. TAG "main" rows go to runs.tsv (the main
# table); every run of the two Weir targets also goes to pairs.tsv (rollout cost).
measure() {
  local r=$1 t=$2 tag=$3 out="$TMP/wrk-$1-$2-$3.txt" before after rc parsed rps p50 p99 req err cpu_us
  local weirish=0 c0=0 c1=0
  if [[ $t == weir || $t == weir_rollout ]]; then weirish=1; fi
  # shellcheck disable=SC2086
  before=$(cpu_ticks ${PROCS[$t]})
  if (( weirish )); then c0=$(ctl_ns "${PID[$t]}"); fi
  rc=0; run_wrk "$t" "$DUR_S" "$out" || rc=$?
  if (( weirish )); then c1=$(ctl_ns "${PID[$t]}"); fi
  # shellcheck disable=SC2086
  after=$(cpu_ticks ${PROCS[$t]})
  if ! alive "$t"; then
    mark_dead "$t" "process exited during round $r"
    if [[ $tag == main ]]; then printf '%s\t%s\t0\tnan\tnan\tnan\tnan\t0\t0\n' "$r" "$t" >>"$RD/runs.tsv"; fi
    return 0
  fi
  if (( rc != 0 )) || ! parsed=$(parse_wrk "$out"); then
    log "wrk against $t failed in round $r (rc=$rc):"; cat "$out" >&2 || true
    if [[ $tag == main ]]; then printf '%s\t%s\t0\tnan\tnan\tnan\tnan\t0\t0\n' "$r" "$t" >>"$RD/runs.tsv"; fi
    return 0
  fi
  read -r rps p50 p99 req err <<<"$parsed"
  cpu_us=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="$req" \
    'BEGIN { if (n > 0) printf "%.3f", d / hz * 1e6 / n; else print "nan" }')
  if [[ $tag == main ]]; then
    printf '%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$rps" "$p50" "$p99" "$cpu_us" "$req" "$err" >>"$RD/runs.tsv"
  fi
  if (( weirish )); then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$tag" "$t" "$rps" "$cpu_us" "$((c1 - c0))" "$req" >>"$RD/pairs.tsv"
  fi
  log "round $r $t${tag/#main/}: ${rps} req/s, p50 ${p50} ms, p99 ${p99} ms, ${cpu_us} us CPU/req, errors $err"
}

printf 'round\ttag\ttarget\trps\tcpu_us\tcontrol_ns\trequests\n' >"$RD/pairs.tsv"
for ((r = 1; r <= ROUNDS; r++)); do
  # weir and weir_rollout run back to back, in alternating order, so that their
  # per-round ratio compares like with like; with BENCH_ROLLOUT_PAIRS=2 (default)
  # the pair runs once more at the end of the round in the opposite order
  # (A B ... B A), which cancels drift within the round (see README "Rollout cost").
  if (( r % 2 == 1 )); then order=(direct weir weir_rollout haproxy nginx); again=(weir_rollout weir)
  else order=(direct weir_rollout weir haproxy nginx); again=(weir weir_rollout); fi
  for t in "${order[@]}"; do
    [[ ${STATUS[$t]} == ok ]] || continue
    measure "$r" "$t" main
  done
  if [[ ${STATUS[weir]} == ok && ${STATUS[weir_rollout]} == ok ]]; then
    for ((k = 2; k <= ROLLOUT_PAIRS; k++)); do
      if (( k % 2 == 0 )); then seq_=("${again[@]}"); else seq_=("${again[1]}" "${again[0]}"); fi
      for t in "${seq_[@]}"; do
        [[ ${STATUS[$t]} == ok ]] || continue
        measure "$r" "$t" "+pair$k"
      done
    done
  fi
done

# --- the rollout held its step? ------------------------------------------------------
printf 'phase\tstep\tcanary_percent\tdecisions\tlast_decision\tadvances\trollbacks\tholds\n' >"$RD/rollout.tsv"
if [[ ${STATUS[weir_rollout]} == ok ]]; then
  if [[ $ROLLOUT_AA == 1 ]]; then
    printf 'running\t0\t10\t0\tA/A calibration: no rollout\t0\t0\t0\n' >>"$RD/rollout.tsv"
  elif line=$(timeout 20 python3 "$TOOL" rollout-state "$P_WR_ADMIN" web); then
    printf '%s\n' "$line" >>"$RD/rollout.tsv"
    log "weir+rollout after the rounds: $(tr '\t' ' ' <<<"$line")"
  else
    log "weir+rollout: GET /routes/web/rollout failed after the rounds"
  fi
fi

# --- RSS per idle keep-alive connection, and after a burst ------------------------
if (( IDLE_CONNS > 0 )); then
  for t in weir haproxy nginx; do
    [[ ${STATUS[$t]} == ok ]] || continue
    log "idle test $t: $IDLE_CONNS keep-alive connections"
    rss_test idle "$t" "$IDLE_CONNS" 120
  done
fi
# After the idle test (so its figure stays comparable with earlier runs): all
# requests at once, then idle; what is left over after BURST_SETTLE seconds.
if (( BURST_CONNS > 0 )); then
  for t in weir haproxy nginx; do
    [[ ${STATUS[$t]} == ok ]] || continue
    log "burst test $t: $BURST_CONNS connections, one request each at once, then ${BURST_SETTLE}s idle"
    rss_test burst "$t" "$BURST_CONNS" 120 "$BURST_SETTLE"
  done
fi

# --- report ---------------------------------------------------------------------
{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  printf 'nproc\t%s\n' "$(nproc)"
  printf 'cpu_model\t%s\n' "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  printf 'kernel\t%s\n' "$(uname -r)"
  printf 'loadavg\t%s\n' "$LOADAVG_START"
  printf 'weir_version\t%s\n' "$WEIR_VERSION"
  printf 'haproxy_version\t%s\n' "$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')"
  printf 'nginx_version\t%s\n' "$(nginx -v 2>&1 | head -n 1)"
  printf 'wrk_version\t%s\n' "$({ wrk -v 2>&1 || true; } | head -n 1 | sed 's/ Copyright.*//')"
  printf 'rounds\t%s\nduration\t%s\nconns\t%s\nwarmup\t%s\nidle_conns\t%s\nduration_s\t%s\nrollout_pairs\t%s\n' \
    "$ROUNDS" "$DURATION" "$CONNS" "$WARMUP" "$IDLE_CONNS" "$DUR_S" "$ROLLOUT_PAIRS"
  printf 'burst_conns\t%s\nburst_settle\t%s\n' "$BURST_CONNS" "$BURST_SETTLE"
} >"$RD/meta.tsv"
{
  printf 'target\tstatus\n'
  for t in "${TARGETS[@]}"; do printf '%s\t%s\n' "$t" "${STATUS[$t]}"; done
} >"$RD/status.tsv"

mkdir -p "$RESULTS_DIR"
REPORT=latest.md
if [[ $ROLLOUT_AA == 1 ]]; then REPORT=latest-aa.md; fi   # a calibration run keeps latest.md
if [[ $MEMORY_ONLY == 1 ]]; then REPORT=latest-memory.md; fi   # so does a memory-only run
python3 "$TOOL" report "$RD" "$RESULTS_DIR/$REPORT.tmp"
mv "$RESULTS_DIR/$REPORT.tmp" "$RESULTS_DIR/$REPORT"
log "report written to $RESULTS_DIR/$REPORT"

for t in "${TARGETS[@]}"; do
  case ${STATUS[$t]} in ok|skipped) ;; *) PLAIN_FAILED=1 ;; esac
done

fi  # end of the plain-HTTP rounds
# ============================================================================

# ============================================================================
# TLS rounds (BENCH_TLS=0 skips them): Weir, HAProxy and nginx each terminating TLS
# with the same ECDSA P-256 certificate, generated here for this run, in front of
# the same two backends (plain HTTP upstream, the same 90/10 split). Separate
# instances, started after the plain rounds, so those are measured as before.
TLS_FAILED=0
if [[ $TLS == 1 ]]; then
TLS_LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
TLS_WARM_S=$WARM_S
TLS_REPORT=tls.md
if [[ $MEMORY_ONLY == 1 ]]; then
  log "BENCH_MEMORY_ONLY=1: no TLS load rounds, only the idle TLS test"
  TLS_ROUNDS=0; TLS_UP_ROUNDS=0; TLS_WARM_S=0; TLS_REPORT="tls-memory.md"
fi
RD="$TMP/results"
mkdir -p "$RD"
bench_cert

TLS_TARGETS=(weir_tls haproxy_tls nginx_tls)
declare_targets tls "$P_WT" "$P_WT_ADMIN" "$P_HT" "$P_NT" tls

start_haproxy haproxy_tls "127.0.0.1:$P_HT ssl crt $TLS_DIR/haproxy.pem"

# nginx before 1.23.4 leaves TLS 1.3 off unless ssl_protocols names it; Weir and HAProxy
# 2.6 speak TLS 1.2 and 1.3 by default, so nginx gets the same two (BENCH_TLS_NGINX_PROTOCOLS).
NGINX_SSL_PROTOCOLS=""
if [[ $TLS_NGINX_PROTOCOLS != default ]]; then NGINX_SSL_PROTOCOLS="ssl_protocols $TLS_NGINX_PROTOCOLS;"; fi
start_nginx nginx_tls "$(nginx_split split "$P_B1" "$P_B2")
  server {
    listen 127.0.0.1:$P_NT ssl backlog=4096;
    ssl_certificate $TLS_DIR/site.pem;
    ssl_certificate_key $TLS_DIR/site.key;
    $NGINX_SSL_PROTOCOLS
    location / {
      proxy_pass http://split;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"

if [[ ${STATUS[weir_tls]} == ok ]]; then
  wait_ready weir_tls "$P_WT" "${LOGF[weir_tls]}" tls || die "Weir with a TLS listener did not start or does not serve traffic"
fi
wait_ready haproxy_tls "$P_HT" "${LOGF[haproxy_tls]}" tls || die "haproxy (TLS) did not start"
wait_ready nginx_tls "$P_NT" "${LOGF[nginx_tls]}" tls || die "nginx proxy (TLS) did not start"
for t in "${TLS_TARGETS[@]}"; do
  if [[ ${STATUS[$t]} == ok ]]; then PROCS[$t]="$(tree "${PID[$t]}" | xargs)"; fi
done
log "TLS measured processes: weir_tls=[${PROCS[weir_tls]:-}] haproxy_tls=[${PROCS[haproxy_tls]}] nginx_tls=[${PROCS[nginx_tls]}]"

# The backends the TLS rounds go to (the upstream rounds switch to the TLS ones).
BACKEND_PROCS="$(tree "${PID[backend1]}" | xargs) $(tree "${PID[backend2]}" | xargs)"
printf 'round\tkind\ttarget\tok\trps\tp50_ms\tp99_ms\tcpu_us\trequests\terrors\tclient_cpu_us\tidle_cores\tsteal_cores\tbackend_cpu_us\n' \
  >"$RD/tls_runs.tsv"
printf 'target\tstable\tcanary\tother\terrors\n' >"$RD/tls_split.tsv"
printf 'target\tversion\tcipher\tgroup\tresumed\tchain\n' >"$RD/tls_info.tsv"
printf 'target\trequested\topened\tstill_open\terrors\trss_before_kib\trss_after_kib\tbytes_per_conn\trss_half_kib\tbytes_per_conn_second_half\n' \
  >"$RD/tls_idle.tsv"
printf 'full\tresumed\tfailed\ttimeout\n' >"$RD/tls_weir_handshakes.tsv"

# What a default client negotiates, whether the proxy resumes a session offered to it,
# and the split over TLS (also warms each path).
for t in "${TLS_TARGETS[@]}"; do
  [[ ${STATUS[$t]} == ok ]] || continue
  j=$(timeout 30 python3 "$TOOL" tls-info "${PORT[$t]}" || echo '{}')
  python3 -c 'import json, sys
d = json.loads(sys.argv[2])
print("\t".join([sys.argv[1]] + [str(d.get(k)) for k in ("version", "cipher", "group", "resumed", "chain")]))' \
    "$t" "$j" >>"$RD/tls_info.tsv"
  log "TLS $t: $j"
  read -r s c o e <<<"$(timeout 60 python3 "$TOOL" split "${PORT[$t]}" 1000 tls || echo "0 0 0 1000")"
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$s" "$c" "$o" "$e" >>"$RD/tls_split.tsv"
  log "split via $t: stable=$s canary=$c other=$o errors=$e"
done

run_wrk_tls() { # target duration_s outfile [close]
  local hdr=()
  if [[ ${4:-} == close ]]; then hdr=(-H "Connection: close"); fi
  timeout $(( $2 + 30 )) wrk -t1 -c"$CONNS" -d"${2}s" --latency ${hdr[@]+"${hdr[@]}"} \
    "${SCHEME[$1]:-https}://127.0.0.1:${PORT[$1]}/" >"$3" 2>&1
}

# measure_tls ROUND KIND TARGET: one wrk run; KIND ka (keep-alive) or new (Connection: close)
measure_tls() {
  local r=$1 kind=$2 t=$3 out="$TMP/wrk-tls-$1-$2-$3.txt" before after rc parsed rps p50 p99 req err cpu_us close=""
  local client_before client_after m_before m_after client_us machine b_before b_after backend_us
  if [[ $kind == new ]]; then close=close; fi
  # shellcheck disable=SC2086
  before=$(cpu_ticks ${PROCS[$t]})
  children_us client_before; m_before=$(machine_ticks)
  # shellcheck disable=SC2086
  b_before=$(cpu_ticks $BACKEND_PROCS)
  rc=0; run_wrk_tls "$t" "$DUR_S" "$out" $close || rc=$?
  # shellcheck disable=SC2086
  after=$(cpu_ticks ${PROCS[$t]})
  children_us client_after; m_after=$(machine_ticks)
  # shellcheck disable=SC2086
  b_after=$(cpu_ticks $BACKEND_PROCS)
  if ! alive "$t"; then
    mark_dead "$t" "process exited during TLS round $r ($kind)"
    printf '%s\t%s\t%s\t0\tnan\tnan\tnan\tnan\t0\t0\tnan\tnan\tnan\tnan\n' "$r" "$kind" "$t" >>"$RD/tls_runs.tsv"
    return 0
  fi
  if (( rc != 0 )) || ! parsed=$(parse_wrk "$out"); then
    log "wrk against $t failed in TLS round $r ($kind, rc=$rc):"; cat "$out" >&2 || true
    printf '%s\t%s\t%s\t0\tnan\tnan\tnan\tnan\t0\t0\tnan\tnan\tnan\tnan\n' "$r" "$kind" "$t" >>"$RD/tls_runs.tsv"
    return 0
  fi
  read -r rps p50 p99 req err <<<"$parsed"
  cpu_us=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="$req" \
    'BEGIN { if (n > 0) printf "%.3f", d / hz * 1e6 / n; else print "nan" }')
  # The client's CPU (wrk does the client side of every handshake) and what the
  # machine had left: a round where the client or the machine is the limit
  # says so instead of passing for the proxy's speed.
  client_us=$(awk -v d=$((client_after - client_before)) -v n="$req" \
    'BEGIN { if (n > 0) printf "%.3f", d / n; else print "nan" }')
  backend_us=$(awk -v d=$((b_after - b_before)) -v hz="$CLK_TCK" -v n="$req" \
    'BEGIN { if (n > 0) printf "%.3f", d / hz * 1e6 / n; else print "nan" }')
  # shellcheck disable=SC2086
  machine=$(awk -v b="$m_before" -v a="$m_after" -v cpus="$(nproc)" 'BEGIN { split(b, x, " "); split(a, y, " ")
    t = y[1] - x[1]; if (t <= 0) { print "nan nan"; exit }
    printf "%.2f %.2f", (y[2] - x[2]) / t * cpus, (y[3] - x[3]) / t * cpus }')
  printf '%s\t%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$kind" "$t" "$rps" "$p50" "$p99" "$cpu_us" \
    "$req" "$err" "$client_us" ${machine% *} ${machine#* } "$backend_us" >>"$RD/tls_runs.tsv"
  log "TLS round $r $kind $t: ${rps} req/s, p50 ${p50} ms, p99 ${p99} ms, ${cpu_us} us CPU/req, errors $err"
}

if (( TLS_WARM_S > 0 )); then
  for t in "${TLS_TARGETS[@]}"; do
    [[ ${STATUS[$t]} == ok ]] || continue
    log "TLS warm-up $t (${TLS_WARM_S}s keep-alive, ${TLS_WARM_S}s new connections)"
    run_wrk_tls "$t" "$TLS_WARM_S" "$TMP/warmup-tls-ka-$t.txt" || true
    run_wrk_tls "$t" "$TLS_WARM_S" "$TMP/warmup-tls-new-$t.txt" close || true
    alive "$t" || mark_dead "$t" "died during the TLS warm-up"
  done
fi

if [[ ${STATUS[weir_tls]} == ok ]]; then
  timeout 20 python3 "$TOOL" weir-handshakes "$P_WT_ADMIN" | tr ' ' '\t' >>"$RD/tls_weir_handshakes.tsv" || true
fi
for ((r = 1; r <= TLS_ROUNDS; r++)); do
  # The proxies' order rotates every round (position in a round matters on a shared machine).
  k=$(( (r - 1) % 3 ))
  order=("${TLS_TARGETS[@]:k}" "${TLS_TARGETS[@]:0:k}")
  for kind in ka new; do
    for t in "${order[@]}"; do
      [[ ${STATUS[$t]} == ok ]] || continue
      measure_tls "$r" "$kind" "$t"
    done
  done
done
if [[ ${STATUS[weir_tls]} == ok ]]; then
  timeout 20 python3 "$TOOL" weir-handshakes "$P_WT_ADMIN" | tr ' ' '\t' >>"$RD/tls_weir_handshakes.tsv" || true
fi

# RSS per idle TLS connection (after the load rounds, as the plain idle test)
if (( TLS_IDLE_CONNS > 0 )); then
  for t in "${TLS_TARGETS[@]}"; do
    [[ ${STATUS[$t]} == ok ]] || continue
    # Quiet first: Weir trims memory freed after load within ~2 s (README); read "before" after that.
    sleep 3
    log "idle TLS test $t: $TLS_IDLE_CONNS connections (handshake + one GET each), then idle"
    # shellcheck disable=SC2086
    if j=$(timeout 300 python3 "$TOOL" tls-idle "${PORT[$t]}" "$TLS_IDLE_CONNS" 240 ${PROCS[$t]}); then
      python3 -c 'import json, sys
t, d = sys.argv[1], json.loads(sys.argv[2])
print("\t".join(str(x) for x in [t, d["requested"], d["opened"], d["still_open"], d["errors"],
                                 d["rss_before_kib"], d["rss_after_kib"], d["bytes_per_conn"],
                                 d.get("rss_half_kib", "nan"), d.get("bytes_per_conn_second_half", "nan")]))' \
        "$t" "$j" >>"$RD/tls_idle.tsv"
      log "idle TLS $t: $j"
    else
      log "idle TLS test against $t failed"
    fi
    alive "$t" || mark_dead "$t" "process exited during the idle TLS test"
  done
fi

# --- TLS to upstreams --------------------------------------------------------
# wrk speaks plain HTTP to each proxy, and each proxy TLS to two nginx backends
# that terminate it with the bench certificate, the same 90/10 split,
# keep-alive on both legs: what encrypting the upstream leg costs per request.
# Each verifies the backends' certificate against it (Weir by address, HAProxy
# the chain, nginx the name localhost) and resumes sessions as it does by default.
UP_TARGETS=(weir_up haproxy_up nginx_up)
SCHEME[weir_up]=http; SCHEME[haproxy_up]=http; SCHEME[nginx_up]=http
printf 'full\tresumed\tfailed\ttimeout\n' >"$RD/tls_weir_upstream_handshakes.tsv"
if (( TLS_UP_ROUNDS > 0 )); then
  read -r P_BT1 P_BT2 P_WU P_WU_ADMIN P_HU P_NU <<<"$(python3 "$TOOL" ports 6)"
  log "TLS to upstreams: backends $P_BT1 $P_BT2, weir $P_WU (admin $P_WU_ADMIN), haproxy $P_HU, nginx $P_NU"
  for b in 1 2; do
    if [[ $b == 1 ]]; then port=$P_BT1; word=stable; else port=$P_BT2; word=canary; fi
    start_nginx "backend_tls$b" "  server {
    listen 127.0.0.1:$port ssl backlog=4096;
    ssl_certificate $TLS_DIR/site.pem;
    ssl_certificate_key $TLS_DIR/site.key;
    $NGINX_SSL_PROTOCOLS
    location / { default_type text/plain; return 200 \"$word\\n\"; }
  }"
  done
  wait_ready backend_tls1 "$P_BT1" "$TMP/backend_tls1/error.log" tls || die "TLS backend nginx 1 did not start"
  wait_ready backend_tls2 "$P_BT2" "$TMP/backend_tls2/error.log" tls || die "TLS backend nginx 2 did not start"
  BACKEND_PROCS="$(tree "${PID[backend_tls1]}" | xargs) $(tree "${PID[backend_tls2]}" | xargs)"

  declare_targets up "$P_WU" "$P_WU_ADMIN" "$P_HU" "$P_NU" upstream_tls
  start_haproxy haproxy_up "127.0.0.1:$P_HU" "$P_BT1" "$P_BT2" "ssl verify required ca-file $TLS_DIR/site.pem"
  NGINX_UP_PROTOCOLS=""
  if [[ $TLS_NGINX_PROTOCOLS != default ]]; then NGINX_UP_PROTOCOLS="proxy_ssl_protocols $TLS_NGINX_PROTOCOLS;"; fi
  start_nginx nginx_up "$(nginx_split split_tls "$P_BT1" "$P_BT2")
  server {
    listen 127.0.0.1:$P_NU backlog=4096;
    location / {
      proxy_pass https://split_tls;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $TLS_DIR/site.pem;
      proxy_ssl_name localhost;
      $NGINX_UP_PROTOCOLS
    }
  }"
  for t in "${UP_TARGETS[@]}"; do
    [[ ${STATUS[$t]} == ok ]] || continue
    if wait_ready "$t" "${PORT[$t]}" "${LOGF[$t]}"; then
      PROCS[$t]="$(tree "${PID[$t]}" | xargs)"
      read -r s c o e <<<"$(timeout 60 python3 "$TOOL" split "${PORT[$t]}" 1000 || echo "0 0 0 1000")"
      printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$s" "$c" "$o" "$e" >>"$RD/tls_split.tsv"
      log "split via $t: stable=$s canary=$c other=$o errors=$e"
      if (( TLS_WARM_S > 0 )); then run_wrk_tls "$t" "$TLS_WARM_S" "$TMP/warmup-up-$t.txt" || true; fi
      alive "$t" || mark_dead "$t" "died during the warm-up"
    else
      mark_dead "$t" "did not start or does not serve traffic over its TLS upstreams"
    fi
  done
  if [[ ${STATUS[weir_up]} == ok ]]; then
    timeout 20 python3 "$TOOL" weir-handshakes "$P_WU_ADMIN" upstream | tr ' ' '\t' \
      >>"$RD/tls_weir_upstream_handshakes.tsv" || true
  fi
  for ((r = 1; r <= TLS_UP_ROUNDS; r++)); do
    k=$(( (r - 1) % 3 ))
    order=("${UP_TARGETS[@]:k}" "${UP_TARGETS[@]:0:k}")
    for t in "${order[@]}"; do
      [[ ${STATUS[$t]} == ok ]] || continue
      measure_tls "$r" up "$t"
    done
  done
  if [[ ${STATUS[weir_up]} == ok ]]; then
    timeout 20 python3 "$TOOL" weir-handshakes "$P_WU_ADMIN" upstream | tr ' ' '\t' \
      >>"$RD/tls_weir_upstream_handshakes.tsv" || true
  fi
fi

{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  printf 'nproc\t%s\n' "$(nproc)"
  printf 'cpu_model\t%s\n' "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  printf 'kernel\t%s\n' "$(uname -r)"
  printf 'loadavg\t%s\n' "$TLS_LOADAVG_START"
  printf 'loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'weir_version\t%s\n' "$WEIR_VERSION"
  printf 'haproxy_version\t%s\n' "$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')"
  printf 'nginx_version\t%s\n' "$(nginx -v 2>&1 | head -n 1)"
  printf 'wrk_version\t%s\n' "$({ wrk -v 2>&1 || true; } | head -n 1 | sed 's/ Copyright.*//')"
  printf 'openssl_version\t%s\n' "$(openssl version 2>&1 | head -n 1)"
  printf 'nginx_protocols\t%s\n' "$TLS_NGINX_PROTOCOLS"
  printf 'rounds\t%s\nduration\t%s\nconns\t%s\nwarmup\t%ss\nidle_conns\t%s\nup_rounds\t%s\n' \
    "$TLS_ROUNDS" "$DURATION" "$CONNS" "$TLS_WARM_S" "$TLS_IDLE_CONNS" "$TLS_UP_ROUNDS"
} >"$RD/tls_meta.tsv"
{
  printf 'target\tstatus\n'
  for t in "${TLS_TARGETS[@]}" "${UP_TARGETS[@]}"; do printf '%s\t%s\n' "$t" "${STATUS[$t]:-skipped}"; done
} >"$RD/tls_status.tsv"
mkdir -p "$RESULTS_DIR"
python3 "$TOOL" tls-report "$RD" "$RESULTS_DIR/$TLS_REPORT.tmp"
mv "$RESULTS_DIR/$TLS_REPORT.tmp" "$RESULTS_DIR/$TLS_REPORT"
log "TLS report written to $RESULTS_DIR/$TLS_REPORT"
for t in "${TLS_TARGETS[@]}" "${UP_TARGETS[@]}"; do
  case ${STATUS[$t]:-skipped} in ok|skipped) ;; *) TLS_FAILED=1 ;; esac
done
fi  # end of the TLS rounds
# ============================================================================

# ============================================================================
# Tunnel rounds (BENCH_TUNNEL=0 skips them; BENCH_ONLY=tunnel runs only them):
# HTTP/1.1 `Upgrade: websocket` through Weir, HAProxy and nginx, each in front of
# one backend, bench/tunnel_tool.cpp (weir_tunnel_tool backend), which answers
# 101 with the RFC 6455 accept key and then sinks and sources bytes (or echoes,
# for idle tunnels), and plain GETs with 200. The same tool is the client.
TUNNEL_FAILED=0
if [[ $TUNNEL == 1 ]]; then
TUNNEL_LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
RD="$TMP/results/tunnel"
mkdir -p "$RD"
read -r P_TB P_WN P_WN_ADMIN P_HN P_NN P_WM P_WM_ADMIN P_HM P_NM P_WK P_WK_ADMIN P_HK P_NK \
  <<<"$(python3 "$TOOL" ports 13)"
log "tunnel rounds: backend $P_TB; throughput: weir $P_WN, haproxy $P_HN, nginx $P_NN;" \
    "idle tunnels: weir $P_WM, haproxy $P_HM, nginx $P_NM; idle keep-alive: weir $P_WK, haproxy $P_HK, nginx $P_NK"
mkdir -p "$TMP/tunnel_backend"
"$TUNNEL_TOOL" backend --port "$P_TB" >"$TMP/tunnel_backend/backend.log" 2>&1 &
PID[tunnel_backend]=$!
wait_ready tunnel_backend "$P_TB" "$TMP/tunnel_backend/backend.log" \
  || die "the tunnel backend ($TUNNEL_TOOL backend) did not start"

# nginx passes Upgrade on only when told to (the usual map: "Connection: upgrade" on
# an upgrade request, no Connection field otherwise, so plain requests keep their
# upstream keep-alive); its tunnels are bounded by proxy_read/send_timeout.
nginx_tunnel() { # listen_port -> the http block body
  cat <<EOF
  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
  upstream tunnel_backend {
    server 127.0.0.1:$P_TB;
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:$1 backlog=4096;
    location / {
      proxy_pass http://tunnel_backend;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
EOF
}

# weir_SFX, haproxy_SFX and nginx_SFX in front of the tunnel backend, started and answering.
start_tunnel_targets() { # sfx weir_port weir_admin_port haproxy_port nginx_port
  local t
  declare_targets "$1" "$2" "$3" "$4" "$5" tunnel
  # HAProxy tunnels Upgrade in http mode by default; a tunnel's timeout is `timeout tunnel`.
  start_haproxy "haproxy_$1" "127.0.0.1:$4" "$P_TB" - "" "  timeout tunnel 1h"
  start_nginx "nginx_$1" "$(nginx_tunnel "$5")"
  for t in "weir_$1" "haproxy_$1" "nginx_$1"; do
    [[ ${STATUS[$t]} == ok ]] || continue
    if wait_ready "$t" "${PORT[$t]}" "${LOGF[$t]}"; then
      PROCS[$t]="$(tree "${PID[$t]}" | xargs)"
    else
      STATUS[$t]="FAILED: did not start or does not answer GET /"
      log "$t: ${STATUS[$t]}"
    fi
  done
}

# The client's first error line (why a tunnel was not opened), for the report.
first_error() { # file
  grep -m 1 'tunnel_tool:' "$1" 2>/dev/null | sed 's/^tunnel_tool: //' | tr '\t' ' ' | cut -c 1-160 || true
}

TUNNEL_TIMEOUT=$(( 60 + TUNNEL_BYTES / 16777216 ))   # s per throughput run: at least 16 MiB/s
tunnel_run() { # target bytes outfile errfile
  timeout $(( TUNNEL_TIMEOUT + 10 )) "$TUNNEL_TOOL" client --connect "127.0.0.1:${PORT[$1]}" --bytes "$2" \
    --tunnels 1 --timeout "$TUNNEL_TIMEOUT" >"$3" 2>"$4"
}

# --- throughput: one tunnel, BENCH_TUNNEL_BYTES each way at once ---------------
start_tunnel_targets tunnel "$P_WN" "$P_WN_ADMIN" "$P_HN" "$P_NN"
STATUS[direct_tunnel]=ok; PORT[direct_tunnel]=$P_TB; LOGF[direct_tunnel]="$TMP/tunnel_backend/backend.log"
PROCS[direct_tunnel]=${PID[tunnel_backend]}
TUN_TARGETS=(direct_tunnel weir_tunnel haproxy_tunnel nginx_tunnel)
log "tunnel measured processes: weir=[${PROCS[weir_tunnel]:-}] haproxy=[${PROCS[haproxy_tunnel]:-}]" \
    "nginx=[${PROCS[nginx_tunnel]:-}] backend=[${PID[tunnel_backend]}]"
printf 'round\ttarget\tok\tup_mib_s\tdown_mib_s\tboth_mib_s\telapsed_s\tcpu_s\tbackend_cpu_s\n' >"$RD/tunnel_runs.tsv"

# Warm-up, and the check that each path tunnels at all (16 MiB each way, unmeasured).
WARM_BYTES=$(( TUNNEL_BYTES < 16777216 ? TUNNEL_BYTES : 16777216 ))
for t in "${TUN_TARGETS[@]}"; do
  [[ ${STATUS[$t]} == ok ]] || continue
  if tunnel_run "$t" "$WARM_BYTES" "$TMP/tunnel-warm-$t.json" "$TMP/tunnel-warm-$t.err"; then
    log "tunnel warm-up $t: $(cat "$TMP/tunnel-warm-$t.json")"
  elif ! alive "$t"; then
    mark_dead "$t" "process exited during the tunnel warm-up"
  else
    STATUS[$t]="FAILED: no tunnel ($(first_error "$TMP/tunnel-warm-$t.err"))"
    log "$t: ${STATUS[$t]}"
  fi
done

measure_tunnel() { # round target
  local r=$1 t=$2 out="$TMP/tunnel-$1-$2.json" err="$TMP/tunnel-$1-$2.err" before after b_before b_after rc vals
  # shellcheck disable=SC2086
  before=$(cpu_ticks ${PROCS[$t]}); b_before=$(cpu_ticks "${PID[tunnel_backend]}")
  rc=0; tunnel_run "$t" "$TUNNEL_BYTES" "$out" "$err" || rc=$?
  # shellcheck disable=SC2086
  after=$(cpu_ticks ${PROCS[$t]}); b_after=$(cpu_ticks "${PID[tunnel_backend]}")
  if ! alive "$t"; then
    mark_dead "$t" "process exited during tunnel round $r"
    rc=1
  fi
  if (( rc != 0 )) || ! vals=$(python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).read())
print(d["up_mib_s"], d["down_mib_s"], round(2 * d["bytes"] / 1048576 / d["elapsed_s"], 1), d["elapsed_s"])' "$out" 2>/dev/null); then
    log "tunnel round $r $t failed (rc=$rc): $(first_error "$err")"
    printf '%s\t%s\t0\tnan\tnan\tnan\tnan\tnan\tnan\n' "$r" "$t" >>"$RD/tunnel_runs.tsv"
    return 0
  fi
  local up down both el cpu bcpu
  read -r up down both el <<<"$vals"
  cpu=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')
  bcpu=$(awk -v d=$((b_after - b_before)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')
  if [[ $t == direct_tunnel ]]; then cpu=nan; fi   # no proxy: PROCS is the backend itself
  printf '%s\t%s\t1\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$up" "$down" "$both" "$el" "$cpu" "$bcpu" >>"$RD/tunnel_runs.tsv"
  log "tunnel round $r $t: up ${up} MiB/s, down ${down} MiB/s, both ways ${both} MiB/s (${el} s), proxy CPU ${cpu} s"
}

for ((r = 1; r <= TUNNEL_ROUNDS; r++)); do
  # The order rotates every round (position in a round matters on a shared machine).
  k=$(( (r - 1) % 4 ))
  order=("${TUN_TARGETS[@]:k}" "${TUN_TARGETS[@]:0:k}")
  for t in "${order[@]}"; do
    [[ ${STATUS[$t]} == ok ]] || continue
    measure_tunnel "$r" "$t"
  done
done
for t in weir_tunnel haproxy_tunnel nginx_tunnel; do stop_proc "$t"; done

# --- RSS per idle tunnel, and per idle keep-alive connection ------------------
# Each on fresh instances of the three proxies (what one test frees would be
# reused by the next), after one tunnel (one request) has gone through each.
printf 'target\trequested\topened\tstill_open\terrors\trss_before_kib\trss_after_kib\tbytes_per_conn\n' \
  >"$RD/tunnel_idle.tsv"
cp "$RD/tunnel_idle.tsv" "$RD/idle.tsv"
if (( TUNNEL_IDLE > 0 )); then
  start_tunnel_targets tmem "$P_WM" "$P_WM_ADMIN" "$P_HM" "$P_NM"
  for t in weir_tmem haproxy_tmem nginx_tmem; do
    [[ ${STATUS[$t]} == ok ]] || continue
    if ! timeout 30 "$TUNNEL_TOOL" client --connect "127.0.0.1:${PORT[$t]}" --bytes 0 --tunnels 1 --hold 0 \
         --timeout 20 >/dev/null 2>"$TMP/tunnel-idle-warm-$t.err"; then
      STATUS[$t]="FAILED: no tunnel ($(first_error "$TMP/tunnel-idle-warm-$t.err"))"
      log "$t: ${STATUS[$t]}"
      continue
    fi
    sleep 2   # quiet first: Weir trims memory freed after load within ~2 s (README)
    log "idle tunnel test $t: $TUNNEL_IDLE tunnels opened one after another, then 1 s idle"
    rc=0
    timeout 300 "$TUNNEL_TOOL" client --connect "127.0.0.1:${PORT[$t]}" --bytes 0 --tunnels "$TUNNEL_IDLE" \
      --hold 1 --timeout 240 --rss-pids "${PROCS[$t]// /,}" >"$TMP/tunnel-idle-$t.out" 2>"$TMP/tunnel-idle-$t.err" || rc=$?
    if j=$(grep -m 1 '^{' "$TMP/tunnel-idle-$t.out"); then
      python3 -c 'import json, sys
t, d = sys.argv[1], json.loads(sys.argv[2])
print("\t".join(str(x) for x in [t, d["requested"], d["opened"], d["still_open"], d["errors"],
                                 d["rss_before_kib"], d["rss_after_kib"], d["bytes_per_conn"]]))' \
        "$t" "$j" >>"$RD/tunnel_idle.tsv"
      log "idle tunnels $t: $j"
    fi
    if (( rc != 0 )); then
      log "idle tunnel test against $t failed (rc=$rc): $(first_error "$TMP/tunnel-idle-$t.err")"
    fi
    alive "$t" || mark_dead "$t" "process exited during the idle tunnel test"
  done
  for t in weir_tmem haproxy_tmem nginx_tmem; do stop_proc "$t"; done

  start_tunnel_targets kmem "$P_WK" "$P_WK_ADMIN" "$P_HK" "$P_NK"
  for t in weir_kmem haproxy_kmem nginx_kmem; do
    [[ ${STATUS[$t]} == ok ]] || continue
    sleep 2
    log "idle keep-alive test $t: $TUNNEL_IDLE connections, one GET each, then idle"
    rss_test idle "$t" "$TUNNEL_IDLE" 120
  done
  for t in weir_kmem haproxy_kmem nginx_kmem; do stop_proc "$t"; done
fi

{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  printf 'nproc\t%s\n' "$(nproc)"
  printf 'cpu_model\t%s\n' "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  printf 'kernel\t%s\n' "$(uname -r)"
  printf 'loadavg\t%s\n' "$TUNNEL_LOADAVG_START"
  printf 'loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'weir_version\t%s\n' "$WEIR_VERSION"
  printf 'haproxy_version\t%s\n' "$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')"
  printf 'nginx_version\t%s\n' "$(nginx -v 2>&1 | head -n 1)"
  printf 'bytes\t%s\nrounds\t%s\nidle\t%s\n' "$TUNNEL_BYTES" "$TUNNEL_ROUNDS" "$TUNNEL_IDLE"
} >"$RD/tunnel_meta.tsv"
{
  printf 'target\tstatus\n'
  for t in "${TUN_TARGETS[@]}" weir_tmem haproxy_tmem nginx_tmem weir_kmem haproxy_kmem nginx_kmem; do
    printf '%s\t%s\n' "$t" "${STATUS[$t]:-skipped}"
  done
} >"$RD/tunnel_status.tsv"
mkdir -p "$RESULTS_DIR"
python3 "$TOOL" tunnel-report "$RD" "$RESULTS_DIR/tunnel.md.tmp"
mv "$RESULTS_DIR/tunnel.md.tmp" "$RESULTS_DIR/tunnel.md"
log "tunnel report written to $RESULTS_DIR/tunnel.md"
for t in "${TUN_TARGETS[@]}" weir_tmem haproxy_tmem nginx_tmem weir_kmem haproxy_kmem nginx_kmem; do
  case ${STATUS[$t]:-skipped} in ok|skipped) ;; *) TUNNEL_FAILED=1 ;; esac
done
fi  # end of the tunnel rounds
# ============================================================================

# ============================================================================
# HTTP/2 rounds (BENCH_H2=0 skips them; BENCH_ONLY=h2 runs only them): Weir, HAProxy
# and nginx, each one instance with a TLS listener offering h2 by ALPN (the TLS
# rounds' certificate) and a plain listener speaking h2c with prior knowledge, in
# front of the same two HTTP/1.1 backends (90/10 split, keep-alive). h2load loads
# each listener in turn; a run counts only if h2load got the expected protocol and
# every request succeeded with a 2xx (bench_tool.py h2load-parse), else it is
# reported as invalid. The "h2 upstream" runs (BENCH_H2_UP=0 skips them): three more
# instances, h2c from h2load, HTTP/2 cleartext (prior knowledge) to two nginx h2c
# backends (90/10); interleaved with the others in every round. Then, on fresh
# instances, RSS per idle h2 connection.
H2_FAILED=0
if [[ $H2 == 1 ]]; then
H2_LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
H2_REPORT=h2.md
H2_WARM_S=$(( WARM_S > 0 ? WARM_S : 1 ))   # the check run: at least 1 s even with BENCH_WARMUP=0
if [[ $MEMORY_ONLY == 1 ]]; then
  log "BENCH_MEMORY_ONLY=1: no HTTP/2 load rounds, only the idle h2 test"
  H2_ROUNDS=0; H2_REPORT=h2-memory.md
fi
RD="$TMP/results/h2"
mkdir -p "$RD"
bench_cert
read -r P_WH P_WHC P_WH_ADMIN P_HH P_HHC P_NH P_NHC P_WHM P_WHMC P_WHM_ADMIN P_HHM P_HHMC P_NHM P_NHMC \
  <<<"$(python3 "$TOOL" ports 14)"
log "HTTP/2 rounds: TLS h2 / h2c: weir $P_WH / $P_WHC (admin $P_WH_ADMIN), haproxy $P_HH / $P_HHC," \
    "nginx $P_NH / $P_NHC; idle h2: weir $P_WHM, haproxy $P_HHM, nginx $P_NHM"
BACKEND_PROCS="$(tree "${PID[backend1]}" | xargs) $(tree "${PID[backend2]}" | xargs)"
# nginx 1.22 gets TLS 1.3 as in the TLS rounds (BENCH_TLS_NGINX_PROTOCOLS).
H2_NGINX_PROTOCOLS=""
if [[ $TLS_NGINX_PROTOCOLS != default ]]; then H2_NGINX_PROTOCOLS="ssl_protocols $TLS_NGINX_PROTOCOLS;"; fi

# One instance per proxy, both listeners: SFX names the instance (weir_SFX, ...); its
# targets are PROXY_SFX (TLS h2) and PROXY_SFXc (h2c), which share its processes.
# idle: the instances of the idle test, whose timeouts for a connection that has sent no
# request (Weir: header_timeout, 10 s; HAProxy: the bench's `timeout http-request 10s`)
# are raised to H2_IDLE_TIMEOUT so that none is closed while the test opens the others.
start_h2_targets() { # sfx weir_port weir_h2c_port weir_admin haproxy_port haproxy_h2c_port nginx_port nginx_h2c_port [idle]
  local sfx=$1 t p mode=h2 hap_extra="" ngx_extra=""
  if [[ ${9:-} == idle ]]; then
    mode=h2idle
    hap_extra="  timeout http-request ${H2_IDLE_TIMEOUT}s
  timeout http-keep-alive ${H2_IDLE_TIMEOUT}s
  timeout client ${H2_IDLE_TIMEOUT}s"
    ngx_extra="client_header_timeout ${H2_IDLE_TIMEOUT}s; keepalive_timeout ${H2_IDLE_TIMEOUT}s;"
  fi
  declare_targets "$sfx" "$2" "$4" "$5" "$7" "$mode" "$3"
  start_haproxy "haproxy_$sfx" "127.0.0.1:$5 ssl crt $TLS_DIR/haproxy.pem alpn h2,http/1.1
  bind 127.0.0.1:$6 proto h2" "$P_B1" "$P_B2" "" "$hap_extra"
  start_nginx "nginx_$sfx" "$(nginx_split split "$P_B1" "$P_B2")
  server {
    listen 127.0.0.1:$7 ssl http2 backlog=4096;
    listen 127.0.0.1:$8 http2 backlog=4096;
    ssl_certificate $TLS_DIR/site.pem;
    ssl_certificate_key $TLS_DIR/site.key;
    $H2_NGINX_PROTOCOLS
    $ngx_extra
    location / {
      proxy_pass http://split;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
  for p in weir haproxy nginx; do
    t="${p}_$sfx"
    STATUS[${t}c]=${STATUS[$t]}; LOGF[${t}c]=${LOGF[$t]}
    [[ ${STATUS[$t]} == ok ]] || continue
    # Ready when HTTP/1.1 over TLS answers (all three keep HTTP/1.1 on the TLS listener);
    # whether each listener speaks HTTP/2 is the check run's business.
    if wait_ready "$t" "${PORT[$t]}" "${LOGF[$t]}" tls; then
      PROCS[$t]="$(tree "${PID[$t]}" | xargs)"; PROCS[${t}c]=${PROCS[$t]}
    else
      STATUS[$t]="FAILED: did not start or does not answer GET / over TLS"; STATUS[${t}c]=${STATUS[$t]}
      log "$t: ${STATUS[$t]}"
    fi
  done
  PORT[weir_${sfx}c]=$3; PORT[haproxy_${sfx}c]=$6; PORT[nginx_${sfx}c]=$8
}

# The h2 upstream instances (weir_h2up, haproxy_h2up, nginx_h2up): one plain listener
# speaking h2c with prior knowledge, HTTP/2 cleartext to the two h2c backends (90/10):
# Weir pools with `protocol: h2`, HAProxy `server … proto h2`, nginx `grpc_pass grpc://`
# (its only HTTP/2 upstream; one request per upstream connection at a time, kept alive
# by the same `keepalive 64` as everywhere else).
start_h2up_targets() { # weir_port weir_admin haproxy_port nginx_port
  declare_targets h2up "$1" "$2" "$3" "$4" h2up
  start_haproxy haproxy_h2up "127.0.0.1:$3 proto h2" "$P_BH1" "$P_BH2" "proto h2"
  start_nginx nginx_h2up "$(nginx_split split_h2 "$P_BH1" "$P_BH2")
  server {
    listen 127.0.0.1:$4 http2 backlog=4096;
    location / {
      grpc_pass grpc://split_h2;
    }
  }"
  local t
  for t in "${H2UP_TARGETS[@]}"; do
    [[ ${STATUS[$t]} == ok ]] || continue
    # None of them speaks HTTP/1.1 (Weir answers it 505 for an h2 pool): ready when h2c works.
    if wait_ready_h2c "$t" "${PORT[$t]}" "${LOGF[$t]}"; then
      PROCS[$t]="$(tree "${PID[$t]}" | xargs)"
    else
      STATUS[$t]="FAILED: did not start or does not answer GET / over h2c"
      log "$t: ${STATUS[$t]}"
    fi
  done
}

wait_ready_h2c() { # name port logfile: one h2c request (h2load, prior knowledge) answered 2xx
  local name=$1 port=$2 logf=$3 deadline=$((SECONDS + START_TIMEOUT)) rc out="$TMP/ready-h2c-$1.txt"
  while ((SECONDS < deadline)); do
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      tail_log "$name" "$logf"
      return 1
    fi
    rc=0; timeout 5 h2load -n 1 -c 1 "http://127.0.0.1:$port/" >"$out" 2>&1 || rc=$?
    if [[ $(python3 "$TOOL" h2load-parse "$out" h2c "$rc" | cut -f1) == 1 ]]; then
      return 0
    fi
    sleep 0.2
  done
  log "$name did not answer GET / over h2c on 127.0.0.1:$port within ${START_TIMEOUT}s (last try: $out)"
  tail_log "$name" "$logf"
  return 1
}

# What an h2 upstream target answers: 1000 GET / on one h2c connection (nghttp -m, its
# streams concurrent), each answer's status and body size (nghttp -s) and body (stable
# or canary, 7 bytes): a row of h2up_answers.tsv.
check_h2up_answers() { # target
  local t=$1 out="$TMP/nghttp-$1.txt" rc=0 line
  timeout 60 nghttp -s -m 1000 "http://127.0.0.1:${PORT[$t]}/" >"$out" 2>&1 || rc=$?
  line=$(python3 "$TOOL" h2-answers "$out" 1000 "$rc")
  printf '%s\t%s\n' "$t" "$line" >>"$RD/h2up_answers.tsv"
  if [[ $(cut -f1 <<<"$line") != 1 ]]; then
    STATUS[$t]="invalid: answers: $(cut -f7 <<<"$line")"
    log "$t: ${STATUS[$t]} (nghttp output: $out)"
  else
    log "answers via $t: $(cut -f2-6 <<<"$line" | tr '\t' ' ') (requests 200 bodies stable canary)"
  fi
  alive "$t" || mark_dead "$t" "process exited while its answers were checked"
}

h2_url() { # target -> the URL h2load loads
  if [[ $1 == *_h2c || $1 == *_h2up ]]; then echo "http://127.0.0.1:${PORT[$1]}/"; else echo "https://127.0.0.1:${PORT[$1]}/"; fi
}
h2_proto() { # target -> the protocol h2load must report
  if [[ $1 == *_h2c || $1 == *_h2up ]]; then echo h2c; else echo h2; fi
}
run_h2load() { # target duration_s outfile
  timeout $(( $2 + 30 )) h2load -c"$H2_CLIENTS" -m"$H2_STREAMS" -D "$2" "$(h2_url "$1")" >"$3" 2>&1
}

printf 'round\tkind\ttarget\tok\trps\tcpu_us\trequests\tclient_cpu_us\tidle_cores\tsteal_cores\tbackend_cpu_us\tprotocol\treason\n' \
  >"$RD/h2_runs.tsv"
printf 'target\tok\trps\trequests\tprotocol\ttls_version\tcipher\treason\n' >"$RD/h2_check.tsv"
printf 'target\tok\trequests\tstatus_200\tbodies_7b\tstable\tcanary\treason\n' >"$RD/h2up_answers.tsv"
printf 'target\trequested\topened\tstill_open\terrors\trss_before_kib\trss_after_kib\tbytes_per_conn\trss_half_kib\tbytes_per_conn_second_half\tfds_before\tfds_after\tfirst_error\n' \
  >"$RD/h2_idle.tsv"

# measure_h2 ROUND KIND TARGET: one h2load run (KIND tls, h2c or h2up), checked.
measure_h2() {
  local r=$1 kind=$2 t=$3 out="$TMP/h2load-$1-$2-$3.txt" before after rc ok rps req proto tlsv cipher reason cpu_us
  local client_before client_after m_before m_after client_us machine b_before b_after backend_us
  local BACKEND_PROCS=$BACKEND_PROCS
  if [[ $kind == h2up ]]; then BACKEND_PROCS=$BACKEND_H2_PROCS; fi
  # shellcheck disable=SC2086
  before=$(cpu_ticks ${PROCS[$t]})
  children_us client_before; m_before=$(machine_ticks)
  # shellcheck disable=SC2086
  b_before=$(cpu_ticks $BACKEND_PROCS)
  rc=0; run_h2load "$t" "$H2_DUR_S" "$out" || rc=$?
  # shellcheck disable=SC2086
  after=$(cpu_ticks ${PROCS[$t]})
  children_us client_after; m_after=$(machine_ticks)
  # shellcheck disable=SC2086
  b_after=$(cpu_ticks $BACKEND_PROCS)
  if ! alive "$t"; then
    mark_dead "$t" "process exited during HTTP/2 round $r ($kind)"
    printf '%s\t%s\t%s\t0\tnan\tnan\t0\tnan\tnan\tnan\tnan\t-\tprocess exited\n' "$r" "$kind" "$t" >>"$RD/h2_runs.tsv"
    return 0
  fi
  IFS=$'\t' read -r ok rps req proto tlsv cipher reason <<<"$(python3 "$TOOL" h2load-parse "$out" "$(h2_proto "$t")" "$rc")"
  cpu_us=$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="${req:-0}" \
    'BEGIN { if (n > 0) printf "%.3f", d / hz * 1e6 / n; else print "nan" }')
  client_us=$(awk -v d=$((client_after - client_before)) -v n="${req:-0}" \
    'BEGIN { if (n > 0) printf "%.3f", d / n; else print "nan" }')
  backend_us=$(awk -v d=$((b_after - b_before)) -v hz="$CLK_TCK" -v n="${req:-0}" \
    'BEGIN { if (n > 0) printf "%.3f", d / hz * 1e6 / n; else print "nan" }')
  machine=$(awk -v b="$m_before" -v a="$m_after" -v cpus="$(nproc)" 'BEGIN { split(b, x, " "); split(a, y, " ")
    t = y[1] - x[1]; if (t <= 0) { print "nan nan"; exit }
    printf "%.2f %.2f", (y[2] - x[2]) / t * cpus, (y[3] - x[3]) / t * cpus }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$kind" "$t" "${ok:-0}" "${rps:-nan}" "$cpu_us" \
    "${req:-0}" "$client_us" ${machine% *} ${machine#* } "$backend_us" "${proto:--}" "${reason:-h2load output unreadable}" \
    >>"$RD/h2_runs.tsv"
  if [[ ${ok:-0} == 1 ]]; then
    log "HTTP/2 round $r $kind $t: ${rps} req/s, ${cpu_us} us CPU/req ($proto)"
  else
    H2_FAILED=1
    log "HTTP/2 round $r $kind $t: INVALID — $reason (h2load output: $out)"
  fi
}

# The check (and warm-up) run of one listener: the same h2load, H2_WARM_S seconds,
# the same checks; a listener that fails them is not loaded further.
check_h2() { # target
  local t=$1 out="$TMP/h2load-check-$1.txt" rc=0 line ok rps req proto tlsv cipher reason
  run_h2load "$t" "$H2_WARM_S" "$out" || rc=$?
  line=$(python3 "$TOOL" h2load-parse "$out" "$(h2_proto "$t")" "$rc")
  IFS=$'\t' read -r ok rps req proto tlsv cipher reason <<<"$line"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$ok" "$rps" "$req" "$proto" "$tlsv" "$cipher" "$reason" >>"$RD/h2_check.tsv"
  if ! alive "$t"; then
    mark_dead "$t" "process exited during the HTTP/2 check run"
  elif [[ $ok != 1 ]]; then
    STATUS[$t]="invalid: $reason"
    log "$t: HTTP/2 check run INVALID — $reason (h2load output: $out)"
  else
    if [[ $tlsv != - ]]; then proto="$proto, $tlsv $cipher"; fi
    log "HTTP/2 check $t: $proto, $rps req/s"
  fi
}

H2_TARGETS=(weir_h2 haproxy_h2 nginx_h2)
H2C_TARGETS=(weir_h2c haproxy_h2c nginx_h2c)
H2UP_TARGETS=(weir_h2up haproxy_h2up nginx_h2up)
H2_KINDS=(tls h2c)
if (( H2_ROUNDS > 0 )) && [[ $H2_UP == 1 ]]; then H2_KINDS+=(h2up); fi
BACKEND_H2_PROCS=""
if (( H2_ROUNDS > 0 )); then
  start_h2_targets h2 "$P_WH" "$P_WHC" "$P_WH_ADMIN" "$P_HH" "$P_HHC" "$P_NH" "$P_NHC"
  log "HTTP/2 measured processes: weir=[${PROCS[weir_h2]:-}] haproxy=[${PROCS[haproxy_h2]:-}] nginx=[${PROCS[nginx_h2]:-}]"
  if [[ $H2_UP == 1 ]]; then
    # Two more nginx backends, the same answers over h2c (prior knowledge; nginx 1.22's
    # plain `listen … http2` speaks nothing else), and the three h2 upstream instances.
    read -r P_BH1 P_BH2 P_WHU P_WHU_ADMIN P_HHU P_NHU <<<"$(python3 "$TOOL" ports 6)"
    log "HTTP/2 to upstreams: h2c backends $P_BH1 $P_BH2, weir $P_WHU (admin $P_WHU_ADMIN), haproxy $P_HHU, nginx $P_NHU"
    for b in 1 2; do
      if [[ $b == 1 ]]; then port=$P_BH1; word=stable; else port=$P_BH2; word=canary; fi
      start_nginx "backend_h2$b" "  server {
    listen 127.0.0.1:$port http2 backlog=4096;
    location / { default_type text/plain; return 200 \"$word\\n\"; }
  }"
    done
    wait_ready_h2c backend_h21 "$P_BH1" "$TMP/backend_h21/error.log" || die "h2c backend nginx 1 did not start"
    wait_ready_h2c backend_h22 "$P_BH2" "$TMP/backend_h22/error.log" || die "h2c backend nginx 2 did not start"
    BACKEND_H2_PROCS="$(tree "${PID[backend_h21]}" | xargs) $(tree "${PID[backend_h22]}" | xargs)"
    start_h2up_targets "$P_WHU" "$P_WHU_ADMIN" "$P_HHU" "$P_NHU"
    log "h2 upstream measured processes: weir=[${PROCS[weir_h2up]:-}] haproxy=[${PROCS[haproxy_h2up]:-}]" \
        "nginx=[${PROCS[nginx_h2up]:-}]"
    for t in "${H2UP_TARGETS[@]}"; do
      [[ ${STATUS[$t]} == ok ]] || continue
      check_h2up_answers "$t"
    done
  fi
  for t in "${H2_TARGETS[@]}" "${H2C_TARGETS[@]}" "${H2UP_TARGETS[@]}"; do
    [[ ${STATUS[$t]:-skipped} == ok ]] || continue
    check_h2 "$t"
  done
  for ((r = 1; r <= H2_ROUNDS; r++)); do
    # The proxies' order rotates every round (position in a round matters on a shared machine).
    k=$(( (r - 1) % 3 ))
    for kind in "${H2_KINDS[@]}"; do
      case $kind in
        tls) list=("${H2_TARGETS[@]}") ;;
        h2c) list=("${H2C_TARGETS[@]}") ;;
        h2up) list=("${H2UP_TARGETS[@]}") ;;
      esac
      order=("${list[@]:k}" "${list[@]:0:k}")
      for t in "${order[@]}"; do
        [[ ${STATUS[$t]} == ok ]] || continue
        if ! alive "$t"; then   # its other listener's run found the process gone
          STATUS[$t]="FAILED: process exited"; continue
        fi
        measure_h2 "$r" "$kind" "$t"
      done
    done
  done
  for t in weir_h2 haproxy_h2 nginx_h2 "${H2UP_TARGETS[@]}" backend_h21 backend_h22; do stop_proc "$t"; done
fi

# --- RSS per idle h2 connection over TLS, on fresh instances -------------------------
if (( H2_IDLE_CONNS > 0 )); then
  start_h2_targets h2m "$P_WHM" "$P_WHMC" "$P_WHM_ADMIN" "$P_HHM" "$P_HHMC" "$P_NHM" "$P_NHMC" idle
  for t in weir_h2m haproxy_h2m nginx_h2m; do
    [[ ${STATUS[$t]} == ok ]] || continue
    # One short h2 run first (the first connection's one-off costs), then quiet: Weir
    # trims memory freed after load within ~2 s (README).
    timeout 15 h2load -n 100 -c 1 -m 10 "https://127.0.0.1:${PORT[$t]}/" >"$TMP/h2load-idle-warm-$t.txt" 2>&1 || true
    sleep 2
    log "idle h2 test $t: $H2_IDLE_CONNS TLS connections (ALPN h2, preface + SETTINGS exchanged), then idle"
    # shellcheck disable=SC2086
    if j=$(timeout $(( H2_IDLE_TIMEOUT - 20 )) python3 "$TOOL" h2-idle "${PORT[$t]}" "$H2_IDLE_CONNS" $(( H2_IDLE_TIMEOUT - 60 )) ${PROCS[$t]}); then
      python3 -c 'import json, sys
t, d = sys.argv[1], json.loads(sys.argv[2])
keys = ["requested", "opened", "still_open", "errors", "rss_before_kib", "rss_after_kib", "bytes_per_conn",
        "rss_half_kib", "bytes_per_conn_second_half", "fds_before", "fds_after", "first_error"]
vals = [d.get(k) for k in keys]
print("\t".join([t] + ["-" if v is None else str(v).replace("\t", " ") for v in vals]))' "$t" "$j" >>"$RD/h2_idle.tsv"
      log "idle h2 $t: $j"
      if ! python3 -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(d["opened"] != d["requested"] or d["still_open"] != d["requested"])' "$j"; then
        H2_FAILED=1
        log "idle h2 test against $t: not all $H2_IDLE_CONNS connections were opened and kept (see the report)"
      fi
    else
      H2_FAILED=1
      log "idle h2 test against $t failed"
    fi
    alive "$t" || mark_dead "$t" "process exited during the idle h2 test"
  done
  for t in weir_h2m haproxy_h2m nginx_h2m; do stop_proc "$t"; done
fi

{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  printf 'nproc\t%s\n' "$(nproc)"
  printf 'cpu_model\t%s\n' "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  printf 'kernel\t%s\n' "$(uname -r)"
  printf 'loadavg\t%s\n' "$H2_LOADAVG_START"
  printf 'loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'weir_version\t%s\n' "$WEIR_VERSION"
  printf 'haproxy_version\t%s\n' "$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')"
  printf 'nginx_version\t%s\n' "$(nginx -v 2>&1 | head -n 1)"
  printf 'h2load_version\t%s\n' "$(h2load --version 2>&1 | head -n 1)"
  printf 'openssl_version\t%s\n' "$(openssl version 2>&1 | head -n 1)"
  printf 'rounds\t%s\nduration_s\t%s\nwarmup_s\t%s\nclients\t%s\nstreams\t%s\nidle_conns\t%s\n' \
    "$H2_ROUNDS" "$H2_DUR_S" "$H2_WARM_S" "$H2_CLIENTS" "$H2_STREAMS" "$H2_IDLE_CONNS"
  printf 'h2up\t%s\n' "$( [[ " ${H2_KINDS[*]} " == *" h2up "* ]] && echo 1 || echo 0)"
} >"$RD/h2_meta.tsv"
{
  printf 'target\tstatus\n'
  for t in "${H2_TARGETS[@]}" "${H2C_TARGETS[@]}" "${H2UP_TARGETS[@]}" weir_h2m haproxy_h2m nginx_h2m; do
    printf '%s\t%s\n' "$t" "${STATUS[$t]:-skipped}"
  done
} >"$RD/h2_status.tsv"
mkdir -p "$RESULTS_DIR"
python3 "$TOOL" h2-report "$RD" "$RESULTS_DIR/$H2_REPORT.tmp"
mv "$RESULTS_DIR/$H2_REPORT.tmp" "$RESULTS_DIR/$H2_REPORT"
log "HTTP/2 report written to $RESULTS_DIR/$H2_REPORT"
for t in "${H2_TARGETS[@]}" "${H2C_TARGETS[@]}" "${H2UP_TARGETS[@]}" weir_h2m haproxy_h2m nginx_h2m; do
  case ${STATUS[$t]:-skipped} in ok|skipped) ;; *) H2_FAILED=1 ;; esac
done
fi  # end of the HTTP/2 rounds
# ============================================================================

(( PLAIN_FAILED == 0 && TLS_FAILED == 0 && TUNNEL_FAILED == 0 && H2_FAILED == 0 )) \
  || die "at least one target failed or was invalid (see above)"
if [[ $STRICT == 1 ]]; then
  missed=0
  if [[ -z $ONLY && $(cat "$TMP/results/all_met") != 1 ]]; then missed=1; fi
  if [[ $TLS == 1 && $(cat "$TMP/results/tls_all_met" 2>/dev/null) != 1 ]]; then missed=1; fi
  if [[ $TUNNEL == 1 && $(cat "$TMP/results/tunnel/tunnel_all_met" 2>/dev/null) != 1 ]]; then missed=1; fi
  if [[ $H2 == 1 && $(cat "$TMP/results/h2/h2_all_met" 2>/dev/null) != 1 ]]; then missed=1; fi
  if (( missed )); then
    log "BENCH_STRICT=1 and not all Weir targets are met"
    exit 2
  fi
fi

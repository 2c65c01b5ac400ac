#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer + ASan + UBSan and runs each for a
# bounded time, one after the other. Independent of CMake; `make test` only
# replays the committed corpora (ctest FuzzReplay.<target>).
#
#   tests/fuzz/run.sh [seconds-per-target] [extra libFuzzer flags...]
#
# Targets (tests/fuzz/<target>_fuzz.cpp, seeds in tests/fuzz/corpus/<target>/):
#   http_parser   request/response heads, serialisers, chunked bodies behind heads
#   chunked       the chunked decoder alone, against a reference decoder
#   upgrade       Upgrade requests, offers and 101 answers (http/upgrade)
#   config        the YAML configuration loader (load_config_text)
#   admin_bodies  the admin API's split / switch / endpoint-list bodies
#   etcd_gateway  etcd's JSON gateway answers and watch stream, other replicas' traffic records
#   h2_server     the downstream HTTP/2 codec (http2/) on libnghttp2, fed
#                 what a client sends after the preface
#   h2_client     the upstream HTTP/2 codec (http2/client_connection), fed
#                 what a server sends, with a few streams open
#
# Environment:
#   TARGETS   space-separated subset to run (default: all seven)
#   CXX       compiler (default clang++-14)
#   OUT       build/work directory (default ${TMPDIR:-/tmp}/weir-fuzz); each
#             target's grown corpus goes to $OUT/<target>/corpus and crash-*
#             artifacts to $OUT/<target>/, so the committed seeds stay as they are
#   JOBS      parallel fuzzing jobs per target (default 1; the machine is shared)
#
# Reproduce a crash:  $OUT/<target>/fuzz $OUT/<target>/crash-<sha1>
# Keep it: copy the input into tests/fuzz/corpus/<target>/ once fixed, so the
# replay test guards against its return.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-60}"
shift || true
CXX="${CXX:-clang++-14}"
OUT="${OUT:-${TMPDIR:-/tmp}/weir-fuzz}"
JOBS="${JOBS:-1}"
TARGETS="${TARGETS:-http_parser chunked upgrade config admin_bodies h2_server h2_client etcd_gateway}"

if ! command -v "$CXX" >/dev/null; then
    echo "run.sh: $CXX not found; install it with: apt-get install -y clang-14 libfuzzer-14-dev" >&2
    exit 2
fi

# Sources, libraries and the longest input per target.
sources() {
    case "$1" in
        http_parser) echo http/parser.cpp http/message.cpp http/connection_field.cpp http/claims.cpp http/chunked.cpp \
                          http/serialize.cpp ;;
        chunked) echo http/chunked.cpp ;;
        upgrade) echo http/parser.cpp http/message.cpp http/connection_field.cpp http/claims.cpp http/serialize.cpp \
                      http/upgrade.cpp ;;
        config) echo config/config.cpp config/values.cpp config/yaml_reader.cpp config/to_json.cpp \
                     config/tls_config.cpp tls/certificate.cpp tls/client_context.cpp \
                     routing/matcher.cpp routing/cidr.cpp routing/grpc_status.cpp http/message.cpp http/claims.cpp \
                     tests/fuzz/boost_json_src.cpp ;;
        admin_bodies) echo admin/bodies.cpp tests/fuzz/boost_json_src.cpp ;;
        etcd_gateway) echo cluster/etcd_json.cpp cluster/etcd_error.cpp cluster/etcd_types.cpp rollout/slice_json.cpp \
                           rollout/histogram.cpp tests/fuzz/boost_json_src.cpp ;;
        h2_server) echo http2/server_connection.cpp http2/session_memory.cpp http2/outgoing_body.cpp http2/frame_scanner.cpp http2/error.cpp \
                        http2/translate.cpp http/message.cpp http/parser.cpp http/connection_field.cpp http/claims.cpp \
                        http/serialize.cpp ;;
        h2_client) echo http2/client_connection.cpp http2/outgoing_body.cpp http2/frame_scanner.cpp http2/error.cpp \
                        http/message.cpp ;;
        *) echo "run.sh: unknown target $1" >&2; exit 2 ;;
    esac
}
libraries() {
    case "$1" in
        config) echo -lyaml-cpp -lre2 -lssl -lcrypto ;;
        h2_server | h2_client) echo -lnghttp2 ;;
        *) ;;
    esac
}
max_len() {
    case "$1" in
        config) echo 16384 ;;
        admin_bodies) echo 4096 ;;
        etcd_gateway) echo 8192 ;;
        *) echo 8192 ;;
    esac
}

build() {
    local target="$1" dir="$OUT/$1" bin="$OUT/$1/fuzz"
    local srcs=()
    for s in $(sources "$target"); do srcs+=("$root/$s"); done
    mkdir -p "$dir/corpus"
    # Rebuild when the target or any source or header changed.
    local needs_build=1
    if [[ -x "$bin" ]]; then
        needs_build=0
        for f in "$here/${target}_fuzz.cpp" "$here/fuzz_check.hpp" "${srcs[@]}" "$root"/http/*.hpp "$root"/http2/*.hpp "$root"/config/*.hpp "$root"/admin/*.hpp \
                 "$root"/routing/*.hpp "$root"/health/*.hpp "$root"/rollout/*.hpp; do
            [[ "$f" -nt "$bin" ]] && needs_build=1
        done
    fi
    if [[ $needs_build == 1 ]]; then
        echo "run.sh: building $bin"
        # shellcheck disable=SC2046
        "$CXX" -std=c++20 -g -O1 -fno-omit-frame-pointer \
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
            -I"$root" "$here/${target}_fuzz.cpp" "${srcs[@]}" $(libraries "$target") -o "$bin"
    fi
}

run() {
    local target="$1" dir="$OUT/$1"
    shift
    local parallel=()
    if [[ "$JOBS" -gt 1 ]]; then
        parallel=(-jobs="$JOBS" -workers="$JOBS")
    fi
    local dict=()
    [[ -f "$here/$target.dict" ]] && dict=(-dict="$here/$target.dict")
    [[ "$target" == http_parser ]] && dict=(-dict="$here/http.dict")
    echo "run.sh: fuzzing $target for ${seconds}s (artifacts in $dir/)"
    # New inputs go to the first directory; the seeds are read only.
    (cd "$dir" && "$dir/fuzz" "$dir/corpus" "$here/corpus/$target" \
        "${dict[@]}" \
        -max_total_time="$seconds" \
        -max_len="$(max_len "$target")" \
        -timeout=10 \
        -rss_limit_mb=2048 \
        "${parallel[@]}" \
        -artifact_prefix="$dir/" \
        -print_final_stats=1 \
        "$@")
}

for t in $TARGETS; do build "$t"; done
status=0
for t in $TARGETS; do
    run "$t" "$@" || { status=$?; echo "run.sh: $t failed (exit $status); see $OUT/$t/" >&2; }
done
exit $status

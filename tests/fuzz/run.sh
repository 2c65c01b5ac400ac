#!/usr/bin/env bash
# Builds the HTTP parser fuzz target with libFuzzer + ASan + UBSan and runs it
# for a bounded time. Independent of CMake and not part of `make test`.
#
#   tests/fuzz/run.sh [seconds] [extra libFuzzer flags...]
#
# Environment:
#   CXX       compiler (default clang++-14)
#   OUT       build/work directory (default ${TMPDIR:-/tmp}/weir-fuzz); the
#             corpus the fuzzer grows and any crash-* artifacts land there, so
#             the seed corpus in tests/fuzz/corpus/ stays as committed
#   JOBS      parallel fuzzing jobs (default 1; the machine is shared)
#
# Reproduce a crash:  $OUT/http_parser_fuzz $OUT/crash-<sha1>
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-60}"
shift || true
CXX="${CXX:-clang++-14}"
OUT="${OUT:-${TMPDIR:-/tmp}/weir-fuzz}"
JOBS="${JOBS:-1}"

if ! command -v "$CXX" >/dev/null; then
    echo "run.sh: $CXX not found; install it with: apt-get install -y clang-14 libfuzzer-14-dev" >&2
    exit 2
fi

mkdir -p "$OUT/corpus"
bin="$OUT/http_parser_fuzz"
srcs=("$root/http/parser.cpp" "$root/http/message.cpp" "$root/http/chunked.cpp" "$root/http/serialize.cpp")

# Rebuild when the target or any of the sources changed.
needs_build=1
if [[ -x "$bin" ]]; then
    needs_build=0
    for f in "$here/http_parser_fuzz.cpp" "${srcs[@]}" "$root"/http/*.hpp; do
        [[ "$f" -nt "$bin" ]] && needs_build=1
    done
fi
if [[ $needs_build == 1 ]]; then
    echo "run.sh: building $bin"
    "$CXX" -std=c++20 -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$root" "$here/http_parser_fuzz.cpp" "${srcs[@]}" -o "$bin"
fi

parallel=()
if [[ "$JOBS" -gt 1 ]]; then
    parallel=(-jobs="$JOBS" -workers="$JOBS")
    cd "$OUT"  # fuzz-N.log files of the jobs go here
fi

# New inputs go to the first directory ($OUT/corpus); the seeds are read only.
echo "run.sh: fuzzing for ${seconds}s (artifacts in $OUT/)"
exec "$bin" "$OUT/corpus" "$here/corpus" \
    -dict="$here/http.dict" \
    -max_total_time="$seconds" \
    -max_len=8192 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    "${parallel[@]}" \
    -artifact_prefix="$OUT/" \
    -print_final_stats=1 \
    "$@"

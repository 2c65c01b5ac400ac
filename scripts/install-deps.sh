#!/usr/bin/env bash
# Installs the Debian packages Weir builds, tests and benchmarks with, if any is missing.
set -euo pipefail
packages=(
  cmake ninja-build g++ pkg-config ccache
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libfmt-dev libyaml-cpp-dev prometheus-cpp-dev libre2-dev libnghttp2-dev libxxhash-dev libgtest-dev
  wrk haproxy nginx-light libnginx-mod-http-echo python3 python3-websockets prometheus
  curl nghttp2-client python3-h2 python3-grpcio
  etcd-server etcd-client
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

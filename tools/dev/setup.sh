#!/usr/bin/env bash
# Installs what is missing (Debian bookworm, as root), configures and builds.
#   tools/dev/setup.sh [BUILD_DIR [MESON_OPTIONS...]]   (options apply to an existing dir too)
#   tools/dev/setup.sh --packages-only
# Used by run-gateway.sh and run-tests.sh; safe to run again (it only does
# what is not done yet).
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${1:-build}
shift || true
packages_only=false
[[ $build_dir == --packages-only ]] && packages_only=true

packages=(
  # build (meson compiles through ccache when it is installed: a second
  # build of the same sources, in this tree or a clone, is mostly cache hits)
  g++ meson ninja-build pkg-config python3 ccache
  # house style (.clang-format; tools/dev/check-format.sh)
  clang-format
  # kgw
  libuv1-dev librocksdb-dev nlohmann-json3-dev zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev
  # the etcd client (src/cluster/etcd/): HTTP to etcd's JSON gateway
  libcurl4-openssl-dev
  # tests and tools: doctest, and real Kafka clients to test against
  doctest-dev librdkafka-dev kcat python3-kafka python3-confluent-kafka
  # the etcd client test starts a real etcd (etcdctl: the etcd benchmark's health check)
  etcd-server etcd-client
  # the power-loss test's FUSE file system (tests/powerloss/)
  fuse3 libfuse3-dev
  # the conformance client matrix's Go client (Sarama, built offline)
  golang-go golang-github-shopify-sarama-dev
  # the cluster's metadata quorum, co-located with each node (tools/dev/run-cluster.sh)
  etcd-server etcd-client
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Cache hits across clones (CI builds a fresh clone): paths relative to
# the parent of this tree, the working directory left out of the hash.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd .. && pwd)}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

# tests/fuzz/run.sh configures its own clang build.
$packages_only && exit 0

if [[ ! -f "$build_dir/build.ninja" ]]; then
  meson setup "$build_dir" "$@" >/dev/null
elif (($#)); then
  # An existing build dir takes the options asked for now, whoever
  # configured it first (run-tests.sh needs release with -Dwerror=true
  # even where run-gateway.sh made the dir).
  meson configure "$build_dir" "$@" >/dev/null
fi
echo "setup: building in $build_dir" >&2
ninja -C "$build_dir"

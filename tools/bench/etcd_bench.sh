#!/usr/bin/env bash
# The etcd client's figures beside etcd's own gRPC path, in one run against
# one local etcd (docs/BENCHMARKS.md, "etcd client"):
#   tools/bench/etcd_bench.sh [BUILD_DIR] [ARGS for both benches...]
# Starts /usr/bin/etcd in a temp dir on free loopback ports, then runs
# kgw-etcd-bench (JSON gateway, src/cluster/etcd) and, where it was built
# (grpc++ found), kgw-etcd-grpc-bench (the same operations over gRPC with
# grpc++), alternating twice so that load from other work hits both alike.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client_port=$(free_port)
peer_port=$(free_port)
dir=$(mktemp -d /tmp/kgw-etcd-bench-XXXXXX)
/usr/bin/etcd --name b --data-dir "$dir/data" \
  --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "b=http://127.0.0.1:$peer_port" >"$dir/etcd.log" 2>&1 &
etcd_pid=$!
trap 'rc=$?; kill $etcd_pid 2>/dev/null; wait $etcd_pid 2>/dev/null || true; rm -rf "$dir"; exit $rc' EXIT
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$client_port" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
echo "etcd $(/usr/bin/etcd --version | head -1 | awk '{print $3}'), one member, data in $dir (tmpfs or disk: $(df --output=fstype "$dir" | tail -1))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# CPU seconds (user + system) etcd has used so far.
etcd_cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$etcd_pid/stat"; }
# Runs one bench and says where the CPU went: the client process, etcd.
run() {
  local before after
  before=$(etcd_cpu)
  local TIMEFORMAT="client CPU %U s user + %S s system"
  time "$@"
  after=$(etcd_cpu)
  echo "etcd CPU $(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.2f", a - b}') s"
}
for round in 1 2; do
  echo "-- round $round: JSON gateway over HTTP/1.1 (kgw-etcd-bench, libcurl + nlohmann/json)"
  run "$build/tools/bench/kgw-etcd-bench" --endpoint "127.0.0.1:$client_port" "$@"
  if [[ -x $build/tools/bench/kgw-etcd-grpc-bench ]]; then
    echo "-- round $round: gRPC (kgw-etcd-grpc-bench, grpc++)"
    run "$build/tools/bench/kgw-etcd-grpc-bench" --endpoint "127.0.0.1:$client_port" "$@"
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

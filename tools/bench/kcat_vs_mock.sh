#!/usr/bin/env bash
# Produce throughput of kcat (librdkafka 2.0.2) against kgw and, in the same
# run with the same command, against librdkafka's built-in mock cluster (an
# in-memory Kafka we did not write, which persists nothing).
#
#   tools/bench/kcat_vs_mock.sh [MESSAGES [MESSAGE_BYTES]]   (default 1000000 100)
#
# Needs a build (tools/dev/setup.sh). Prints one line per target and the
# ratio kgw/mock. The message file and kgw's data dir live in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
messages=${1:-1000000}
size=${2:-100}
kgw=build/kgw
mock=build/tools/kgw-mock-cluster
for f in "$kgw" "$mock"; do
  [[ -x $f ]] || { echo "kcat_vs_mock: $f is missing; run tools/dev/setup.sh first" >&2; exit 1; }
done
command -v kcat >/dev/null || { echo "kcat_vs_mock: kcat is missing (apt-get install kcat)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "kcat_vs_mock: writing $messages messages of $size bytes" >&2
python3 - "$tmp/messages" "$messages" "$size" <<'PY'
import sys
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = ("x" * (size - 1) + "\n").encode()
with open(path, "wb") as fh:
    for _ in range(n // 10000):
        fh.write(line * 10000)
    fh.write(line * (n % 10000))
PY

# Produce the file with kcat and print elapsed seconds.
produce() {
  local bootstrap=$1 topic=$2
  local start end
  start=$(date +%s.%N)
  kcat -P -b "$bootstrap" -t "$topic" -X linger.ms=5 -X batch.num.messages=10000 \
    -X queue.buffering.max.messages=1000000 -X enable.idempotence=false -l "$tmp/messages"
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}

"$kgw" --listen 127.0.0.1:0 --data-dir "$tmp/data" --log-level warn >"$tmp/kgw.out" 2>"$tmp/kgw.err" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/kgw.out" 2>/dev/null && break; sleep 0.1; done
kgw_addr=$(sed -n 's/^kgw: listening on //p' "$tmp/kgw.out")

"$mock" --brokers 1 --topic bench:1 >"$tmp/mock.out" 2>"$tmp/mock.err" &
pids+=($!)
for _ in $(seq 50); do [[ -s $tmp/mock.out ]] && break; sleep 0.1; done
mock_addr=$(head -1 "$tmp/mock.out")

echo "kcat_vs_mock: kgw at $kgw_addr, mock cluster at $mock_addr" >&2
kcat -b "$kgw_addr" -L -t bench >/dev/null  # auto-creates the topic
kgw_s=$(produce "$kgw_addr" bench)
mock_s=$(produce "$mock_addr" bench)
python3 - "$messages" "$size" "$kgw_s" "$mock_s" <<'PY'
import sys
n, size, kgw_s, mock_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
for name, s in (("kgw", kgw_s), ("mock cluster", mock_s)):
    print(f"{name:13s} {n / s:12,.0f} msgs/s {n * size / s / 1e6:8.1f} MB/s ({s:.2f} s)")
print(f"ratio kgw/mock: {mock_s / kgw_s:.2f}")
PY

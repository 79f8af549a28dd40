#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/*.cc) in their own clang build,
# build-fuzz (ASan+UBSan, coverage instrumented).
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET [TARGET...]]    (default 60 s, every target)
#
# For each target: first its checked-in regression inputs
# (tests/fuzz/regressions/<target>/), then SECONDS of fuzzing from the seed
# corpus (captured real-client frames and generated inputs, rebuilt each
# run) plus the corpus grown by earlier runs (build-fuzz/fuzz-corpus/, kept).
# A crash stops the run: the input is saved as build-fuzz/fuzz-crashes/<target>-*;
# fix the bug and add the input to tests/fuzz/regressions/<target>/.
# Installs clang and libclang-rt-14-dev if missing (as root).
# Ends with one line per target: runs, seconds, corpus size.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(fuzz_request fuzz_record_batch fuzz_decompress fuzz_broker)

missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "fuzz: missing Debian packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "fuzz: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The rest of the build's packages (libuv, rocksdb, ...) are setup.sh's.
tools/dev/setup.sh --packages-only

build=build-fuzz
# Warnings are errors here as in CI's other builds: clang warns about
# things GCC does not (an unused lambda capture got through once).
# ccache, when setup.sh installed it: meson adds it only for the compilers
# it picks itself, not for CC/CXX given like this.
if [[ ! -f $build/build.ninja ]]; then
  cache=$(command -v ccache || true)
  CC="${cache:+$cache }clang" CXX="${cache:+$cache }clang++" \
    meson setup "$build" -Dfuzz=true -Dclient_tests=disabled -Dwerror=true >/dev/null
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/}" tests/fuzz/kgw-fuzz-seeds

rm -rf "$build/fuzz-seeds"
"$build/tests/fuzz/kgw-fuzz-seeds" "$build/fuzz-seeds" tests/fixtures/captured >&2
mkdir -p "$build/fuzz-crashes"

summary=()
for t in "${targets[@]}"; do
  exe=$build/tests/fuzz/$t
  corpus=$build/fuzz-corpus/$t
  seeds=$build/fuzz-seeds/$t
  # fuzz_broker takes whole request frames, as fuzz_request does.
  [[ $t == fuzz_broker ]] && seeds=$build/fuzz-seeds/fuzz_request
  mkdir -p "$corpus" "$seeds"
  echo "fuzz: $t: regression inputs" >&2
  "$exe" -runs=0 "tests/fuzz/regressions/$t" 2>"$build/fuzz-$t.log" || {
    tail -40 "$build/fuzz-$t.log" >&2
    echo "fuzz: $t fails on a regression input (log: $build/fuzz-$t.log)" >&2
    exit 1
  }
  echo "fuzz: $t: ${seconds} s" >&2
  if ! "$exe" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-crashes/$t-" \
      "$corpus" "$seeds" 2>"$build/fuzz-$t.log"; then
    tail -60 "$build/fuzz-$t.log" >&2
    echo "fuzz: $t found a crash: $(ls -t "$build/fuzz-crashes/$t-"* 2>/dev/null | head -1);" \
      "fix it and add the input to tests/fuzz/regressions/$t/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-$t.log" | tail -1)
  summary+=("fuzz: $t: ${runs:-?} runs in ${seconds} s, corpus $(ls "$corpus" | wc -l) inputs, no crash")
done
printf '%s\n' "${summary[@]}"

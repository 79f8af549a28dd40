#!/usr/bin/env bash
# A quick conformance check for the default test run: seven fast librdkafka
# tests that pass today (produce/consume, message size limits, compression,
# ListOffsets, headers, ListGroups, and 0092's AlterConfigs of every config
# DescribeConfigs lists, kgw's own included), each in its own test-runner
# against a fresh kgw.
#
#   conformance/quick.sh [--cached-only] [run.sh options...]
#
# With --proxy (a run.sh option) the five of them that pass against
# librdkafka's mock cluster run through kgw --upstream in front of one.
#
# Exit status: 0 all passed, 1 a test failed, 77 (meson's "skipped") when the
# suite cannot be set up here (no root for apt, no network), or with
# --cached-only when the suite is not built in the cache yet. On a cold
# cache the first run fetches and builds librdkafka's suite (about 4-5 min
# on 2 cores); later runs take about 15 s.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KGW_CONFORMANCE_CACHE:-$HOME/.cache/kgw-conformance}
tests=0003,0012,0017,0031,0073,0019,0092
results=$cache/quick-results.md
# With --proxy (kgw in front of librdkafka's mock cluster) the two that fail
# against the mock alone are left out: they would only be skipped, after
# 40 s of running twice.
for arg; do
  [[ $arg == --proxy ]] && tests=0003,0012,0017,0031,0073 results=$cache/quick-proxy-results.md
done

if [[ ${1:-} == --cached-only ]]; then
  shift
  if ! compgen -G "$cache/src/librdkafka-*/.kgw-built" >/dev/null; then
    echo "quick: librdkafka's suite is not built in $cache yet (run conformance/run.sh --setup-only); skipping" >&2
    exit 77
  fi
fi

"$here/run.sh" "$tests" --timeout 60 --results "$results" "$@"
rc=$?
case $rc in
  0 | 1) exit "$rc" ;;
  3) echo "quick: could not set up the suite or the gateway (see above); skipping" >&2; exit 77 ;;
  *) exit "$rc" ;;
esac

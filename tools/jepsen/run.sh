#!/usr/bin/env bash
# The Jepsen-style fault loops of tests/integration/test_jepsen.py in their
# long form (issue 16): three kgw nodes, RF=3, min.insync.replicas=2,
# idempotent acks=all producers and a consumer group, each scenario
# --rounds times (20 by default; the default test run does 2).
#   tools/jepsen/run.sh [--rounds N] [--kgw PATH] [--history DIR] [SCENARIO...]
# SCENARIO: kill-leader kill-leader-wipe-disk pause-leader kill-group-coordinator rolling-restart
# kill-two kill-txn-coordinator partition-leader (root only); none: all.
# --history DIR keeps each scenario's history as DIR/SCENARIO.json
# (judge one again: PYTHONPATH=tests/integration python3 -m jepsen.history FILE).
# Exits non-zero when any scenario's checker counts a lost, moved,
# duplicated, divergent or truncated record, offsets going backwards, a
# transaction partly visible, aborted but visible or lost, or a transformed
# record missing (the test's output says which and where), or when a round
# does not converge.
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=20 kgw=${KGW:-build/kgw} history="" scenarios=()
while (($#)); do
  case $1 in
    --rounds) rounds=${2:?--rounds needs N}; shift 2 ;;
    --kgw) kgw=${2:?--kgw needs a path}; shift 2 ;;
    --history) history=${2:?--history needs a dir}; shift 2 ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
[[ -x $kgw ]] || { echo "run.sh: no kgw binary at $kgw (build first, or --kgw PATH)" >&2; exit 2; }

KGW=$(realpath "$kgw")
KGW_JEPSEN_SCENARIOS=$(IFS=,; echo "${scenarios[*]}")
# The long form runs the scenarios with a known, open loss too
# (test_jepsen.py's KNOWN_LOSSES), so that they show.
export KGW KGW_JEPSEN_SCENARIOS PYTHONPATH=tests/integration KGW_JEPSEN_ROUNDS=$rounds KGW_JEPSEN_KNOWN_LOSSES=1
if [[ -n $history ]]; then
  KGW_JEPSEN_HISTORY_DIR=$(realpath -m "$history")
  export KGW_JEPSEN_HISTORY_DIR
fi
# The Debian client libraries (python3-confluent-kafka) are the system interpreter's.
exec /usr/bin/python3 tests/integration/test_jepsen.py

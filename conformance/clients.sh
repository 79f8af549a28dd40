#!/usr/bin/env bash
# The client matrix: one scenario per real Kafka client (conformance/clients/:
# kcat, kafka-python, confluent-kafka-python, Sarama), each run against one
# fresh kgw (free loopback port, temporary data dir, num.partitions=3).
#
#   conformance/clients.sh                  every scenario
#   conformance/clients.sh kcat sarama      some (file names without extension)
#
# Options:
#   --timeout SECONDS   time limit per scenario (default 120)
#   --results FILE      also write the results as Markdown (run.sh's format)
#   --kgw PATH          gateway binary (default: build/kgw of this checkout,
#                       built with tools/dev/setup.sh if missing)
#   --log-dir DIR       scenario and gateway logs (default: a new folder under
#                       $CACHE/clients-runs, newest linked as clients-last-run)
#   --rows FILE         (for run.sh) also write the results as TSV rows
#
# Output: one line per client on stdout (id, client and version,
# passed/failed/skipped, seconds, first failure or skip reason), then
# "N passed, N failed, N skipped". Progress goes to stderr. Exit status: 0 no
# scenario failed, 1 some failed, 2 bad usage, 3 the gateway did not start.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${KGW_CONFORMANCE_CACHE:-$HOME/.cache/kgw-conformance}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

timeout_s=120 results="" kgw_src="" logdir="" rows_file="" only=()
say() { echo "clients: $*" >&2; }
die() { echo "clients: $*" >&2; exit 3; }
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}
while (($#)); do
  case $1 in
    --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || usage; timeout_s=$2; shift ;;
    --results) [[ -n ${2:-} ]] || usage; results=$2; shift ;;
    --kgw) [[ -n ${2:-} ]] || usage; kgw_src=$2; shift ;;
    --log-dir) [[ -n ${2:-} ]] || usage; logdir=$2; shift ;;
    --rows) [[ -n ${2:-} ]] || usage; rows_file=$2; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "clients: unknown option $1" >&2; usage ;;
    *) only+=("$1") ;;
  esac
  shift
done

scenarios=()
mapfile -t files < <(printf '%s\n' "$here"/clients/*.sh "$here"/clients/*.py | sort)
for f in "${files[@]}"; do
  n=${f##*/}
  n=${n%.*}
  if ((${#only[@]} == 0)) || [[ " ${only[*]} " == *" $n "* ]]; then scenarios+=("$f"); fi
done
((${#scenarios[@]})) || { echo "clients: no scenario named ${only[*]} in $here/clients" >&2; exit 2; }

if [[ -z $kgw_src ]]; then
  kgw_src=$repo/build/kgw
  if [[ ! -x $kgw_src ]]; then
    say "no $kgw_src: building it with tools/dev/setup.sh build"
    "$repo/tools/dev/setup.sh" build >&2 || die "building kgw failed"
  fi
fi
[[ -x $kgw_src ]] || die "no gateway binary at $kgw_src"
kgw_line=$(kgw_commit_line "$repo" "$kgw_src")
if [[ -z $logdir ]]; then
  mkdir -p "$cache/clients-runs"
  logdir=$cache/clients-runs/$(date -u +%Y%m%dT%H%M%SZ)-$$
  ln -sfn "clients-runs/${logdir##*/}" "$cache/clients-last-run"
  find "$cache/clients-runs" -mindepth 1 -maxdepth 1 -type d | sort | head -n -9 | xargs -r rm -rf
fi
mkdir -p "$logdir"
workdir=$(mktemp -d "${TMPDIR:-/tmp}/kgw-clients.XXXXXX")
# A copy of the binary: the build dir may be rebuilt while we run.
cp "$kgw_src" "$workdir/kgw"
kgw_pid="" starts=0

start_gateway() {
  kgw_start "$workdir/kgw" "$workdir/data-$starts" "$logdir/kgw-$starts" --set num.partitions=3 ||
    die "could not start kgw"
  say "kgw listening on 127.0.0.1:$kgw_port, pid $kgw_pid, log $logdir/kgw-$starts.log"
  starts=$((starts + 1))
}
cleanup() {
  [[ -z $kgw_pid ]] || kgw_stop "$kgw_pid"
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t_start=$SECONDS
passed=0 failed=0 skipped=0 rows=()
result_widths="22 40"
start_gateway
for f in "${scenarios[@]}"; do
  n=${f##*/}
  id=client-${n%.*}
  log=$logdir/$id.log
  [[ -n $kgw_pid ]] || start_gateway
  say "running $id (limit $timeout_s s, log $log)"
  run=("$f")
  [[ $f == *.py ]] && run=(/usr/bin/python3 "$f")
  t0=$EPOCHREALTIME
  rc=0
  timeout -k 10 "$timeout_s" "${run[@]}" "127.0.0.1:$kgw_port" >"$log" 2>&1 </dev/null || rc=$?
  secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  name=$(sed -n 's/^client: //p' "$log" | head -1)
  [[ -n $name ]] || name=${n%.*}
  fail_line=$(sed -n 's/^FAIL: //p' "$log" | head -1)
  last_step=$(sed -n 's/^ok: //p' "$log" | tail -1)
  case $rc in
    0) if [[ -n $fail_line ]]; then st=failed reason=$fail_line; else st=passed reason=""; fi ;;
    77) st=skipped reason=$(sed -n 's/^SKIP: //p' "$log" | head -1) ;;
    124 | 137) st=failed reason="no result within $timeout_s s (last step done: ${last_step:-none})" ;;
    *) st=failed reason=${fail_line:-"exited with status $rc; last line: $(grep -v '^$' "$log" | tail -1)"} ;;
  esac
  if ! kill -0 "$kgw_pid" 2>/dev/null; then
    kst=0
    wait "$kgw_pid" 2>/dev/null || kst=$?
    kgw_pid=""
    say "kgw exited with status $kst during $id; the next scenario gets a fresh one"
    st=failed reason="kgw exited with status $kst during the scenario (see $logdir/kgw-*.log); scenario said: $reason"
  fi
  result_line "$id" "$name" "$st" "$secs" "$reason"
  rows+=("$id"$'\t'"$name"$'\t'"$st"$'\t'"$secs"$'\t'"$reason")
  case $st in passed) ((++passed)) ;; failed) ((++failed)) ;; *) ((++skipped)) ;; esac
done
[[ -z $kgw_pid ]] || kgw_stop "$kgw_pid"
kgw_pid=""
summary="$passed passed, $failed failed, $skipped skipped"
elapsed=$((SECONDS - t_start))

[[ -z $rows_file ]] || printf '%s\n' "${rows[@]}" >"$rows_file"
if [[ -n $results ]]; then
  mkdir -p "$(dirname "$results")"
  {
    echo "# Client matrix results"
    echo
    echo "Produced by \`conformance/clients.sh\`; see conformance/README.md for what each scenario does."
    echo
    echo "- Date: $started (took $elapsed s)"
    echo "$kgw_line"
    echo "- Gateway: --set num.partitions=3; per-scenario limit $timeout_s s"
    echo
    result_table "${rows[@]}"
    echo
    echo "$summary"
  } >"$results"
  say "results written to $results"
fi
say "logs in $logdir (took $elapsed s)"
echo "$summary"
((failed == 0))

# shellcheck shell=bash disable=SC2034  # kgw_pid, kgw_port, result_widths are for the caller
# Shared by run.sh and clients.sh (sourced, not run): starting and stopping a
# gateway, the result line and the results file's "kgw commit" line.

# kgw_start BIN DATA_DIR OUT [KGW_FLAGS...]: starts BIN on a free loopback
# port (--listen 127.0.0.1:0) with DATA_DIR, stdout to OUT.stdout and stderr
# to OUT.log, and waits up to 10 s for its "kgw: listening on" line. Sets
# kgw_pid and kgw_port. On failure prints why to stderr and returns 1.
kgw_start() {
  local bin=$1 data=$2 out=$3 line="" i
  shift 3
  mkdir -p "$data"
  "$bin" --listen 127.0.0.1:0 --data-dir "$data" "$@" >"$out.stdout" 2>"$out.log" &
  kgw_pid=$!
  for ((i = 0; i < 100; i++)); do
    line=$(head -1 "$out.stdout" 2>/dev/null || true)
    [[ $line == "kgw: listening on "* ]] && break
    if ! kill -0 "$kgw_pid" 2>/dev/null; then
      tail -5 "$out.log" >&2
      echo "kgw exited at start (log: $out.log)" >&2
      return 1
    fi
    sleep 0.1
  done
  if [[ $line != "kgw: listening on "* ]]; then
    kill "$kgw_pid" 2>/dev/null
    echo "kgw printed no listening line within 10 s (log: $out.log)" >&2
    return 1
  fi
  kgw_port=${line##*:}
}

# kgw_stop PID: SIGTERM, SIGKILL if still running 10 s later; reaps it.
kgw_stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kgw (pid $pid) still running 10 s after SIGTERM: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# result_line ID NAME STATUS SECONDS REASON: one result on stdout. The ID and
# NAME columns are $result_widths wide (a test number and its name; the
# client matrix widens them).
result_widths="4 34"
result_line() {
  printf '%-*s  %-*s %-7s %6.1fs  %s\n' "${result_widths% *}" "$1" "${result_widths#* }" "$2" "$3" "$4" "$5"
}

# result_table ROWS...: the Markdown table of TSV rows (id, name, status,
# seconds, reason).
result_table() {
  local row id nm st secs reason
  echo "| Test | Name | Result | Seconds | First failure or skip reason |"
  echo "|---|---|---|---:|---|"
  for row in "$@"; do
    IFS=$'\t' read -r id nm st secs reason <<<"$row"
    echo "| $id | $nm | $st | $secs | ${reason//|/\\|} |"
  done
}

# kgw_commit_line REPO BINARY: the results file's "- kgw commit: ..." line.
kgw_commit_line() {
  local commit dirty built
  commit=$(git -C "$1" rev-parse HEAD 2>/dev/null || echo unknown)
  dirty=$( (git -C "$1" status --porcelain --untracked-files=no 2>/dev/null || true) | wc -l)
  built=$(date -u -r "$2" +%Y-%m-%dT%H:%M:%SZ)
  if ((dirty)); then
    echo "- kgw commit: $commit, with uncommitted changes to $dirty tracked file(s) (binary built $built)"
  else
    echo "- kgw commit: $commit (binary built $built)"
  fi
}

#!/usr/bin/env bash
# Starts, stops and restarts a kgw cluster on one machine: N nodes, each a
# kgw process with its own co-located etcd member (a child kgw supervises).
#
#   tools/dev/run-cluster.sh N --base-port P --data DIR [--set NAME=VALUE]... [--wait metadata|members]
#   tools/dev/run-cluster.sh --stop DIR
#   tools/dev/run-cluster.sh --start-node ID DIR [--wait metadata|members]
#
# Node ID (1..N) listens for Kafka on 127.0.0.1:P+ID-1, keeps its data in
# DIR/node-ID, kgw's data dir: RocksDB, its etcd member's data in
# DIR/node-ID/etcd, log DIR/node-ID/etcd.log, pid DIR/node-ID/etcd.pid,
# and kgw's log DIR/node-ID/kgw.log and pid DIR/node-ID/kgw.pid. The etcd members use
# the ports above the Kafka ones, never P..P+N-1: client P+N+2(ID-1), peer
# P+N+2(ID-1)+1; all in all P..P+3N-1.
#
# Installs and builds what is missing (tools/dev/setup.sh), as
# run-gateway.sh does; KGW=/path/to/kgw uses that binary instead of
# building. Extra --set NAME=VALUE go to every node. Returns once every node
# serves Metadata listing all N brokers (--wait members: once every etcd
# member is healthy and every Kafka port accepts), or fails after
# $KGW_CLUSTER_TIMEOUT seconds (default 60) saying what is missing. Then
# DIR/nodes.tsv has a header line and one line per node: node id, kgw pid,
# Kafka port, etcd pid.
#
# DIR/cluster.conf keeps N, P and the --set values, so --start-node (after
# a kill) and a later start with the same DIR bring the same cluster back
# with its data. Nodes run in their own sessions: they outlive this script
# and the terminal; --stop ends them (SIGTERM, SIGKILL after 30 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
src_root=$(pwd)

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}
nodes_started=false
die() {
  echo "run-cluster: $*" >&2
  $nodes_started && echo "run-cluster: the nodes started are left running: $0 --stop $data" >&2
  exit 1
}

mode=start n="" base_port="" data="" node="" wait_for=metadata
sets=()
while (($#)); do
  case $1 in
    --base-port) base_port=${2:?--base-port needs a port}; shift 2 ;;
    --data) data=${2:?--data needs a directory}; shift 2 ;;
    --set) sets+=("${2:?--set needs NAME=VALUE}"); shift 2 ;;
    --set=*) sets+=("${1#--set=}"); shift ;;
    --wait) wait_for=${2:?--wait needs metadata or members}; shift 2 ;;
    --stop) mode=stop; data=${2:?--stop needs the cluster DIR}; shift 2 ;;
    --start-node)
      mode=start-node
      node=${2:?--start-node needs ID DIR}
      data=${3:?--start-node needs ID DIR}
      shift 3 ;;
    -h | --help) usage ;;
    [0-9]*) n=$1; shift ;;
    *) echo "run-cluster: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ $wait_for == metadata || $wait_for == members ]] || die "--wait: '$wait_for' is not metadata or members"
[[ -n $data ]] || usage
timeout_s=${KGW_CLUSTER_TIMEOUT:-60}

# --- the pids of DIR's processes ---------------------------------------------

# True if PID runs with "--data-dir DIR" on its command line (kgw on
# DIR/node-ID, etcd on DIR/node-ID/etcd), not some process that took a
# recycled pid.
runs_on() {
  local pid=$1 dir=$2
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$dir" || return 1
  # A zombie nobody reaped yet is gone for our purposes.
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]
}
node_dir() { echo "$data/node-$1"; }
kgw_data() { echo "$data/node-$1"; }
kgw_pid() { cat "$(node_dir "$1")/kgw.pid" 2>/dev/null || true; }
etcd_pid() { cat "$(kgw_data "$1")/etcd.pid" 2>/dev/null || true; }
kgw_alive() { runs_on "$(kgw_pid "$1")" "$(kgw_data "$1")"; }
etcd_alive() { runs_on "$(etcd_pid "$1")" "$(kgw_data "$1")/etcd"; }

# Stops one process of ours: SIGTERM, then SIGKILL after 30 s.
stop_pid() {
  local pid=$1 dir=$2 what=$3
  runs_on "$pid" "$dir" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 300; i++)); do
    runs_on "$pid" "$dir" || return 0
    sleep 0.1
  done
  echo "run-cluster: $what (pid $pid) ignored SIGTERM for 30 s: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

if [[ $mode == stop ]]; then
  [[ -d $data ]] || die "--stop: no directory $data"
  data=$(cd "$data" && pwd)
  stopped=0
  for d in "$data"/node-*/; do
    [[ -d $d ]] || continue
    id=${d%/}
    id=${id##*/node-}
    if kgw_alive "$id"; then
      stop_pid "$(kgw_pid "$id")" "$(kgw_data "$id")" "node $id's kgw"
      stopped=$((stopped + 1))
    fi
    # kgw stops its member; one a killed kgw left behind goes here.
    stop_pid "$(etcd_pid "$id")" "$(kgw_data "$id")/etcd" "node $id's etcd"
  done
  echo "run-cluster: stopped $stopped node(s) of $data" >&2
  exit 0
fi

# --- the cluster's shape: given, or kept from the first start ------------------

conf="$data/cluster.conf"
if [[ -f $conf ]]; then
  saved_n=$(sed -n 's/^nodes=//p' "$conf")
  saved_port=$(sed -n 's/^base_port=//p' "$conf")
  if [[ $mode == start ]]; then
    [[ -z $n || $n == "$saved_n" ]] || die "$data holds a $saved_n-node cluster, not $n nodes"
    [[ -z $base_port || $base_port == "$saved_port" ]] ||
      die "$data holds a cluster on base port $saved_port, not $base_port"
  fi
  n=$saved_n base_port=$saved_port
  if ((${#sets[@]} == 0)); then
    mapfile -t sets < <(sed -n 's/^set=//p' "$conf")
  fi
elif [[ $mode == start-node ]]; then
  die "--start-node: $data has no cluster.conf (start the cluster first)"
fi
[[ $n =~ ^[1-9][0-9]*$ ]] || die "the number of nodes N is missing or not a positive number"
[[ $base_port =~ ^[1-9][0-9]*$ ]] || die "--base-port P is missing or not a port number"
((base_port + 3 * n - 1 <= 65535)) ||
  die "ports $base_port..$((base_port + 3 * n - 1)) (Kafka, then etcd client and peer) exceed 65535"
if [[ $mode == start-node ]]; then
  if ! [[ $node =~ ^[0-9]+$ ]] || ((node < 1 || node > n)); then
    die "--start-node: node id must be 1..$n"
  fi
fi
for s in "${sets[@]}"; do
  [[ $s == *=* ]] || die "--set '$s' is not NAME=VALUE"
done

mkdir -p "$data"
data=$(cd "$data" && pwd)
{
  echo "nodes=$n"
  echo "base_port=$base_port"
  for s in "${sets[@]}"; do echo "set=$s"; done
} >"$conf.tmp"
mv "$conf.tmp" "$conf"

kafka_port() { echo $((base_port + $1 - 1)); }
client_port() { echo $((base_port + n + 2 * ($1 - 1))); }
peer_port() { echo $((base_port + n + 2 * ($1 - 1) + 1)); }
initial_cluster=""
endpoints=""
for ((i = 1; i <= n; i++)); do
  initial_cluster+="${initial_cluster:+,}kgw-$i=http://127.0.0.1:$(peer_port "$i")"
  endpoints+="${endpoints:+,}127.0.0.1:$(client_port "$i")"
done

# --- what it needs --------------------------------------------------------------

if [[ -z ${KGW:-} ]]; then
  tools/dev/setup.sh build
  KGW=$src_root/build/kgw
else
  [[ -x $KGW ]] || die "KGW=$KGW is not an executable"
  if [[ ! -x ${KGW_ETCD:-/usr/bin/etcd} || ! -x /usr/bin/etcdctl ]]; then
    tools/dev/setup.sh --packages-only
  fi
fi
KGW=$(cd "$(dirname "$KGW")" && pwd)/$(basename "$KGW")
python=/usr/bin/python3
[[ -x $python ]] || python=python3

# --- starting nodes ---------------------------------------------------------------

# The command that runs node ID (also what the README shows).
node_command() {
  local id=$1
  local cmd=("$KGW" --listen "127.0.0.1:$(kafka_port "$id")" --data-dir "$(kgw_data "$id")"
    --set "node.id=$id"
    --set "metadata.etcd.initial.cluster=$initial_cluster"
    --set "metadata.etcd.initial.cluster.token=kgw-$base_port"
    --set "metadata.etcd.member.client.port=$(client_port "$id")"
    --set "metadata.etcd.member.peer.port=$(peer_port "$id")"
    --set "metadata.etcd.endpoints=$endpoints")
  for s in "${sets[@]}"; do cmd+=(--set "$s"); done
  printf '%q ' "${cmd[@]}"
}

declare -A log_offset
start_node() {
  local id=$1 dir
  dir=$(node_dir "$id")
  mkdir -p "$dir"
  local cmd
  cmd=$(node_command "$id")
  echo "run-cluster: node $id: $cmd" >&2
  log_offset[$id]=$(stat -c %s "$dir/kgw.log" 2>/dev/null || echo 0)
  echo "==== run-cluster $(date -u +%FT%TZ): $cmd" >>"$dir/kgw.log"
  log_offset[$id]=$(stat -c %s "$dir/kgw.log")
  # Its own session: the node outlives this script and the terminal, and
  # the terminal's ^C does not reach it.
  eval "setsid $cmd </dev/null >>\"\$dir/kgw.log\" 2>&1 &"
  echo $! >"$dir/kgw.pid"
}

# Waits until node ID prints its listening line (fails if it exits).
wait_listening() {
  local id=$1 dir deadline=$((SECONDS + timeout_s))
  dir=$(node_dir "$id")
  while ! tail -c +"$((log_offset[$id] + 1))" "$dir/kgw.log" | grep -q '^kgw: listening on '; do
    if ! kgw_alive "$id"; then
      tail -n 20 "$dir/kgw.log" >&2
      die "node $id's kgw exited before listening (log: $dir/kgw.log)"
    fi
    ((SECONDS < deadline)) || die "node $id's kgw did not listen within ${timeout_s}s (log: $dir/kgw.log)"
    sleep 0.1
  done
}

write_nodes_tsv() {
  {
    printf 'node_id\tkgw_pid\tkafka_port\tetcd_pid\n'
    for ((i = 1; i <= n; i++)); do
      printf '%s\t%s\t%s\t%s\n' "$i" "$(kgw_pid "$i")" "$(kafka_port "$i")" "$(etcd_pid "$i")"
    done
  } >"$data/nodes.tsv.tmp"
  mv "$data/nodes.tsv.tmp" "$data/nodes.tsv"
}

# Prints the ids among "$@" whose etcd member does not answer /health.
unhealthy_members() {
  local id
  for id in "$@"; do
    $python - "$(client_port "$id")" <<'EOF' || echo "$id"
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=2) as r:
        sys.exit(0 if b'"health":"true"' in r.read() else 1)
except Exception:
    sys.exit(1)
EOF
  done
}

# Prints "ID: what is missing" for each node among "$@" whose Metadata
# does not list brokers 1..N.
metadata_missing() {
  local ports=() id
  for id in "$@"; do ports+=("$id:$(kafka_port "$id")"); done
  PYTHONPATH=$src_root/tests/integration $python - "$n" "${ports[@]}" <<'EOF'
import sys
import kafka_wire

want = set(range(1, int(sys.argv[1]) + 1))
for arg in sys.argv[2:]:
    node, port = arg.split(":")
    try:
        c = kafka_wire.Conn(f"127.0.0.1:{port}", client_id="run-cluster", timeout=5)
        d = c.call(api_key=3, version=1, body=kafka_wire.Enc().i32(0))  # Metadata v1, no topics
        brokers = d.array(lambda d: (d.i32(), d.string(), d.i32(), d.string()))
        c.close()
        got = {b[0] for b in brokers}
        if got != want:
            print(f"{node}: lists brokers {sorted(got)}, not {sorted(want)}")
    except Exception as e:
        print(f"{node}: Metadata failed ({e})")
EOF
}

# Waits until the nodes "$@" serve: members healthy, then (--wait
# metadata) every node's Metadata listing all N brokers.
wait_serving() {
  local deadline=$((SECONDS + timeout_s)) bad
  while bad=$(unhealthy_members "$@") && [[ -n $bad ]]; do
    for id in "$@"; do kgw_alive "$id" || die "node $id's kgw exited (log: $(node_dir "$id")/kgw.log)"; done
    ((SECONDS < deadline)) || die "after ${timeout_s}s the etcd member of node(s) ${bad//$'\n'/ } does not answer /health (logs: $data/node-ID/etcd.log)"
    sleep 0.2
  done
  [[ $wait_for == metadata ]] || return 0
  while bad=$(metadata_missing "$@") && [[ -n $bad ]]; do
    for id in "$@"; do kgw_alive "$id" || die "node $id's kgw exited (log: $(node_dir "$id")/kgw.log)"; done
    if ((SECONDS >= deadline)); then
      echo "$bad" | sed 's/^/run-cluster: node /' >&2
      die "after ${timeout_s}s not every node's Metadata lists all $n brokers (is the etcd metadata log in this kgw? --wait members skips this check)"
    fi
    sleep 0.2
  done
}

if [[ $mode == start-node ]]; then
  kgw_alive "$node" && die "node $node is running (pid $(kgw_pid "$node")): nothing to start"
  start_node "$node"
  nodes_started=true
  wait_listening "$node"
  write_nodes_tsv
  wait_serving "$node"
  write_nodes_tsv
  echo "run-cluster: node $node serves on 127.0.0.1:$(kafka_port "$node")" >&2
  exit 0
fi

for ((i = 1; i <= n; i++)); do
  kgw_alive "$i" && die "node $i of $data is running (pid $(kgw_pid "$i")); --stop $data first, or --start-node a stopped one"
done
# All nodes first, then wait: a node's metadata needs the others' members
# (the quorum) to be up.
for ((i = 1; i <= n; i++)); do start_node "$i"; done
nodes_started=true
for ((i = 1; i <= n; i++)); do wait_listening "$i"; done
write_nodes_tsv
ids=()
for ((i = 1; i <= n; i++)); do ids+=("$i"); done
wait_serving "${ids[@]}"
write_nodes_tsv
bootstrap=""
for ((i = 1; i <= n; i++)); do bootstrap+="${bootstrap:+,}127.0.0.1:$(kafka_port "$i")"; done
echo "run-cluster: $n nodes serve; bootstrap $bootstrap; $data/nodes.tsv:" >&2
cat "$data/nodes.tsv" >&2

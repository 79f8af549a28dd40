#!/usr/bin/env bash
# Starts, stops and restarts a kgw cluster on one machine: N nodes, each a
# kgw process with its own co-located etcd member (a child kgw supervises).
#
#   tools/dev/run-cluster.sh N --base-port P --data DIR [--set NAME=VALUE]... [--wait metadata|members]
#   tools/dev/run-cluster.sh --stop DIR
#   tools/dev/run-cluster.sh --start-node ID DIR [--wait metadata|members]
#   tools/dev/run-cluster.sh N --base-port P --data DIR --racks R1,R2,...   (one rack per node)
#   tools/dev/run-cluster.sh --add-node DIR [--rack R] [--no-member] [--wait metadata|members]
#   tools/dev/run-cluster.sh --remove-node ID DIR [--no-move | --force] [--wait metadata|members]
#
# Node ID (1..N) listens for Kafka on 127.0.0.1:P+ID-1, keeps its data in
# DIR/node-ID, kgw's data dir: RocksDB, its etcd member's data in
# DIR/node-ID/etcd, log DIR/node-ID/etcd.log, pid DIR/node-ID/etcd.pid,
# and kgw's log DIR/node-ID/kgw.log and pid DIR/node-ID/kgw.pid. The etcd members use
# the ports above the Kafka ones, never P..P+N-1: client P+N+2(ID-1), peer
# P+N+2(ID-1)+1; all in all P..P+3N-1. --racks sets broker.rack of node
# ID to the ID-th rack.
#
# --add-node grows a running cluster by one node, ID = the highest id the
# DIR ever had + 1 (ids are never reused). Node ID > N takes the three
# ports above all others: Kafka A=P+3N+3(ID-N-1), etcd client A+1, peer A+2
# (ports above 65535 are refused). It adds the node's etcd member first
# (etcdctl member add kgw-ID --peer-urls=http://127.0.0.1:A+2 against the
# current members), then starts kgw with metadata.etcd.initial.cluster.state=
# existing and the current members as metadata.etcd.initial.cluster;
# --no-member starts a broker without a member of its own, a client of the
# current members (metadata.etcd.endpoints; its client and peer ports stay
# unused). --rack R sets its broker.rack.
#
# --remove-node first moves the node's replicas to the other nodes with a
# reassignment (kgw-admin reassign --execute, then --verify until done):
# in each partition naming it, the node is replaced by the current node
# holding the fewest replicas that is not a replica of it yet; where every
# other node already is one, the node is only dropped (one replica fewer);
# --no-move skips this. Then it stops node ID (SIGTERM), removes its etcd
# member (etcdctl member remove) and records it as removed. It refuses
# while the node still leads, or is the only replica of, a partition with
# records (or one whose data it cannot see, its leader down): with
# replication factor 1 that is data loss (the move failed or was skipped,
# or there is no other node). --force removes it all the same (no move);
# those partitions stay offline. Once the node has stopped
# (its session lease revoked, or lapsed), it unregisters the broker
# (kgw-admin cluster unregister --id ID, UnregisterBroker; a raw request
# when kgw-admin is not built; KGW_ADMIN=path picks one), so the cluster
# forgets it: DescribeCluster, Metadata and placement no longer know it.
#
# Installs and builds what is missing (tools/dev/setup.sh), as
# run-gateway.sh does; KGW=/path/to/kgw uses that binary instead of
# building. Extra --set NAME=VALUE go to every node. Returns once every node
# serves Metadata listing all N brokers (all current ones, after --add-node
# or --remove-node; --wait members: once every etcd member is healthy and
# every Kafka port accepts), or fails after $KGW_CLUSTER_TIMEOUT seconds
# (default 60) saying what is missing. Then DIR/nodes.tsv has a header line
# and one line per node: node id, kgw pid, Kafka port, etcd pid (empty for
# a --no-member node).
#
# DIR/cluster.conf keeps N, P and the --set values, so --start-node (after
# a kill) and a later start with the same DIR bring the same cluster back
# with its data; also the racks (racks=), the added nodes (added=ID:member
# or ID:client, then :RACK) and the removed ones (removed=ID), so the grown
# or shrunk cluster comes back; nodes.tsv lists the current nodes. Nodes
# run in their own sessions: they outlive this script and the terminal;
# --stop ends them (SIGTERM, SIGKILL after 30 s; nodes without a member
# first).
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
sets=() racks_arg="" rack_arg="" no_member=false force=false move=true
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
    --racks) racks_arg=${2:?--racks needs R1,R2,...}; shift 2 ;;
    --rack) rack_arg=${2:?--rack needs a rack name}; shift 2 ;;
    --no-member) no_member=true; shift ;;
    --force) force=true; shift ;;
    --no-move) move=false; shift ;;
    --add-node) mode=add-node; data=${2:?--add-node needs the cluster DIR}; shift 2 ;;
    --remove-node)
      mode=remove-node
      node=${2:?--remove-node needs ID DIR}
      data=${3:?--remove-node needs ID DIR}
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
  # Nodes without an etcd member (--add-node --no-member) first: stopped
  # after the members, each would wait for a quorum that is gone.
  dirs=()
  for d in "$data"/node-*/; do [[ -d $d && ! -d $d/etcd ]] && dirs+=("$d"); done
  for d in "$data"/node-*/; do [[ -d $d/etcd ]] && dirs+=("$d"); done
  for d in ${dirs[@]+"${dirs[@]}"}; do
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
  saved_racks=$(sed -n 's/^racks=//p' "$conf")
  [[ -n $racks_arg ]] || racks_arg=$saved_racks
  mapfile -t added < <(sed -n 's/^added=//p' "$conf")
  mapfile -t removed < <(sed -n 's/^removed=//p' "$conf")
elif [[ $mode != start ]]; then
  die "--$mode: $data has no cluster.conf (start the cluster first)"
fi
[[ $mode == add-node ]] || [[ -z $rack_arg && $no_member == false ]] || die "--rack and --no-member go with --add-node"
[[ $mode == remove-node ]] || ! $force || die "--force goes with --remove-node"
[[ $mode == remove-node ]] || $move || die "--no-move goes with --remove-node"
[[ $mode == start ]] || [[ -z $racks_arg || $racks_arg == "${saved_racks:-}" ]] || die "--racks goes with starting a cluster"
[[ $mode != add-node ]] || ((${#sets[@]} == 0)) ||
  die "--add-node takes the cluster's --set values from $conf, not new ones"
[[ $n =~ ^[1-9][0-9]*$ ]] || die "the number of nodes N is missing or not a positive number"
racks=()
if [[ -n $racks_arg ]]; then
  IFS=, read -r -a racks <<<"$racks_arg"
  ((${#racks[@]} == n)) || die "--racks names ${#racks[@]} rack(s) for $n nodes (one per node)"
fi

# Every node the DIR ever had: 1..N, then the added ones; the current ones
# are those not removed.
declare -A rack_of=() member_of=() is_removed=()
for ((i = 1; i <= n; i++)); do
  rack_of[$i]=${racks[i - 1]:-}
  member_of[$i]=member
done
max_id=$n
for a in ${added[@]+"${added[@]}"}; do
  IFS=: read -r id kind rack <<<"$a"
  [[ $id =~ ^[0-9]+$ && ($kind == member || $kind == client) ]] || die "$conf: bad line added=$a"
  rack_of[$id]=$rack
  member_of[$id]=$kind
  ((id > max_id)) && max_id=$id
done
for id in ${removed[@]+"${removed[@]}"}; do is_removed[$id]=1; done
current_ids() {
  local id
  for ((id = 1; id <= max_id; id++)); do
    [[ -n ${member_of[$id]:-} && -z ${is_removed[$id]:-} ]] && echo "$id"
  done
  return 0
}
if [[ $mode == add-node ]]; then
  node=$((max_id + 1))
  max_id=$node
  rack_of[$node]=$rack_arg
  if $no_member; then member_of[$node]=client; else member_of[$node]=member; fi
fi
[[ $base_port =~ ^[1-9][0-9]*$ ]] || die "--base-port P is missing or not a port number"
((base_port + 3 * max_id - 1 <= 65535)) ||
  die "ports $base_port..$((base_port + 3 * max_id - 1)) (Kafka, then etcd client and peer) exceed 65535"
if [[ $mode == start-node || $mode == remove-node ]]; then
  if ! [[ $node =~ ^[0-9]+$ ]] || [[ -z ${member_of[$node]:-} ]]; then
    ids_text="one of $(current_ids | paste -sd' ')"
    [[ $ids_text == "one of $(seq -s' ' 1 "$n")" ]] && ids_text=1..$n
    die "--$mode: node id must be $ids_text"
  fi
  [[ -z ${is_removed[$node]:-} ]] || die "--$mode: node $node was removed from $data"
fi
for s in "${sets[@]}"; do
  [[ $s == *=* ]] || die "--set '$s' is not NAME=VALUE"
done

mkdir -p "$data"
data=$(cd "$data" && pwd)
write_conf() {
  local id
  {
    echo "nodes=$n"
    echo "base_port=$base_port"
    for s in "${sets[@]}"; do echo "set=$s"; done
    if ((${#racks[@]})); then echo "racks=$(
      IFS=,
      echo "${racks[*]}"
    )"; fi
    for ((id = n + 1; id <= max_id; id++)); do
      if [[ -n ${member_of[$id]:-} ]]; then echo "added=$id:${member_of[$id]}:${rack_of[$id]}"; fi
    done
    for ((id = 1; id <= max_id; id++)); do
      if [[ -n ${is_removed[$id]:-} ]]; then echo "removed=$id"; fi
    done
  } >"$conf.tmp"
  mv "$conf.tmp" "$conf"
}
# --add-node records its node once its member is added.
[[ $mode == add-node ]] || write_conf

# Nodes 1..N as the header says; an added node ID > N at A=P+3N+3(ID-N-1).
added_port() { echo $((base_port + 3 * n + 3 * ($1 - n - 1) + $2)); }
kafka_port() { if (($1 <= n)); then echo $((base_port + $1 - 1)); else added_port "$1" 0; fi; }
client_port() { if (($1 <= n)); then echo $((base_port + n + 2 * ($1 - 1))); else added_port "$1" 1; fi; }
peer_port() { if (($1 <= n)); then echo $((base_port + n + 2 * ($1 - 1) + 1)); else added_port "$1" 2; fi; }
# Nodes 1..N start with the first N members (etcd reads the list only while
# a member's data dir is empty); an added node with the members current
# when it is added, itself included, which is what etcd checks then.
initial_cluster=""
endpoints=""
for ((i = 1; i <= n; i++)); do
  initial_cluster+="${initial_cluster:+,}kgw-$i=http://127.0.0.1:$(peer_port "$i")"
  endpoints+="${endpoints:+,}127.0.0.1:$(client_port "$i")"
done
current_members() {
  local id
  for id in $(current_ids); do [[ ${member_of[$id]} == member ]] && echo "$id"; done
  return 0
}
current_initial_cluster() {
  local id out=""
  for id in $(current_members); do out+="${out:+,}kgw-$id=http://127.0.0.1:$(peer_port "$id")"; done
  echo "$out"
}
current_endpoints() {
  local id out=""
  for id in $(current_members); do out+="${out:+,}127.0.0.1:$(client_port "$id")"; done
  echo "$out"
}

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
    --set "node.id=$id")
  if ((id <= n)); then
    cmd+=(--set "metadata.etcd.initial.cluster=$initial_cluster"
      --set "metadata.etcd.initial.cluster.token=kgw-$base_port"
      --set "metadata.etcd.member.client.port=$(client_port "$id")"
      --set "metadata.etcd.member.peer.port=$(peer_port "$id")"
      --set "metadata.etcd.endpoints=$endpoints")
  elif [[ ${member_of[$id]} == member ]]; then
    cmd+=(--set "metadata.etcd.initial.cluster=$(current_initial_cluster)"
      --set "metadata.etcd.initial.cluster.token=kgw-$base_port"
      --set "metadata.etcd.initial.cluster.state=existing"
      --set "metadata.etcd.member.client.port=$(client_port "$id")"
      --set "metadata.etcd.member.peer.port=$(peer_port "$id")"
      --set "metadata.etcd.endpoints=$(current_endpoints)")
  else
    cmd+=(--set "metadata.etcd.endpoints=$(current_endpoints)")
  fi
  [[ -z ${rack_of[$id]} ]] || cmd+=(--set "broker.rack=${rack_of[$id]}")
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
    for i in $(current_ids); do
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
# does not list the current brokers.
metadata_missing() {
  local ports=() id
  for id in "$@"; do ports+=("$id:$(kafka_port "$id")"); done
  PYTHONPATH=$src_root/tests/integration $python - "$(current_ids | paste -sd,)" "${ports[@]}" <<'EOF'
import sys
import kafka_wire

want = {int(i) for i in sys.argv[1].split(",")}
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
  local deadline=$((SECONDS + timeout_s)) bad members=() id
  for id in "$@"; do [[ ${member_of[$id]} == member ]] && members+=("$id"); done
  while bad=$(unhealthy_members ${members[@]+"${members[@]}"}) && [[ -n $bad ]]; do
    for id in "$@"; do kgw_alive "$id" || die "node $id's kgw exited (log: $(node_dir "$id")/kgw.log)"; done
    ((SECONDS < deadline)) || die "after ${timeout_s}s the etcd member of node(s) ${bad//$'\n'/ } does not answer /health (logs: $data/node-ID/etcd.log)"
    sleep 0.2
  done
  [[ $wait_for == metadata ]] || return 0
  while bad=$(metadata_missing "$@") && [[ -n $bad ]]; do
    for id in "$@"; do kgw_alive "$id" || die "node $id's kgw exited (log: $(node_dir "$id")/kgw.log)"; done
    if ((SECONDS >= deadline)); then
      echo "$bad" | sed 's/^/run-cluster: node /' >&2
      die "after ${timeout_s}s not every node's Metadata lists all $(current_ids | wc -l) brokers (is the etcd metadata log in this kgw? --wait members skips this check)"
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

# etcdctl (API v3) against the current members.
etcdctl_members() {
  ETCDCTL_API=3 /usr/bin/etcdctl --endpoints="$(current_endpoints)" --command-timeout=5s "$@"
}
# The same for a membership change: etcd refuses one ("unhealthy cluster")
# until every member has been connected for a few seconds, e.g. after a
# start, so it is tried again until the timeout.
etcdctl_reconfigure() {
  local deadline=$((SECONDS + timeout_s)) out
  until out=$(etcdctl_members "$@" 2>&1); do
    if ! grep -q 'unhealthy cluster' <<<"$out" || ((SECONDS >= deadline)); then
      die "etcdctl $* failed: $out"
    fi
    sleep 0.5
  done
  echo "$out" >&2
}

if [[ $mode == add-node ]]; then
  for id in $(current_ids); do
    ((id == node)) || kgw_alive "$id" || die "--add-node: node $id is not running; start the cluster first ($0 --data $data)"
  done
  if [[ ${member_of[$node]} == member ]]; then
    peer=http://127.0.0.1:$(peer_port "$node")
    member_list=$(etcdctl_members member list) || die "--add-node: etcdctl member list failed"
    # A member added by an earlier try that failed later is taken as is.
    if ! grep -qF ", $peer," <<<"$member_list"; then
      echo "run-cluster: etcdctl member add kgw-$node --peer-urls=$peer" >&2
      etcdctl_reconfigure member add "kgw-$node" --peer-urls="$peer"
    fi
  fi
  write_conf
  start_node "$node"
  nodes_started=true
  wait_listening "$node"
  write_nodes_tsv
  mapfile -t ids < <(current_ids)
  wait_serving "${ids[@]}"
  write_nodes_tsv
  echo "run-cluster: node $node added, serves on 127.0.0.1:$(kafka_port "$node"); $data/nodes.tsv:" >&2
  cat "$data/nodes.tsv" >&2
  exit 0
fi

# Prints one line per partition that node $1 leads or is the only replica
# of and that holds records (or whose records cannot be seen, its leader
# down), from the first current node answering Metadata and the leader's
# ListOffsets; fails if no node answers Metadata.
partitions_with_data() {
  local ports=() id
  for id in $(current_ids); do ports+=("$(kafka_port "$id")"); done
  PYTHONPATH=$src_root/tests/integration $python - "$1" "${ports[@]}" <<'EOF'
import sys
import kafka_wire

node = int(sys.argv[1])


def call(port, api_key, body):
    c = kafka_wire.Conn(f"127.0.0.1:{port}", client_id="run-cluster", timeout=5)
    try:
        return c.call(api_key=api_key, version=1, body=body)
    finally:
        c.close()


def metadata(port):
    d = call(port, 3, kafka_wire.Enc().i32(-1))  # Metadata v1, all topics
    brokers = {b[0]: b[2] for b in d.array(lambda d: (d.i32(), d.string(), d.i32(), d.string()))}
    d.i32()  # controller

    def partition(d):
        d.i16()
        index, leader = d.i32(), d.i32()
        replicas = d.array(lambda d: d.i32())
        d.array(lambda d: d.i32())  # isr
        return index, leader, replicas

    return brokers, d.array(lambda d: (d.i16(), d.string(), d.boolean(), d.array(partition)))


def span(port, topic, index):
    """[log start, log end] on the leader, or None when it cannot tell."""
    out = []
    for ts in (-2, -1):  # ListOffsets v1: earliest, latest
        body = kafka_wire.Enc().i32(-1).array(
            [topic], lambda e, t: e.string(t).array([index], lambda e, p: e.i32(p).i64(ts)))
        try:
            d = call(port, 2, body)
        except OSError:
            return None
        parts = d.array(lambda d: (d.string(), d.array(
            lambda d: (d.i32(), d.i16(), d.i64(), d.i64()))))
        _, err, _, offset = parts[0][1][0]
        if err != 0:
            return None
        out.append(offset)
    return out


answer = None
for port in sys.argv[2:]:
    try:
        answer = metadata(port)
        break
    except Exception:
        continue
if answer is None:
    sys.exit("no node answers Metadata")
brokers, topics = answer
for _, name, _, parts in topics:
    for index, leader, replicas in parts:
        if leader != node and replicas != [node]:
            continue
        what = "leads it" if leader == node else "is its only replica"
        s = span(brokers[leader], name, index) if leader in brokers else None
        if s is None:
            print(f"{name}-{index} ({what}; its records cannot be seen, leader {leader})")
        elif s[1] > s[0]:
            print(f"{name}-{index} ({what}; offsets {s[0]}..{s[1]})")
EOF
}

# Writes to file $2 a Kafka reassignment plan that moves every replica of
# node $1 (and, in the same partitions, of brokers Metadata does not list) to
# the other current nodes (see --remove-node above), from the
# first other current node answering Metadata; prints how many partitions
# it moves. Fails if no node answers.
plan_moving_away() {
  local ports=() id
  for id in $(current_ids); do ((id == $1)) || ports+=("$(kafka_port "$id")"); done
  PYTHONPATH=$src_root/tests/integration $python - "$1" "$2" "${ports[@]}" <<'EOF'
import json
import sys
import kafka_wire

node, path = int(sys.argv[1]), sys.argv[2]


def metadata(port):
    c = kafka_wire.Conn(f"127.0.0.1:{port}", client_id="run-cluster", timeout=5)
    try:
        d = c.call(api_key=3, version=1, body=kafka_wire.Enc().i32(-1))
    finally:
        c.close()
    brokers = [b[0] for b in d.array(lambda d: (d.i32(), d.string(), d.i32(), d.string()))]
    d.i32()  # controller

    def partition(d):
        d.i16()
        index, _leader = d.i32(), d.i32()
        replicas = d.array(lambda d: d.i32())
        d.array(lambda d: d.i32())  # isr
        return index, replicas

    return brokers, d.array(lambda d: (d.i16(), d.string(), d.boolean(), d.array(partition)))


answer = None
for port in sys.argv[3:]:
    try:
        answer = metadata(port)
        break
    except Exception:
        continue
if answer is None:
    sys.exit("no node answers Metadata")
brokers, topics = answer
others = sorted(b for b in brokers if b != node)
load = {b: 0 for b in others}
for _, _, _, parts in topics:
    for _, replicas in parts:
        for r in replicas:
            if r in load:
                load[r] += 1
plan = []
for _, name, _, parts in sorted(topics, key=lambda t: t[1]):
    for index, replicas in sorted(parts):
        if node not in replicas:
            continue
        # The node's replica, and any on a broker Metadata does not list
        # (removed without a move, whom the controller refuses in an
        # assignment, or down, who could never catch up), go to the least
        # loaded other nodes; dropped when every other node holds one.
        target = []
        for r in replicas:
            if r != node and r in load:
                target.append(r)
                continue
            free = [b for b in others if b not in replicas and b not in target]
            if free:
                to = min(free, key=lambda b: (load[b], b))
                load[to] += 1
                target.append(to)
        if target:
            plan.append({"topic": name, "partition": index, "replicas": target})
with open(path, "w") as f:
    json.dump({"version": 1, "partitions": plan}, f)
print(len(plan))
EOF
}

# Moves node $1's replicas away (plan_moving_away, kgw-admin reassign) and
# waits until the reassignment is done. Fails (the caller then refuses as
# without a move) if kgw-admin is missing or the move does not finish
# within the timeout.
move_replicas_away() {
  local admin=${KGW_ADMIN:-$(dirname "$KGW")/tools/admin/kgw-admin}
  local plan=$data/remove-node-$1.json count bootstrap="" id out
  if [[ ! -x $admin ]]; then
    echo "run-cluster: no kgw-admin at $admin (KGW_ADMIN=path): cannot move node $1's replicas" >&2
    return 1
  fi
  for id in $(current_ids); do ((id == $1)) || bootstrap+="${bootstrap:+,}127.0.0.1:$(kafka_port "$id")"; done
  count=$(plan_moving_away "$1" "$plan") || return 1
  if ((count == 0)); then
    echo "run-cluster: node $1 holds no replica: nothing to move" >&2
    return 0
  fi
  echo "run-cluster: moving node $1's replicas of $count partition(s) away: kgw-admin reassign --execute --reassignment-json-file $plan" >&2
  out=$("$admin" reassign --execute --bootstrap-server "$bootstrap" --reassignment-json-file "$plan" 2>&1) || {
    echo "$out" >&2
    return 1
  }
  local deadline=$((SECONDS + timeout_s))
  until out=$("$admin" reassign --verify --bootstrap-server "$bootstrap" --reassignment-json-file "$plan" 2>&1); do
    if ((SECONDS >= deadline)); then
      echo "$out" >&2
      echo "run-cluster: the reassignment moving node $1's replicas is not done after ${timeout_s}s (kgw-admin reassign --list shows it; --cancel with $plan)" >&2
      return 1
    fi
    sleep 1
  done
  echo "run-cluster: node $1's replicas moved ($count partition(s))" >&2
}

# UnregisterBroker $1 through the node on port $2, tried again while the
# broker is still alive (its session not yet ended) or no controller
# decides, until the timeout. Prints what kgw-admin says.
unregister_broker() {
  local admin=${KGW_ADMIN:-$(dirname "$KGW")/tools/admin/kgw-admin}
  local deadline=$((SECONDS + timeout_s)) out
  while :; do
    if [[ -x $admin ]]; then
      out=$("$admin" cluster unregister --bootstrap-server "127.0.0.1:$2" --id "$1" 2>&1) && break
    else
      out=$(PYTHONPATH=$src_root/tests/integration $python - "$1" "$2" 2>&1 <<'EOF'
import sys
import kafka_wire

c = kafka_wire.Conn(f"127.0.0.1:{sys.argv[2]}", client_id="run-cluster", timeout=10)
body = kafka_wire.Enc(flexible=True).i32(int(sys.argv[1])).tags()
d = c.call(api_key=64, version=0, body=body, flexible=True)
d.i32()
code, message = d.i16(), d.string()
if code == 0:
    print(f"Broker {sys.argv[1]} is no longer registered.")
    sys.exit(0)
sys.exit(f"UnregisterBroker error {code}: {message}")
EOF
) && break
    fi
    # Already forgotten (an earlier try): nothing left to do.
    grep -qE 'is not registered|error 102:' <<<"$out" && break
    if ! grep -qE 'cannot be unregistered now|No controller decided|error (42|7):' <<<"$out" ||
      ((SECONDS >= deadline)); then
      die "node $1 is removed, but its broker could not be unregistered: $out"
    fi
    sleep 0.5
  done
  echo "run-cluster: $out" >&2
}

if [[ $mode == remove-node ]]; then
  if ! $force && $move; then
    move_replicas_away "$node" || echo "run-cluster: node $node's replicas could not all be moved" >&2
  fi
  if ! $force; then
    busy=$(partitions_with_data "$node") || die "--remove-node: cannot read the cluster's partitions"
    if [[ -n $busy ]]; then
      while read -r line; do echo "run-cluster: node $node: $line" >&2; done <<<"$busy"
      die "--remove-node: node $node holds the only copy of $(wc -l <<<"$busy") partition(s) with records (above): removing it loses them (replication factor 1). Without --no-move they were to be moved away first (a reassignment, issue 16): see above why not; move them (kgw-admin reassign), delete those topics, or --force to remove it and leave them offline"
    fi
  fi
  stop_pid "$(kgw_pid "$node")" "$(kgw_data "$node")" "node $node's kgw"
  stop_pid "$(etcd_pid "$node")" "$(kgw_data "$node")/etcd" "node $node's etcd"
  if [[ ${member_of[$node]} == member ]]; then
    is_removed[$node]=1 # its own endpoint is not asked
    member=$(etcdctl_members member list | awk -F', ' -v name="kgw-$node" '$3 == name { print $1 }') ||
      die "--remove-node: etcdctl member list failed"
    if [[ -n $member ]]; then
      echo "run-cluster: etcdctl member remove $member (kgw-$node)" >&2
      etcdctl_reconfigure member remove "$member"
    fi
  fi
  is_removed[$node]=1
  write_conf
  write_nodes_tsv
  mapfile -t ids < <(current_ids)
  for id in "${ids[@]}"; do
    kgw_alive "$id" || die "node $node is removed, but node $id is not running: not waiting for the rest"
  done
  wait_serving "${ids[@]}"
  unregister_broker "$node" "$(kafka_port "${ids[0]}")"
  echo "run-cluster: node $node removed; $data/nodes.tsv:" >&2
  cat "$data/nodes.tsv" >&2
  exit 0
fi

mapfile -t ids < <(current_ids)
for i in "${ids[@]}"; do
  kgw_alive "$i" && die "node $i of $data is running (pid $(kgw_pid "$i")); --stop $data first, or --start-node a stopped one"
done
# All nodes first, then wait: a node's metadata needs the others' members
# (the quorum) to be up.
for i in "${ids[@]}"; do start_node "$i"; done
nodes_started=true
for i in "${ids[@]}"; do wait_listening "$i"; done
write_nodes_tsv
wait_serving "${ids[@]}"
write_nodes_tsv
bootstrap=""
for i in "${ids[@]}"; do bootstrap+="${bootstrap:+,}127.0.0.1:$(kafka_port "$i")"; done
echo "run-cluster: ${#ids[@]} nodes serve; bootstrap $bootstrap; $data/nodes.tsv:" >&2
cat "$data/nodes.tsv" >&2

#!/usr/bin/env bash
# Captures real Kafka client request/response frames as test fixtures.
#
# Each capture pass starts a fresh kgw-mock-cluster (librdkafka's mock broker),
# puts record_proxy.py in front of it and runs one client's steps through the
# proxy. Passes run in parallel (--jobs). Then each client's raw captures are
# checked against Kafka's JSON schemas and trimmed (trim_frames.py) into
# tests/fixtures/captured/<client>-<version>.frames, and a summary table is
# printed and written to tests/fixtures/captured/SUMMARY.md.
# Builds nothing: it needs the kgw-mock-cluster binary.
#
# usage: tools/capture/capture_all.sh [MOCK_CLUSTER_BINARY] [--only LIST] [--jobs N]
#                                     [--keep-raw DIR]
#   MOCK_CLUSTER_BINARY  default $KGW_MOCK_CLUSTER, else build/tools/kgw-mock-cluster
#   --only LIST          comma-separated subset of: kcat,confluent,kafka-python,kafkajs
#   --jobs N             capture passes run at once (default 4)
#   --keep-raw DIR       also copy the untrimmed captures and client logs to DIR
# env: KGW_CAPTURE_PYTHON    Python with confluent_kafka and kafka (default /usr/bin/python3,
#                            Debian's, where python3-confluent-kafka and python3-kafka live)
#      KGW_CAPTURE_NODE_DIR  where kafkajs is npm-installed (default /tmp/kgw-capture-node)
#      KGW_KAFKA_SCHEMAS     Kafka message JSON schemas (default ../shared/kafka-protocol/messages)
#
# A client that fails or is missing is reported and skipped; the others go
# on. Every client step is bounded by `timeout`. Always exits 0 after a run:
# read the report.

# Step functions are called through start_pass, which shellcheck cannot see.
# shellcheck disable=SC2317
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CAPTURE_DIR="$ROOT/tools/capture"
OUT_DIR="$ROOT/tests/fixtures/captured"
MOCK="${KGW_MOCK_CLUSTER:-}"
ONLY="kcat,confluent,kafka-python,kafkajs"
JOBS=4
KEEP_RAW=""
PY="${KGW_CAPTURE_PYTHON:-/usr/bin/python3}"
NODE_DIR="${KGW_CAPTURE_NODE_DIR:-/tmp/kgw-capture-node}"
SCHEMAS="${KGW_KAFKA_SCHEMAS:-$ROOT/../shared/kafka-protocol/messages}"
KAFKAJS_VERSION="2.2.4"
TOPIC="kgw-capture"
PER_KEY=5

while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY="${2:?--only needs a value}"; shift 2 ;;
    --jobs) JOBS="${2:?--jobs needs a value}"; shift 2 ;;
    --keep-raw) KEEP_RAW="${2:?--keep-raw needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    -*) echo "capture_all.sh: unknown option $1" >&2; exit 2 ;;
    *) MOCK="$1"; shift ;;
  esac
done
if [ -z "$MOCK" ]; then
  for c in "$ROOT/build/tools/kgw-mock-cluster" "$ROOT/build/tools/mock_cluster/kgw-mock-cluster"; do
    if [ -x "$c" ]; then MOCK="$c"; break; fi
  done
fi
if [ -z "$MOCK" ] || [ ! -x "$MOCK" ]; then
  echo "capture_all.sh: kgw-mock-cluster binary not found (pass its path or set KGW_MOCK_CLUSTER)" >&2
  exit 2
fi
case "$JOBS" in ''|*[!0-9]*|0) echo "capture_all.sh: --jobs must be a positive integer" >&2; exit 2 ;; esac
[ -x "$PY" ] || PY="$(command -v python3)"
SCHEMA_ARGS=()
if [ -d "$SCHEMAS" ]; then
  SCHEMA_ARGS=(--schemas "$SCHEMAS")
else
  echo "capture_all.sh: warning: $SCHEMAS not found, frames are not schema-checked" >&2
fi

WORK="$(mktemp -d /tmp/kgw-capture.XXXXXX)"
mkdir -p "$WORK/logs" "$OUT_DIR"
T_START=$SECONDS
PASS_PIDS=()

cleanup() {
  local pid
  for pid in "${PASS_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PASS_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "$KEEP_RAW" ]; then
    mkdir -p "$KEEP_RAW" && cp -r "$WORK"/. "$KEEP_RAW"/
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ one pass
# These run inside a pass's subshell; PASS names its files in $WORK.

MOCK_PID=""
PROXY_PID=""
CHILD_PID=""

stop_pair() {
  local pid
  for pid in $CHILD_PID $PROXY_PID $MOCK_PID; do kill -TERM "$pid" 2>/dev/null; done
  for pid in $CHILD_PID $PROXY_PID $MOCK_PID; do wait "$pid" 2>/dev/null; done
  CHILD_PID=""
  PROXY_PID=""
  MOCK_PID=""
}

# Waits up to 10 s for the first line of file $1 and prints it.
first_line() {
  local i
  for i in $(seq 100); do
    if [ -s "$1" ] && [ "$(wc -l < "$1")" -ge 1 ]; then
      head -n1 "$1"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# start_pair MOCK_FLAGS COMMENT...: mock cluster + recording proxy writing
# $WORK/$PASS.raw; sets BROKER. MOCK_FLAGS is a space-separated string.
start_pair() {
  local mock_flags="$1"; shift
  local comments=() c
  for c in "$@"; do comments+=(--comment "$c"); done
  # shellcheck disable=SC2086 # mock_flags is a word list on purpose
  "$MOCK" --brokers 1 --topic "$TOPIC:2" --topic "$TOPIC-b:1" $mock_flags \
    > "$WORK/$PASS.mock.out" 2> "$WORK/$PASS.mock.err" < /dev/null &
  MOCK_PID=$!
  local bootstrap
  if ! bootstrap="$(first_line "$WORK/$PASS.mock.out")"; then
    echo "  FAIL kgw-mock-cluster did not start: $(head -c 300 "$WORK/$PASS.mock.err")"
    return 1
  fi
  # --fix-controller: the mock advertises controller id 0, which does not
  # exist; kafkajs and librdkafka's admin client would wait for it forever.
  "$PY" "$CAPTURE_DIR/record_proxy.py" --upstream "$bootstrap" --out "$WORK/$PASS.raw" \
    --fix-controller "${comments[@]}" \
    --comment "broker: kgw-mock-cluster (librdkafka 2.0.2 mock cluster), 1 broker, topics $TOPIC (2 partitions), $TOPIC-b (1 partition)" \
    --comment "proxy: tools/capture/record_proxy.py --fix-controller; frames are as the broker sent them, rewritten= marks int32s changed on the way to the client" \
    > "$WORK/$PASS.proxy.out" 2> "$WORK/$PASS.proxy.err" &
  PROXY_PID=$!
  local port
  if ! port="$(first_line "$WORK/$PASS.proxy.out")"; then
    echo "  FAIL record_proxy.py did not start: $(head -c 300 "$WORK/$PASS.proxy.err")"
    return 1
  fi
  BROKER="127.0.0.1:$port"
}

# bounded OUT INPUT SIGNAL SECS CMD...: runs CMD under timeout with INPUT
# (printf %b escapes) on stdin, appending its output to OUT. It runs in the
# background and is waited for, so a stop signal is handled at once (the
# EXIT trap ends it through CHILD_PID). Returns CMD's exit status.
bounded() {
  local out="$1" input="$2" sig="$3" secs="$4"; shift 4
  local rc
  timeout -s "$sig" -k 3 "$secs" "$@" < <(printf '%b' "$input") >> "$out" 2>&1 &
  CHILD_PID=$!
  wait "$CHILD_PID"
  rc=$?
  CHILD_PID=""
  return "$rc"
}

report() {
  local label="$1" rc="$2"
  if [ "$rc" -eq 0 ]; then
    echo "  ok   $label"
  else
    echo "  FAIL $label (exit $rc$([ "$rc" -eq 124 ] && echo ', timed out'))"
  fi
}

# run LABEL SECONDS CMD...: one client step, bounded, logged, never fatal.
run() {
  local label="$1" secs="$2"; shift 2
  echo "--- $label: $*" >> "$WORK/logs/$PASS.log"
  bounded "$WORK/logs/$PASS.log" "" TERM "$secs" "$@"
  report "$label" $?
}

# run_input LABEL SECONDS INPUT CMD...: like run, with INPUT on stdin.
run_input() {
  local label="$1" secs="$2" input="$3"; shift 3
  echo "--- $label: $*" >> "$WORK/logs/$PASS.log"
  bounded "$WORK/logs/$PASS.log" "$input" TERM "$secs" "$@"
  report "$label" $?
}

# run_group LABEL SECONDS CMD...: a consumer that runs until stopped; SIGINT
# after SECONDS lets it commit and leave the group, so exit 124 is success.
run_group() {
  local label="$1" secs="$2"; shift 2
  local rc
  echo "--- $label: $*" >> "$WORK/logs/$PASS.log"
  bounded "$WORK/logs/$PASS.log" "" INT "$secs" "$@"
  rc=$?
  [ "$rc" -eq 124 ] && rc=0
  report "$label" "$rc"
}

# run_script LABEL SECONDS CMD...: a client script that prints its own
# "  ok/FAIL step" lines; they are copied into the report.
run_script() {
  local label="$1" secs="$2"; shift 2
  local rc log="$WORK/logs/$PASS.script.log"
  echo "--- $label: $*" >> "$WORK/logs/$PASS.log"
  bounded "$log" "" TERM "$secs" "$@"
  rc=$?
  cat "$log" >> "$WORK/logs/$PASS.log"
  grep -E '^  (ok|FAIL|skip)' "$log"
  [ "$rc" -eq 0 ] || report "$label" "$rc"
}

# start_pass NAME MOCK_FLAGS STEPS_FUNCTION COMMENT...: runs a pass in the
# background; its report goes to $WORK/NAME.report.
start_pass() {
  local name="$1" flags="$2" fn="$3"; shift 3
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  (
    PASS="$name"
    trap 'exit 143' TERM INT
    trap stop_pair EXIT
    if start_pair "$flags" "$@"; then
      "$fn"
    fi
  ) > "$WORK/$name.report" 2>&1 &
  PASS_PIDS+=($!)
}

# ------------------------------------------------------------------ kcat
KCAT=(kcat -X client.id=kgw-capture-kcat)

kcat_main_steps() {
  local k=("${KCAT[@]}" -b "$BROKER") T="$TOPIC" z fb
  run "metadata -L" 10 "${k[@]}" -L
  run "metadata -L -t" 10 "${k[@]}" -L -t "$T"
  for z in none gzip snappy lz4 zstd; do
    run_input "produce -K: -H -z $z" 15 "k1:v1-$z\nk2:v2-$z\nk3:v3-$z\n" \
      "${k[@]}" -P -t "$T" -K: -H h1=v1 -H "codec=$z" -z "$z"
  done
  run_input "produce to partition 1, acks=1" 15 "p1:one\np2:two\n" \
    "${k[@]}" -P -t "$T" -p 1 -K: -X acks=1
  run_input "produce idempotent" 15 "i1:idem\ni2:idem\n" \
    "${k[@]}" -P -t "$T" -K: -H kind=idempotent -X enable.idempotence=true
  run_input "produce transactional" 20 "t1:txn\nt2:txn\n" \
    "${k[@]}" -P -t "$T" -K: -X transactional.id=kgw-capture-kcat-txn
  run "consume -C -e -o beginning" 15 "${k[@]}" -C -t "$T" -e -o beginning -f '%k=%s %h\n'
  run "consume -C read_committed" 15 "${k[@]}" -C -t "$T" -e -o beginning \
    -X isolation.level=read_committed -f '%k=%s\n'
  run "query offsets -Q" 10 "${k[@]}" -Q -t "$T:0:$(( $(date +%s) * 1000 - 60000 ))"
  run_group "group -G (cooperative-sticky)" 6 "${k[@]}" -G kgw-capture-kcat-coop "$T" \
    -X auto.offset.reset=earliest -X partition.assignment.strategy=cooperative-sticky \
    -X heartbeat.interval.ms=500 -X auto.commit.interval.ms=500
  run_group "group -G (range, two topics)" 6 "${k[@]}" -G kgw-capture-kcat "$T" "$T-b" \
    -X auto.offset.reset=earliest -X heartbeat.interval.ms=500 -X auto.commit.interval.ms=500
  # With api.version.request=false librdkafka uses the fallback's old request
  # versions (Produce v0/v1 with MessageSet v0/v1, Fetch v0/v1, Metadata v0,
  # JoinGroup v0...). librdkafka 2.0.2 ignores a fallback >= 0.10.0 and asks
  # ApiVersions anyway, so only older fallbacks add anything. The mock
  # cluster rejects old-magic produce with UNSUPPORTED_VERSION: those
  # request frames are still good fixtures.
  for fb in 0.8.2 0.9.0; do
    run_input "produce fallback $fb (mock rejects it)" 15 "old:v-$fb\n" \
      bash -c '"$@" || true' _ "${k[@]}" -P -t "$T" -K: \
      -X api.version.request=false -X broker.version.fallback="$fb"
    run "consume fallback $fb" 15 "${k[@]}" -C -t "$T" -e -o beginning \
      -X api.version.request=false -X broker.version.fallback="$fb"
  done
  run_group "group -G fallback 0.9.0" 5 "${k[@]}" -G kgw-capture-kcat-old "$T" \
    -X auto.offset.reset=earliest -X heartbeat.interval.ms=500 -X auto.commit.interval.ms=500 \
    -X api.version.request=false -X broker.version.fallback=0.9.0
}

kcat_capped_steps() {
  local k=("${KCAT[@]}" -b "$BROKER") T="$TOPIC" may_fail=()
  # The 2.0.2 mock answers Produce v5 without LogStartOffset (4 bytes short):
  # librdkafka fails the delivery. The requests are still good fixtures.
  [ "$LEVEL" = 3 ] && may_fail=(bash -c '"$@" || true' _)
  run_input "produce" 15 "c1:capped\nc2:capped\n" \
    "${may_fail[@]}" "${k[@]}" -P -t "$T" -K: -H "level=$LEVEL"
  run_input "produce idempotent" 15 "c3:idem\n" \
    "${may_fail[@]}" "${k[@]}" -P -t "$T" -K: -X enable.idempotence=true
  run_input "produce transactional" 15 "c4:txn\n" \
    "${may_fail[@]}" "${k[@]}" -P -t "$T" -K: -X transactional.id=kgw-capture-kcat-txn
  run "consume" 15 "${k[@]}" -C -t "$T" -e -o beginning -f '%k=%s\n'
  run_group "group -G" 5 "${k[@]}" -G kgw-capture-kcat "$T" \
    -X auto.offset.reset=earliest -X heartbeat.interval.ms=500 -X auto.commit.interval.ms=500
}

# librdkafka picks, per API, the highest version both sides support; mock
# clusters that advertise lower maxima (kgw-mock-cluster --api-version) bring
# out the intermediate request versions. Each entry: api_key:max_version.
KCAT_CAP_LEVELS=(
  "0:3 1:4 2:1 3:0 8:2 9:1 10:1 11:0 12:0 13:0 14:0 18:0 22:0 26:0 28:0"
  "0:4 1:6 3:1 8:4 9:2 10:1 11:2 12:1 14:1 18:1 22:1 28:1"
  "0:5 1:8 8:5 9:3 11:3 12:2 14:2 18:2 22:2"
  "0:6 1:10 8:6 9:4 11:4 22:3"
)

start_kcat() {
  if ! command -v kcat > /dev/null; then
    echo "  kcat not installed, skipped" > "$WORK/kcat-main.report"
    return 0
  fi
  KCAT_VERSION="$(kcat -V 2>/dev/null | sed -n 's/^Version \([0-9.]*\).*/\1/p')"
  KCAT_LIBRDKAFKA="$(kcat -V 2>/dev/null | sed -n 's/.*librdkafka \([0-9.]*\).*/\1/p')"
  local client="client: kcat $KCAT_VERSION (librdkafka $KCAT_LIBRDKAFKA), Debian package kcat"
  start_pass kcat-main "" kcat_main_steps "$client" \
    "scenario: -L; -P -K: -H with -z none/gzip/snappy/lz4/zstd; idempotent and transactional -P; -C -e -o beginning; -Q; -G groups (cooperative-sticky, range); api.version.request=false with broker.version.fallback 0.8.2/0.9.0; then produce/consume/group passes against mock clusters with capped api versions"
  local caps flags spec
  LEVEL=0
  for caps in "${KCAT_CAP_LEVELS[@]}"; do
    LEVEL=$((LEVEL + 1))
    flags=""
    for spec in $caps; do flags+=" --api-version ${spec%%:*}:0:${spec#*:}"; done
    start_pass "kcat-capped-$LEVEL" "$flags" kcat_capped_steps "$client" \
      "pass: mock cluster capped to api_key:max_version $caps"
  done
}

# ------------------------------------------------------------------ confluent-kafka-python
confluent_steps() {
  run_script "confluent_kafka_client.py" 90 "$PY" "$CAPTURE_DIR/clients/confluent_kafka_client.py" \
    "$BROKER" "$TOPIC"
}

start_confluent() {
  local ver
  if ! ver="$("$PY" -c 'import confluent_kafka as c; print(c.version()[0] + " " + c.libversion()[0])' 2>/dev/null)"; then
    echo "  confluent-kafka-python not importable by $PY, skipped" > "$WORK/confluent.report"
    return 0
  fi
  CONFLUENT_VERSION="${ver% *}"
  CONFLUENT_LIBRDKAFKA="${ver#* }"
  start_pass confluent "" confluent_steps \
    "client: confluent-kafka-python $CONFLUENT_VERSION (librdkafka $CONFLUENT_LIBRDKAFKA), Debian package python3-confluent-kafka" \
    "scenario: tools/capture/clients/confluent_kafka_client.py (AdminClient, idempotent/lz4/transactional producers, consumer groups eager/cooperative-sticky/static, assign(), send_offsets_to_transaction)"
}

# ------------------------------------------------------------------ kafka-python
kafka_python_steps() {
  run_script "kafka_python_client.py" 90 "$PY" "$CAPTURE_DIR/clients/kafka_python_client.py" \
    "$BROKER" "$TOPIC"
}

start_kafka_python() {
  if ! KAFKA_PYTHON_VERSION="$("$PY" -c 'import kafka; print(kafka.__version__)' 2>/dev/null)"; then
    echo "  kafka-python not importable by $PY, skipped" > "$WORK/kafka-python.report"
    return 0
  fi
  local codecs
  codecs="$("$PY" -c 'from kafka import codec as k; print(",".join(n for n in ("gzip","snappy","lz4","zstd") if getattr(k, "has_" + n)()))')"
  start_pass kafka-python "" kafka_python_steps \
    "client: kafka-python $KAFKA_PYTHON_VERSION, Debian package python3-kafka (compression available: $codecs)" \
    "scenario: tools/capture/clients/kafka_python_client.py (auto-detected and forced api_version 0.11/0.10.1/0.10.0/0.9/0.8.2, producer with headers and compression, group consumer with commit, KafkaAdminClient)"
}

# ------------------------------------------------------------------ kafkajs
kafkajs_steps() {
  run_script "kafkajs_client.js" 90 env NODE_PATH="$NODE_DIR/node_modules" \
    node "$CAPTURE_DIR/clients/kafkajs_client.js" "$BROKER" "$TOPIC"
}

kafkajs_capped_steps() {
  run_script "kafkajs_client.js quick" 60 env NODE_PATH="$NODE_DIR/node_modules" \
    node "$CAPTURE_DIR/clients/kafkajs_client.js" "$BROKER" "$TOPIC" quick
}

# kafkajs, too, picks per API the highest version both sides support, and has
# an encoder of its own for each version. The 2.0.2 mock rejects old-magic
# produce (Produce v0..v2) and answers Produce v5 malformed, so steps fail at
# some levels; the frames sent up to then are what we want.
KAFKAJS_CAP_LEVELS=(
  "0:3 1:4 2:1 3:1 8:2 9:1 10:1 11:2 12:1 13:0 14:1 18:1 22:0 24:0 25:0 26:0 28:0"
  "0:6 1:8 2:2 3:0 8:3 9:2 11:3 12:2 14:2 18:0"
  "0:1 1:2 2:0 8:4 9:3 11:4 12:0 14:0"
)

start_kafkajs() {
  if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    echo "  node/npm not installed, kafkajs skipped" > "$WORK/kafkajs.report"
    return 0
  fi
  if [ ! -f "$NODE_DIR/node_modules/kafkajs/package.json" ]; then
    echo "== npm install kafkajs@$KAFKAJS_VERSION into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    if ! timeout 120 npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent \
        "kafkajs@$KAFKAJS_VERSION" > "$WORK/logs/npm.log" 2>&1; then
      { echo "  FAIL npm install kafkajs@$KAFKAJS_VERSION, kafkajs skipped"
        tail -3 "$WORK/logs/npm.log"; } > "$WORK/kafkajs.report"
      return 0
    fi
  fi
  KAFKAJS_INSTALLED="$(node -p "require('$NODE_DIR/node_modules/kafkajs/package.json').version")"
  local client
  client="client: kafkajs $KAFKAJS_INSTALLED (node $(node --version)), npm package kafkajs"
  start_pass kafkajs "" kafkajs_steps "$client" \
    "scenario: tools/capture/clients/kafkajs_client.js (admin, plain/gzip/idempotent/transactional producers, consumer group with commits); then its quick scenario against mock clusters with capped api versions"
  local caps flags spec level=0
  for caps in "${KAFKAJS_CAP_LEVELS[@]}"; do
    level=$((level + 1))
    flags=""
    for spec in $caps; do flags+=" --api-version ${spec%%:*}:0:${spec#*:}"; done
    start_pass "kafkajs-capped-$level" "$flags" kafkajs_capped_steps "$client" \
      "pass: mock cluster capped to api_key:max_version $caps"
  done
}

# ------------------------------------------------------------------ main
wants() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

echo "== capturing with $MOCK ($JOBS passes at a time)"
wants kcat && start_kcat
wants confluent && start_confluent
wants kafka-python && start_kafka_python
wants kafkajs && start_kafkajs
wait
PASS_PIDS=()

FIXTURES=()
FAILED=0
# finish CLIENT FIXTURE PASS...: prints the passes' reports and trims their
# raw captures into FIXTURE (replacing older versions' fixtures).
finish() {
  local client="$1" fixture="$2"; shift 2
  local pass raws=()
  echo "== $client"
  for pass in "$@"; do
    [ -f "$WORK/$pass.report" ] || continue
    [ $# -gt 1 ] && echo "  [$pass]"
    cat "$WORK/$pass.report"
    grep -q FAIL "$WORK/$pass.report" && FAILED=$((FAILED + 1))
    [ -f "$WORK/$pass.raw" ] && raws+=("$WORK/$pass.raw")
  done
  if [ ${#raws[@]} -eq 0 ] || ! grep -q '^req ' "${raws[@]}"; then
    echo "  no frames captured"
    return 0
  fi
  rm -f "$OUT_DIR"/"${fixture%%-[0-9]*}"-[0-9]*.frames
  "$PY" "$CAPTURE_DIR/trim_frames.py" trim --per-key "$PER_KEY" "${SCHEMA_ARGS[@]}" \
    --out "$OUT_DIR/$fixture" "${raws[@]}" | sed "s|^$OUT_DIR/|  |"
  FIXTURES+=("$OUT_DIR/$fixture")
}

if wants kcat && [ -n "${KCAT_VERSION:-}" ]; then
  mapfile -t passes < <(for i in $(seq ${#KCAT_CAP_LEVELS[@]}); do echo "kcat-capped-$i"; done)
  finish kcat "kcat-$KCAT_VERSION-librdkafka-$KCAT_LIBRDKAFKA.frames" kcat-main "${passes[@]}"
else
  wants kcat && cat "$WORK/kcat-main.report"
fi
if wants confluent && [ -n "${CONFLUENT_VERSION:-}" ]; then
  finish confluent-kafka-python \
    "confluent-kafka-python-$CONFLUENT_VERSION-librdkafka-$CONFLUENT_LIBRDKAFKA.frames" confluent
else
  wants confluent && cat "$WORK/confluent.report"
fi
if wants kafka-python && [ -n "${KAFKA_PYTHON_VERSION:-}" ]; then
  finish kafka-python "kafka-python-$KAFKA_PYTHON_VERSION.frames" kafka-python
else
  wants kafka-python && cat "$WORK/kafka-python.report"
fi
if wants kafkajs && [ -n "${KAFKAJS_INSTALLED:-}" ]; then
  mapfile -t passes < <(for i in $(seq ${#KAFKAJS_CAP_LEVELS[@]}); do echo "kafkajs-capped-$i"; done)
  finish kafkajs "kafkajs-$KAFKAJS_INSTALLED.frames" kafkajs "${passes[@]}"
else
  wants kafkajs && cat "$WORK/kafkajs.report"
fi

echo
echo "== summary: frames kept per (client, api_key, version)"
if [ ${#FIXTURES[@]} -gt 0 ]; then
  "$PY" "$CAPTURE_DIR/trim_frames.py" summary "${FIXTURES[@]}"
  {
    echo "# Captured frames: (client, api, version) summary"
    echo
    echo "Generated by tools/capture/capture_all.sh; counts are frames kept in each fixture."
    echo
    "$PY" "$CAPTURE_DIR/trim_frames.py" summary --markdown "$OUT_DIR"/*.frames
  } > "$OUT_DIR/SUMMARY.md"
fi
if [ ${#SCHEMA_ARGS[@]} -gt 0 ] && [ ${#FIXTURES[@]} -gt 0 ]; then
  if "$PY" "$CAPTURE_DIR/validate_frames.py" "${SCHEMA_ARGS[@]}" "${FIXTURES[@]}"; then
    echo "all kept frames decode exactly with Kafka's schemas"
  fi
fi
echo "$FAILED pass(es) had failed steps (frames up to a failure are still captured)"
echo "done in $((SECONDS - T_START)) s"
exit 0

#!/usr/bin/env bash
# Client matrix: kcat (librdkafka) against a live gateway.
#   conformance/clients/kcat.sh HOST:PORT
# kcat has no admin API: the topic is created by a Metadata request for it
# (`kcat -L -t`, topic auto-creation), so the gateway must run with
# `--set num.partitions=3` (clients.sh starts it so), and the topic is not
# deleted at the end. Headers are per produce run (kcat -H), not per message.
# Output: "client: ..." then one "ok: ..." line per step; "FAIL: reason" and
# exit 1 at the first failure; exit 77 when kcat is not installed.
set -uo pipefail
b=${1:?usage: kcat.sh HOST:PORT}
command -v kcat >/dev/null || { echo "SKIP: kcat is not installed"; exit 77; }
echo "client: $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/kcat \1, librdkafka \2/p')"

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
topic=kgw-client-kcat-$$-$RANDOM
group=$topic-group
kc=(kcat -b "$b" -X broker.address.family=v4)

# produce PHASE FIRST LAST: messages FIRST..LAST, key key-(N % 16), value v-N,
# headers phase=PHASE,client=kcat, lz4.
produce() {
  seq "$2" "$3" | awk '{ print "key-" $1 % 16 ":v-" $1 }' |
    "${kc[@]}" -P -t "$topic" -K : -z lz4 -H "phase=$1" -H client=kcat 2>"$work/produce.err" ||
    fail "kcat -P exited $?: $(tail -1 "$work/produce.err")"
  grep -q -i "fail\|error" "$work/produce.err" && fail "kcat -P: $(grep -i -m1 "fail\|error" "$work/produce.err")"
  ok "produced messages $2-$3 (keys, headers, lz4)"
}

# consume FILE: one group consumer (auto-commit, committed again on close)
# from where the group left off, until the end of every partition.
consume() {
  timeout 60 "${kc[@]}" -G "$group" -X auto.offset.reset=earliest -e \
    -f '%p %o %k %s %h\n' "$topic" >"$1" 2>"$work/consume.err" ||
    fail "kcat -G exited $? (124: no end of partitions within 60 s): $(tail -1 "$work/consume.err")"
}

# check FILE PHASE FIRST LAST STARTS: the consumed lines are exactly messages
# FIRST..LAST, with their keys and headers, each key on one partition, and
# per partition in produce order at offsets STARTS (p0,p1,p2) on, gap-free.
# Prints the next offset of each partition, or the first problem.
check() {
  awk -v phase="$2" -v first="$3" -v last="$4" -v starts="$5" '
    function bad(m) { print m; err = 1; exit 1 }
    BEGIN { split(starts, s, ","); for (i = 0; i < 3; i++) next_off[i] = s[i + 1] }
    { p = $1; off = $2; key = $3; val = $4; hdr = $5
      if (!(p in next_off)) bad("message at partition " p)
      if (val !~ /^v-[0-9]+$/) bad("unexpected value \"" val "\" at partition " p " offset " off)
      n = substr(val, 3) + 0
      if (n < first || n > last) bad("message " n " at partition " p " offset " off ": want only " first "-" last)
      if (seen[n]++) bad("message " n " seen twice")
      if (key != "key-" n % 16) bad("message " n " has key \"" key "\"")
      if (hdr != "phase=" phase ",client=kcat") bad("message " n " has headers \"" hdr "\"")
      if (off != next_off[p]) bad("partition " p ": offset " off " where " next_off[p] " was expected")
      next_off[p] = off + 1
      if ((p in prev) && n < prev[p]) bad("partition " p ": message " n " after " prev[p])
      prev[p] = n
      if ((key in kp) && kp[key] != p) bad("key " key " on partitions " kp[key] " and " p)
      kp[key] = p }
    END { if (err) exit 1
          for (n = first; n <= last; n++) if (!(n in seen)) bad("message " n " missing (" NR " consumed)")
          print next_off[0] "," next_off[1] "," next_off[2] }' "$1"
}

# offsets WHICH: -2 earliest, -1 latest, as p0,p1,p2 (ListOffsets).
offsets() {
  local p
  : >"$work/q"
  for p in 0 1 2; do
    "${kc[@]}" -Q -t "$topic:$p:$1" >>"$work/q" 2>"$work/q.err" || fail "kcat -Q -t $topic:$p:$1: $(tail -1 "$work/q.err")"
  done
  awk '{ for (i = 1; i < NF; i++) if ($i == "offset") o[substr($(i - 1), 2) + 0] = $(i + 1) }
       END { print o[0] "," o[1] "," o[2] }' "$work/q"
}

# Kafka answers the first request LEADER_NOT_AVAILABLE (0 partitions) while it
# creates the topic; kgw creates it at once.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  "${kc[@]}" -L -t "$topic" >"$work/meta" 2>&1 || fail "kcat -L -t $topic: $(tail -1 "$work/meta")"
  parts=$(sed -n "s/.*topic \"$topic\" with \([0-9]*\) partitions.*/\1/p" "$work/meta")
  [[ ${parts:-0} == 0 ]] || break
  sleep 0.5
done
[[ $parts == 3 ]] || fail "topic $topic auto-created with ${parts:-no} partitions, want 3 (run kgw with --set num.partitions=3)"
ok "created topic $topic with 3 partitions (auto-created by a Metadata request)"

produce 1 0 199
consume "$work/c1"
ends=$(check "$work/c1" 1 0 199 0,0,0) || fail "first consumer: $ends"
[[ $ends =~ ^[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*$ ]] || fail "messages not spread over the 3 partitions: next offsets $ends"
ok "group $group consumed 0-199 (keys, values, headers, per-partition order; next offsets $ends), committed, closed"

[[ $(offsets -2) == 0,0,0 ]] || fail "earliest offsets $(offsets -2), want 0,0,0"
[[ $(offsets -1) == "$ends" ]] || fail "latest offsets $(offsets -1), want $ends"
ok "list offsets: earliest 0,0,0, latest $ends"

produce 2 200 249
consume "$work/c2"
ends2=$(check "$work/c2" 2 200 249 "$ends") || fail "second consumer (resuming at $ends): $ends2"
ok "new consumer in $group resumed at $ends: only 200-249, in order, next offsets $ends2"

[[ $(offsets -2) == 0,0,0 && $(offsets -1) == "$ends2" ]] ||
  fail "list offsets: earliest $(offsets -2), latest $(offsets -1), want 0,0,0 and $ends2"
ok "list offsets: earliest 0,0,0, latest $ends2"
echo "note: delete topic: kcat has no admin API; $topic stays"

#!/usr/bin/env bash
# Runs librdkafka's own regression suite (the Debian source package of the
# librdkafka installed here, 2.0.2 on bookworm) against a fresh kgw.
#
#   conformance/run.sh 0001                 one test
#   conformance/run.sh 0001,0002,0004       a list (ranges too: 0001-0020)
#   conformance/run.sh --all                every test that needs a broker,
#                                           then the client matrix (clients.sh)
#
# Options:
#   --timeout SECONDS   outer time limit per test process (default 120)
#   --results FILE      where to write the results table (default
#                       $CACHE/results.md; the checked-in one is
#                       conformance/RESULTS.md)
#   --fail-fast         stop after the first failed test (default: keep going)
#   --run-skipped       also run the tests listed in expected_skips.txt
#   --kgw PATH          gateway binary (default: build/kgw of this checkout,
#                       built with tools/dev/setup.sh if missing)
#   --brokers N         run the tests against an N-node kgw cluster
#                       (tools/dev/run-cluster.sh, co-located etcd members)
#                       instead of one kgw; test.conf lists all N bootstrap
#                       addresses (default 1: one kgw, no etcd)
#   --base-port P       with --brokers N > 1: the first port tried for a
#                       cluster's 3N ports (default 29100; the next free
#                       block of 3N ports from P on is taken)
#   --racks R1,R2,...   with --brokers N > 1: broker.rack of each node, one
#                       rack per node (run-cluster.sh --racks), for the
#                       tests that need racks (0101)
#   --internal-topics   with --brokers N > 1: create __consumer_offsets and
#                       __transaction_state (50 partitions each, replication
#                       factor min(N, 3)) right after the cluster starts
#                       (kgw creates them itself on the first FindCoordinator;
#                       made up front, no test waits for that creation)
#   --proxy             proxy conformance: each test runs twice, first
#                       against librdkafka's mock cluster directly
#                       (kgw-mock-cluster, 3 brokers), then through kgw
#                       --upstream in front of a mock cluster of its own (every
#                       topic upstream, as a legacy cluster's). A test fails
#                       only if it passed against the mock and fails through
#                       kgw; one that does not pass against the mock alone is
#                       skipped with the mock's reason. No client matrix
#   --kafka-path DIR    what KAFKA_PATH points at: a dir with Kafka's
#                       bin/kafka-*.sh scripts, which some tests shell out to
#                       (default: tools/admin/kafka beside the gateway binary,
#                       kgw-admin's entry points)
#   --clients           also run the client matrix (default with --all)
#   --no-clients        do not run it
#   --librdkafka SRC    which librdkafka's suite: "debian" (default: the
#                       source package of the librdkafka1 installed here) or
#                       "npm" (the librdkafka that node-rdkafka bundles, from
#                       the npm registry: node-rdkafka@3.6.1 bundles 2.12.0;
#                       "npm:node-rdkafka@VERSION" for another). The newer
#                       suite has the client fixes Debian's lacks (2.0.2's
#                       consumer-destroy hang, #4187, that 0107 meets)
#   --setup-only        fetch and build the suite, run nothing
#   --list              print the tests that need a broker and exit
#
# Environment: KGW_CONFORMANCE_CACHE (default ~/.cache/kgw-conformance) holds
# the source package, its build, the copied kgw binary and the last run's
# logs; it is reused by later runs.
#
# Output: one line per test on stdout (number, name, passed/failed/skipped,
# seconds, first failure reason), then one per client of the client matrix,
# then "N passed, N failed, N skipped" (both counted).
# Progress goes to stderr. Exit status: 0 no test failed, 1 some test failed,
# 2 bad usage, 3 setup failed (packages, source, build, gateway start).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${KGW_CONFORMANCE_CACHE:-$HOME/.cache/kgw-conformance}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

timeout_s=120
results=""
fail_fast=0
run_skipped=0
kgw_src=""
kafka_path=""
setup_only=0
list_only=0
selection=""
clients=""
brokers=1
base_port=29100
internal_topics=0
racks=""
proxy=0
librdkafka_src=debian

say() { echo "conformance: $*" >&2; }
die() { echo "conformance: $*" >&2; exit 3; }
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

while (($#)); do
  case $1 in
    --all) selection=all ;;
    --timeout) [[ ${2:-} =~ ^[0-9]+$ ]] || usage; timeout_s=$2; shift ;;
    --timeout=*) timeout_s=${1#*=}; [[ $timeout_s =~ ^[0-9]+$ ]] || usage ;;
    --results) [[ -n ${2:-} ]] || usage; results=$2; shift ;;
    --results=*) results=${1#*=} ;;
    --fail-fast) fail_fast=1 ;;
    --keep-going) fail_fast=0 ;;
    --run-skipped) run_skipped=1 ;;
    --kgw) [[ -n ${2:-} ]] || usage; kgw_src=$2; shift ;;
    --kgw=*) kgw_src=${1#*=} ;;
    --brokers) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage; brokers=$2; shift ;;
    --brokers=*) brokers=${1#*=}; [[ $brokers =~ ^[1-9][0-9]*$ ]] || usage ;;
    --base-port) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage; base_port=$2; shift ;;
    --base-port=*) base_port=${1#*=}; [[ $base_port =~ ^[1-9][0-9]*$ ]] || usage ;;
    --internal-topics) internal_topics=1 ;;
    --proxy) proxy=1 ;;
    --racks) [[ -n ${2:-} ]] || usage; racks=$2; shift ;;
    --racks=*) racks=${1#*=} ;;
    --librdkafka) [[ -n ${2:-} ]] || usage; librdkafka_src=$2; shift ;;
    --librdkafka=*) librdkafka_src=${1#*=} ;;
    --kafka-path) [[ -n ${2:-} ]] || usage; kafka_path=$2; shift ;;
    --kafka-path=*) kafka_path=${1#*=} ;;
    --clients) clients=1 ;;
    --no-clients) clients=0 ;;
    --setup-only) setup_only=1 ;;
    --list) list_only=1 ;;
    -h|--help) usage 0 ;;
    -*) echo "conformance: unknown option $1" >&2; usage ;;
    *) [[ -z $selection ]] || usage; selection=$1 ;;
  esac
  shift
done
if [[ -z $selection && $setup_only -eq 0 && $list_only -eq 0 ]]; then
  echo "conformance: say which tests: NNNN, NNNN,NNNN, NNNN-NNNN or --all" >&2
  usage
fi
[[ -n $results ]] || results=$cache/results.md
[[ -n $clients ]] || { [[ $selection == all ]] && clients=1 || clients=0; }
# The client matrix (clients.sh) starts its own single kgw: against a
# cluster it would test one node, so cluster mode leaves it out.
if ((brokers > 1 && clients)); then
  say "--brokers $brokers: the client matrix runs against one kgw only (clients.sh); not running it"
  clients=0
fi
if ((proxy)); then
  ((brokers == 1)) || { echo "conformance: --proxy puts one kgw in front of the mock cluster: no --brokers" >&2; usage; }
  # The client matrix starts its own kgw, with no legacy cluster behind it.
  clients=0
fi
if [[ -n $racks ]]; then
  ((brokers > 1)) || { echo "conformance: --racks goes with --brokers N > 1" >&2; usage; }
  IFS=, read -r -a rack_list <<<"$racks"
  ((${#rack_list[@]} == brokers)) ||
    { echo "conformance: --racks names ${#rack_list[@]} rack(s) for $brokers brokers (one per broker)" >&2; usage; }
fi
[[ $results == /* ]] || results=$PWD/$results
case $librdkafka_src in
  debian) ;;
  npm) npm_package=node-rdkafka@3.6.1 ;;
  npm:node-rdkafka@[0-9]*) npm_package=${librdkafka_src#npm:} ;;
  *) echo "conformance: --librdkafka takes debian, npm or npm:node-rdkafka@VERSION, not '$librdkafka_src'" >&2; usage ;;
esac

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# ---------------------------------------------------------------------------
# Setup: Debian packages, deb-src entry, source package, build.

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root for: $* (run as root, or do it yourself first)"
  fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_updated=0
apt_update() {
  ((apt_updated)) && return 0
  say "running apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$cache/logs/apt-update.log" 2>&1 ||
    { tail -5 "$cache/logs/apt-update.log" >&2; die "apt-get update failed (log: $cache/logs/apt-update.log)"; }
  apt_updated=1
}

apt_install() {
  local log=$cache/logs/apt-install.log
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 && return 0
  ((apt_updated)) && return 1
  apt_update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1
}

# What ./configure below needs. libsasl2-dev (for --enable-gssapi) and
# rapidjson-dev (four more tests: 0098, 0101, ...) are optional: without
# them the build goes on and the results say what was left out.
required_pkgs=(build-essential dpkg-dev pkg-config python3 libssl-dev libzstd-dev liblz4-dev zlib1g-dev)
optional_pkgs=(libsasl2-dev rapidjson-dev)
build_notes=()

install_packages() {
  local missing=() p
  for p in "${required_pkgs[@]}" "${optional_pkgs[@]}"; do
    installed "$p" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  if ! apt_install "${missing[@]}"; then
    missing=()
    for p in "${required_pkgs[@]}"; do installed "$p" || missing+=("$p"); done
    if ((${#missing[@]})); then
      apt_install "${missing[@]}" ||
        { tail -5 "$cache/logs/apt-install.log" >&2; die "could not install ${missing[*]}"; }
    fi
    for p in "${optional_pkgs[@]}"; do
      installed "$p" || apt_install "$p" || say "warning: $p unavailable, building without it"
    done
  fi
}

# The first enabled binary ("deb") entry for this release's main component,
# as "FORMAT<TAB>URI<TAB>OPTIONS": FORMAT is deb822 or list; OPTIONS is the
# Signed-By file (deb822) or the [...] options (one-line format).
binary_entry() {
  local codename=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v cn="$codename" -v OFS='\t' '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " cn " ") &&
            (" " comps " ") ~ / main / && uri != "") { print "deb822", uri, signed; found = 1; exit }
        types = suites = comps = uri = signed = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val) }
      key == "types" { types = val }
      key == "suites" { suites = val }
      key == "components" { comps = val }
      key == "uris" { split(val, u, " "); uri = u[1] }
      key == "signed-by" { signed = val }
      key == "enabled" { enabled = tolower(val) }
      END { if (!found) flush() }' "$f"
  done | head -1 | grep . && return 0
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk -v cn="$codename" -v OFS='\t' '
      $1 != "deb" { next }
      { opts = ""; i = 2
        if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) { opts = opts $i " "; i++ } opts = opts $i; i++ }
        uri = $i; suite = $(i + 1)
        if (suite != cn) next
        for (j = i + 2; j <= NF; j++) if ($j == "main") { print "list", uri, opts; exit } }' | head -1
}

has_deb_src_entry() {
  grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk '/^[ \t]*#/ { next }
         /^[ \t]*$/ { if (t && e != "no") f = 1; t = 0; e = ""; next }
         tolower($1) == "types:" && $0 ~ /deb-src/ { t = 1 }
         tolower($1) == "enabled:" { e = tolower($2) }
         END { if (t && e != "no") f = 1; exit !f }' "$f" && return 0
  done
  return 1
}

source_known() { apt-cache showsrc --only-source librdkafka 2>/dev/null | grep -qx "Version: $1"; }

ensure_deb_src() {
  local version=$1 codename
  source_known "$version" && return 0
  if ! has_deb_src_entry; then
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [[ -n $codename ]] || die "cannot tell the Debian release from /etc/os-release"
    local entry format uri opts
    entry=$(binary_entry "$codename" || true)
    IFS=$'\t' read -r format uri opts <<<"${entry:-list	http://deb.debian.org/debian	}"
    if [[ $format == deb822 ]]; then
      say "adding /etc/apt/sources.list.d/kgw-deb-src.sources (deb-src $uri $codename main)"
      {
        echo "# Added by kgw conformance/run.sh: librdkafka's source package."
        echo "Types: deb-src"
        echo "URIs: $uri"
        echo "Suites: $codename"
        echo "Components: main"
        [[ -z $opts ]] || echo "Signed-By: $opts"
      } | as_root tee /etc/apt/sources.list.d/kgw-deb-src.sources >/dev/null
    else
      say "adding /etc/apt/sources.list.d/kgw-deb-src.list (deb-src $uri $codename main)"
      printf '# Added by kgw conformance/run.sh: librdkafka'"'"'s source package.\ndeb-src %s%s %s main\n' \
        "${opts:+$opts }" "$uri" "$codename" | as_root tee /etc/apt/sources.list.d/kgw-deb-src.list >/dev/null
    fi
  fi
  apt_update
  source_known "$version" || say "warning: source version $version not in the archive; taking the newest"
}

librdkafka_version() {
  local v
  v=$(dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null || true)
  if [[ -z $v ]]; then
    v=$(apt-cache policy librdkafka1 2>/dev/null | awk '/Candidate:/ { print $2 }')
    [[ -n $v && $v != "(none)" ]] || { apt_update; v=$(apt-cache policy librdkafka1 | awk '/Candidate:/ { print $2 }'); }
  fi
  [[ -n $v && $v != "(none)" ]] || die "no librdkafka1 package known to apt"
  echo "$v"
}

# The librdkafka bundled in node-rdkafka's npm package (deps/librdkafka,
# tests included): a newer suite than Debian's, from the one registry
# besides Debian's that this machine reaches.
fetch_npm_source() { # PACKAGE@VERSION DIR
  local pkg=$1 dir=$2 tmp t0 tarball
  command -v npm >/dev/null || apt_install npm || die "could not install npm (needed for --librdkafka npm)"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/kgw-npm.XXXXXX")
  say "fetching $pkg from the npm registry (npm pack)"
  t0=$SECONDS
  (cd "$tmp" && npm pack --silent "$pkg") >"$cache/logs/fetch-npm.log" 2>&1 ||
    { tail -5 "$cache/logs/fetch-npm.log" >&2; rm -rf "$tmp"; die "npm pack $pkg failed (log: $cache/logs/fetch-npm.log)"; }
  tarball=$(find "$tmp" -maxdepth 1 -name '*.tgz' | head -1)
  tar -xzf "$tarball" -C "$tmp" package/deps/librdkafka ||
    { rm -rf "$tmp"; die "$pkg's tarball has no deps/librdkafka"; }
  rm -rf "$dir"
  mv "$tmp/package/deps/librdkafka" "$dir"
  rm -rf "$tmp"
  chmod +x "$dir/configure" "$dir/lds-gen.py" 2>/dev/null || true
  say "fetched in $((SECONDS - t0)) s"
}

setup_suite() {
  mkdir -p "$cache/logs" "$cache/src"
  local version upstream srcdir t0
  if [[ -n ${npm_package:-} ]]; then
    version=npm-$npm_package
    srcdir=$cache/src/librdkafka-$version
    tests_dir=$srcdir/tests
    if [[ ! -f $cache/src/.fetched-$version ]]; then
      install_packages
      fetch_npm_source "$npm_package" "$srcdir"
      touch "$cache/src/.fetched-$version"
    fi
    local hex
    hex=$(awk '$1 == "#define" && $2 == "RD_KAFKA_VERSION" { print $3 }' "$srcdir/src/rdkafka.h")
    [[ $hex =~ ^0x[0-9a-fA-F]+$ ]] || die "no RD_KAFKA_VERSION in $srcdir/src/rdkafka.h"
    upstream=$(((hex >> 24) & 255)).$(((hex >> 16) & 255)).$(((hex >> 8) & 255))
    suite_version="$upstream (bundled in $npm_package from npm)"
  else
    version=$(librdkafka_version)
    upstream=${version#*:}
    upstream=${upstream%-*}
    srcdir=$cache/src/librdkafka-$upstream
    suite_version="$version (Debian source package)"
    tests_dir=$srcdir/tests
  fi

  if [[ -f $cache/src/.fetched-$version && -f $srcdir/.kgw-built ]]; then
    [[ -s $srcdir/.kgw-notes ]] && mapfile -t build_notes <"$srcdir/.kgw-notes"
    return 0
  fi

  install_packages
  if [[ ! -f $cache/src/.fetched-$version ]]; then
    ensure_deb_src "$version"
    rm -rf "$srcdir"
    say "fetching librdkafka $version source package into $cache/src"
    t0=$SECONDS
    local want=librdkafka=$version
    source_known "$version" || want=librdkafka
    (cd "$cache/src" && apt-get source -q "$want") >"$cache/logs/fetch.log" 2>&1 ||
      { tail -5 "$cache/logs/fetch.log" >&2; die "apt-get source $want failed (log: $cache/logs/fetch.log)"; }
    [[ -d $srcdir ]] || srcdir=$(find "$cache/src" -mindepth 1 -maxdepth 1 -type d -name 'librdkafka-*' | head -1)
    tests_dir=$srcdir/tests
    touch "$cache/src/.fetched-$version"
    say "fetched in $((SECONDS - t0)) s"
  fi

  local flags=(--no-download --disable-curl --enable-zstd --enable-ssl --enable-gssapi --enable-lz4-ext --enable-zlib)
  build_notes=()
  if ! installed libsasl2-dev; then
    flags=("${flags[@]/--enable-gssapi/}")
    build_notes+=("built without --enable-gssapi: libsasl2-dev unavailable")
  fi
  installed rapidjson-dev || build_notes+=("built without RapidJSON: rapidjson-dev unavailable (0098, 0101 and two more skip themselves)")
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  t0=$SECONDS
  say "configuring librdkafka in $srcdir"
  (cd "$srcdir" && ./configure "${flags[@]}") >"$cache/logs/configure.log" 2>&1 ||
    { tail -15 "$cache/logs/configure.log" >&2; die "configure failed (log: $cache/logs/configure.log)"; }
  say "building the library (make libs, -j$jobs)"
  make -C "$srcdir" -j"$jobs" libs >"$cache/logs/build-libs.log" 2>&1 ||
    { tail -15 "$cache/logs/build-libs.log" >&2; die "make libs failed (log: $cache/logs/build-libs.log)"; }
  say "building the test runner (make -C tests build, -j$jobs)"
  make -C "$srcdir/tests" -j"$jobs" build >"$cache/logs/build-tests.log" 2>&1 ||
    { tail -15 "$cache/logs/build-tests.log" >&2; die "make -C tests build failed (log: $cache/logs/build-tests.log)"; }
  [[ -x $srcdir/tests/test-runner ]] || die "no $srcdir/tests/test-runner after the build"
  : >"$srcdir/.kgw-notes"
  ((${#build_notes[@]} == 0)) || printf '%s\n' "${build_notes[@]}" >"$srcdir/.kgw-notes"
  touch "$srcdir/.kgw-built"
  say "built in $((SECONDS - t0)) s"
}

# Two runs sharing one cache must not fetch or build at the same time.
exec 9>"$cache/.lock"
if ! flock -n 9; then
  say "waiting for another run's setup (lock $cache/.lock)"
  flock 9
fi
setup_suite
flock -u 9

catalogue=$cache/catalogue-${suite_version%% *}.tsv
python3 "$here/suite.py" catalogue "$tests_dir/test.c" >"$catalogue.$$"
mv "$catalogue.$$" "$catalogue"

if ((list_only)); then
  awk -F'\t' '$3 == "broker" && $1 < 1000 { printf "%s  %-40s %s\n", $1, $2, $4 }' "$catalogue"
  exit 0
fi
((setup_only)) && { say "suite ready: $tests_dir/test-runner"; exit 0; }

# ---------------------------------------------------------------------------
# The tests to run.

declare -A expected_skip=()
while read -r num reason; do
  [[ $num =~ ^[0-9]{4}$ ]] && expected_skip[$num]=$reason
done < <(grep -v '^[[:space:]]*#' "$here/expected_skips.txt" 2>/dev/null || true)

# A reason starting "[one broker]" skips only against one broker,
# "[no racks]" only without --racks, "[librdkafka 2.0.2]" (a bug of that
# client) only with Debian's suite (expected_skips.txt).
skip_applies() {
  case $1 in
    "[one broker]"*) ((brokers == 1)) ;;
    "[no racks]"*) [[ -z $racks ]] ;;
    "[librdkafka 2.0.2]"*) [[ -z ${npm_package:-} ]] ;;
    *) true ;;
  esac
}

declare -A kind=() name=() scenarios=()
while IFS=$'\t' read -r num nm kd sc; do
  kind[$num]=$kd name[$num]=$nm scenarios[$num]=$sc
done <"$catalogue"

tests=()
if [[ $selection == all ]]; then
  mapfile -t tests < <(awk -F'\t' '$3 == "broker" && $1 < 1000 { print $1 }' "$catalogue")
else
  IFS=',' read -ra parts <<<"$selection"
  for part in "${parts[@]}"; do
    if [[ $part =~ ^([0-9]{1,4})-([0-9]{1,4})$ ]]; then
      for ((n = 10#${BASH_REMATCH[1]}; n <= 10#${BASH_REMATCH[2]}; n++)); do
        printf -v num '%04d' "$n"
        [[ ${kind[$num]:-} == broker ]] && tests+=("$num")
      done
    elif [[ $part =~ ^[0-9]{1,4}$ ]]; then
      printf -v num '%04d' "$((10#$part))"
      [[ -n ${kind[$num]:-} ]] || { echo "conformance: no test $num in librdkafka $suite_version" >&2; exit 2; }
      tests+=("$num")
    else
      echo "conformance: bad test selection '$part'" >&2; usage
    fi
  done
fi
((${#tests[@]})) || { echo "conformance: no tests selected" >&2; exit 2; }

# ---------------------------------------------------------------------------
# The gateway: a copy of the binary (the build dir may be rebuilt during a
# long run), a temporary data dir, a free loopback port. A second gateway
# with topic auto-creation off serves the suite's "noautocreate" scenario.

if [[ -z $kgw_src ]]; then
  kgw_src=$repo/build/kgw
  if [[ ! -x $kgw_src ]]; then
    say "no $kgw_src: building it with tools/dev/setup.sh build"
    "$repo/tools/dev/setup.sh" build >&2 || die "building kgw failed"
  fi
fi
[[ -x $kgw_src ]] || die "no gateway binary at $kgw_src"
# Kafka's bin/ scripts for the tests that shell out to them (kafka-topics.sh,
# kafka-configs.sh, kafka-acls.sh): kgw-admin's entry points, built beside
# the gateway. They run the build's kgw-admin, so they are not copied.
[[ -n $kafka_path ]] || kafka_path=$(cd "$(dirname "$kgw_src")" && pwd)/tools/admin/kafka
if [[ -x $kafka_path/bin/kafka-topics.sh ]]; then
  kafka_path=$(cd "$kafka_path" && pwd)
else
  say "warning: no $kafka_path/bin/kafka-topics.sh (is librdkafka-dev installed for kgw-admin?): tests that shell out to Kafka's scripts will fail"
fi
mkdir -p "$cache/bin"
kgw_bin=$cache/bin/kgw.$$
cp "$kgw_src" "$kgw_bin"
kgw_line=$(kgw_commit_line "$repo" "$kgw_src")
# --proxy: librdkafka's mock cluster as the legacy cluster, built beside kgw.
mock_bin=""
if ((proxy)); then
  mock_src=$(dirname "$kgw_src")/tools/kgw-mock-cluster
  [[ -x $mock_src ]] || die "no mock cluster at $mock_src (--proxy needs it: built with kgw when librdkafka-dev is installed)"
  mock_bin=$cache/bin/kgw-mock-cluster.$$
  cp "$mock_src" "$mock_bin"
fi

# Each run gets its own folder (a quick run may start while a long one is
# going); last-run points at the newest, and only the last ten are kept.
mkdir -p "$cache/runs"
rundir=$cache/runs/$(date -u +%Y%m%dT%H%M%SZ)-$$
mkdir -p "$rundir/logs" "$rundir/stats"
ln -sfn "runs/${rundir##*/}" "$cache/last-run.tmp" && mv -T "$cache/last-run.tmp" "$cache/last-run"
find "$cache/runs" -mindepth 1 -maxdepth 1 -type d | sort | head -n -10 | xargs -r rm -rf
workdir=$(mktemp -d "${TMPDIR:-/tmp}/kgw-conformance.XXXXXX")

# Gateways are keyed by scenario name, and with --proxy also by
# "mock-SCEN": the mock cluster alone, which the same tests run against first.
# gw_pid[KEY]: the gateway's pid (one kgw, or the mock alone) or "cluster"
# (--brokers N > 1); gw_bootstrap[KEY]: its bootstrap list; gw_dir[KEY]: the
# cluster's dir; mock_pid[KEY]: with --proxy, the mock cluster behind it.
declare -A gw_pid=() gw_bootstrap=() gw_restarts=() gw_dir=() mock_pid=()

# Scenario name -> extra kgw flags. "default" mirrors librdkafka's
# tests/scenarios/default.json (auto-create on, 4 partitions, replication
# factor 3: with three brokers or more; fewer hold fewer copies).
gw_flags() {
  local rf=$((brokers < 3 ? brokers : 3))
  case $1 in
    # With --proxy the mock cluster creates the topics kgw proxies.
    default) echo "--set num.partitions=4 --set default.replication.factor=$rf$( ((!proxy)) || echo " --set upstream.auto.create.topics=upstream")" ;;
    # (The mock cluster always auto-creates: no such scenario with --proxy.)
    noautocreate) ((!proxy)) || return 1
      echo "--set num.partitions=4 --set auto.create.topics.enable=false --set default.replication.factor=$rf" ;;
    *) return 1 ;;
  esac
}

# Prints the first port >= $next_port of a block of COUNT free loopback ports
# (each one bindable now) and moves next_port past it, so that a cluster
# started after another never reuses ports still in TIME_WAIT.
next_port=$base_port
cluster_starts=0
free_port_block() {
  local count=$1 p
  p=$(python3 - "$next_port" "$count" <<'PY'
import socket, sys
start, count = int(sys.argv[1]), int(sys.argv[2])
for p in range(start, 65536 - count, count + 1):
    socks = []
    try:
        for q in range(p, p + count):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", q))
        print(p)
        sys.exit(0)
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
sys.exit(1)
PY
  ) || return 1
  next_port=$((p + count + 1))
  echo "$p"
}

run_cluster() { KGW=$kgw_bin "$repo/tools/dev/run-cluster.sh" "$@"; }

# mock_start OUT: librdkafka's mock cluster, 3 brokers, its bootstrap line to
# OUT.stdout and its log to OUT.log. Sets m_pid and m_bootstrap; returns 1
# if it printed no bootstrap line within 10 s.
mock_start() {
  local out=$1 line="" i
  "$mock_bin" --brokers 3 --no-stdin >"$out.stdout" 2>"$out.log" &
  m_pid=$!
  for ((i = 0; i < 100; i++)); do
    line=$(head -1 "$out.stdout" 2>/dev/null || true)
    [[ -n $line ]] && break
    kill -0 "$m_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $line ]]; then
    kill "$m_pid" 2>/dev/null || true
    tail -5 "$out.log" >&2
    return 1
  fi
  m_bootstrap=$line
}

# An N-node cluster for a scenario (--brokers N > 1). One cluster at a time:
# two of them (3 kgw and 3 etcd each) on a small machine slow every test, so
# another scenario's cluster is stopped first and started again when needed.
cluster_start() {
  local scen=$1 out=$2 s port dir i t
  for s in "${!gw_pid[@]}"; do [[ $s == "$scen" ]] || gw_stop_one "$s"; done
  free_port_block $((3 * brokers)) >"$workdir/port" || die "no block of $((3 * brokers)) free ports from $next_port on"
  port=$(<"$workdir/port")
  dir=$workdir/cluster-${out##*/kgw-}
  gw_dir[$scen]=$dir
  # shellcheck disable=SC2046
  if ! KGW_CLUSTER_TIMEOUT=${KGW_CLUSTER_TIMEOUT:-120} run_cluster "$brokers" --base-port "$port" --data "$dir" \
    ${racks:+--racks "$racks" --set replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector} \
    $(gw_flags "$scen") >"$out.start.log" 2>&1; then
    tail -5 "$out.start.log" >&2
    cluster_stop "$scen"
    die "the $brokers-node cluster ($scen) did not start (log: $out.start.log)"
  fi
  gw_pid[$scen]=cluster
  gw_bootstrap[$scen]=""
  for ((i = 0; i < brokers; i++)); do
    gw_bootstrap[$scen]+="${gw_bootstrap[$scen]:+,}127.0.0.1:$((port + i))"
  done
  if ((internal_topics)); then
    # kgw, as Kafka, creates these on the first FindCoordinator (answering
    # COORDINATOR_NOT_AVAILABLE meanwhile); made here, no test waits for it.
    for t in __consumer_offsets __transaction_state; do
      "$kafka_path/bin/kafka-topics.sh" --bootstrap-server "${gw_bootstrap[$scen]}" --create --topic "$t" \
        --partitions 50 --replication-factor $((brokers < 3 ? brokers : 3)) >>"$out.start.log" 2>&1 ||
        die "could not create $t in the $brokers-node cluster ($scen) (log: $out.start.log)"
    done
  fi
  say "$brokers-node kgw cluster ($scen scenario) on ${gw_bootstrap[$scen]}, data $dir, logs $out-node-*.log after it stops"
}

# Stops a scenario's cluster and keeps each node's kgw and etcd log in the
# run's folder (the data dir goes with $workdir).
cluster_stop() {
  local scen=$1 dir=${gw_dir[$1]:-} d id out
  [[ -n $dir && -d $dir ]] || return 0
  unset "gw_dir[$scen]"
  # SIGTERM to every node at once first: run-cluster.sh --stop stops them one
  # by one, and once two of three etcd members are gone the last node waits
  # for a quorum that never comes (up to its 30 s SIGKILL). Its data is
  # thrown away here, so a quick stop is all that matters; --stop then reaps
  # what is left and any etcd member a node left behind.
  if [[ -f $dir/nodes.tsv ]]; then
    awk -F'\t' 'NR > 1 && $2 ~ /^[0-9]+$/ { print $2 }' "$dir/nodes.tsv" | while read -r pid; do
      # (only a process running on this dir: pids get recycled)
      if grep -qsF -- "$dir/" "/proc/$pid/cmdline"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
  fi
  run_cluster --stop "$dir" >>"$rundir/cluster-stop.log" 2>&1 ||
    say "run-cluster.sh --stop $dir failed (see $rundir/cluster-stop.log)"
  out=$rundir/kgw-${dir##*/cluster-}
  for d in "$dir"/node-*/; do
    [[ -d $d ]] || continue
    id=${d%/}
    id=${id##*/node-}
    cp "$d/kgw.log" "$out-node-$id.log" 2>/dev/null || true
    cp "$d/data/etcd.log" "$out-node-$id-etcd.log" 2>/dev/null || true
  done
  rm -rf "$dir"
}

# True while the scenario's gateway runs: the one kgw, or every node of the
# cluster (the nodes are not our children: checked by pid, a zombie counts
# as gone). Otherwise sets gw_gone to what is not running.
gw_alive() {
  local scen=$1 pid=${gw_pid[$1]:-} mpid=${mock_pid[$1]:-} id kpid port st
  gw_gone=""
  if [[ $pid != cluster ]]; then
    if [[ -n $mpid ]] && ! kill -0 "$mpid" 2>/dev/null; then
      st=0
      wait "$mpid" 2>/dev/null || st=$?
      gw_gone="the mock cluster exited with status $st"
      return 1
    fi
    kill -0 "$pid" 2>/dev/null && return 0
    st=0
    wait "$pid" 2>/dev/null || st=$?
    gw_gone="kgw exited with status $st"
    return 1
  fi
  while IFS=$'\t' read -r id kpid port _; do
    [[ $id =~ ^[0-9]+$ ]] || continue
    if ! kill -0 "$kpid" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$kpid/stat" 2>/dev/null) == Z ]]; then
      gw_gone+="${gw_gone:+, }node $id's kgw (port $port) exited"
    fi
  done <"${gw_dir[$scen]}/nodes.tsv"
  [[ -z $gw_gone ]]
}

gw_start() {
  local scen=$1 n=${gw_restarts[$1]:-0} out
  out=$rundir/kgw-$scen-$n
  if ((proxy)); then
    # $scen is the gateway's key here: "mock-SCEN" is the mock alone.
    [[ $scen == mock-* ]] && out=$rundir/$scen-$n
    mock_start "$out.mock" || die "the mock cluster ($scen) did not start (log: $out.mock.log)"
    mock_pid[$scen]=$m_pid
    if [[ $scen == mock-* ]]; then
      gw_pid[$scen]=$m_pid
      gw_bootstrap[$scen]=$m_bootstrap
      say "mock cluster (${scen#mock-} scenario, alone) on $m_bootstrap, pid $m_pid, log $out.mock.log"
    else
      # shellcheck disable=SC2046
      kgw_start "$kgw_bin" "$workdir/data-$scen-$n" "$out" --upstream "$m_bootstrap" $(gw_flags "$scen") ||
        die "kgw ($scen) did not start"
      gw_pid[$scen]=$kgw_pid
      gw_bootstrap[$scen]=127.0.0.1:$kgw_port
      say "kgw ($scen scenario) listening on 127.0.0.1:$kgw_port, pid $kgw_pid, log $out.log, in front of the mock cluster on $m_bootstrap (pid $m_pid, log $out.mock.log)"
    fi
  elif ((brokers > 1)); then
    # Each cluster start gets its own dir and log names: a scenario's
    # cluster is started again after another scenario's ran, and
    # run-cluster.sh keeps a dir's ports.
    cluster_starts=$((cluster_starts + 1))
    out=$rundir/kgw-$scen-c$cluster_starts
    cluster_start "$scen" "$out"
  else
    # shellcheck disable=SC2046
    kgw_start "$kgw_bin" "$workdir/data-$scen-$n" "$out" $(gw_flags "$scen") || die "kgw ($scen) did not start"
    gw_pid[$scen]=$kgw_pid
    gw_bootstrap[$scen]=127.0.0.1:$kgw_port
    say "kgw ($scen scenario) listening on 127.0.0.1:$kgw_port, pid $kgw_pid, log $out.log"
  fi
  # bootstrap.servers is librdkafka's alias of metadata.broker.list.
  cat >"$rundir/test-$scen.conf" <<EOF
bootstrap.servers=${gw_bootstrap[$scen]}
broker.address.family=v4
broker.version.fallback=0.10.0.0
api.version.fallback.ms=0
test.timeout.multiplier=2
EOF
}

gw_stop_one() {
  local scen=$1 pid=${gw_pid[$1]:-} mpid=${mock_pid[$1]:-}
  unset "gw_pid[$scen]" "mock_pid[$scen]"
  if [[ $pid == cluster || -n ${gw_dir[$scen]:-} ]]; then
    cluster_stop "$scen"
  elif [[ -n $pid ]]; then
    kgw_stop "$pid"
  fi
  # kgw first, then the legacy cluster behind it.
  [[ -z $mpid || $mpid == "$pid" ]] || kgw_stop "$mpid"
}

cleanup() {
  local s
  # A cluster that failed to start has gw_dir but no gw_pid.
  for s in "${!gw_pid[@]}" "${!gw_dir[@]}" "${!mock_pid[@]}"; do gw_stop_one "$s"; done
  rm -rf "$workdir" "$kgw_bin" ${mock_bin:+"$mock_bin"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Run each test number in its own test-runner process: a test that hits the
# suite's own timeout kills the whole process.

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t_start=$SECONDS
passed=0 failed=0 skipped=0
rows=()

emit() { # NUM STATUS SECONDS REASON
  local num=$1 st=$2 secs=$3 reason=$4
  result_line "$num" "${name[$num]}" "$st" "$secs" "$reason"
  rows+=("$num"$'\t'"${name[$num]}"$'\t'"$st"$'\t'"$secs"$'\t'"$reason")
  case $st in passed) ((++passed)) ;; failed) ((++failed)) ;; *) ((++skipped)) ;; esac
}

run_one() { # NUM SCENARIO [GATEWAY] -> sets r_status and r_reason
  local num=$1 scen=$2 key=${3:-$2} entries log rc=0 pid out
  entries=$(python3 "$here/suite.py" entries "$tests_dir/test.c" "$num" "$scen")
  [[ -n ${gw_pid[$key]:-} ]] || gw_start "$key"
  log=$rundir/logs/$num.log
  [[ $key == default ]] || log=$rundir/logs/$num-$key.log
  # The library built beside the tests (tests/../src, tests/../src-cpp), not
  # Debian's. It runs in tests/, as upstream runs it: some tests read files
  # relative to it (0053: ../src/statistics_schema.json). The subshell (no
  # exec) keeps bash's "Aborted ..." notice for a crashed test-runner off our
  # stderr.
  (
    cd "$tests_dir"
    env LD_LIBRARY_PATH="$tests_dir/../src:$tests_dir/../src-cpp" \
      KAFKA_PATH="$kafka_path" BROKERS="${gw_bootstrap[$key]}" \
      RDKAFKA_TEST_CONF="$rundir/test-$key.conf" TEST_KAFKA_VERSION=3.1.0 TESTS="$num" \
      timeout -k 10 "$timeout_s" "$tests_dir/test-runner" -L -s "$scen" >"$log" 2>&1 </dev/null
    exit $?
  ) 2>/dev/null || rc=$?
  # The statistics files each test writes there go with this run's logs.
  find "$tests_dir" -maxdepth 1 -name "stats_${num}_*.json" -exec mv -t "$rundir/stats" {} + 2>/dev/null || true
  out=$(python3 "$here/suite.py" outcome "$log" "$num" "$scen" "$entries" "$rc" "$timeout_s")
  r_status=${out%%$'\t'*}
  r_reason=${out#*$'\t'}
  if ! gw_alive "$key"; then
    gw_stop_one "$key"
    gw_restarts[$key]=$((${gw_restarts[$key]:-0} + 1))
    say "$gw_gone ($key) during $num; the next test gets a fresh one"
    r_status=failed
    r_reason="$gw_gone during the test (see $rundir/*$key-*.log); test said: $r_reason"
  fi
}

i=0
for num in "${tests[@]}"; do
  ((++i))
  if [[ ${kind[$num]} != broker ]]; then
    emit "$num" skipped 0 "local test (needs no broker): not a conformance test"
    continue
  fi
  if [[ -n ${expected_skip[$num]:-} && $run_skipped -eq 0 ]] && skip_applies "${expected_skip[$num]}"; then
    emit "$num" skipped 0 "expected: ${expected_skip[$num]}"
    continue
  fi
  say "[$i/${#tests[@]}] running $num ${name[$num]} (limit ${timeout_s} s)"
  t0=$EPOCHREALTIME
  status="" reason=""
  IFS=',' read -ra scens <<<"${scenarios[$num]}"
  for scen in "${scens[@]}"; do
    if ! gw_flags "$scen" >/dev/null; then
      s=skipped r="needs test scenario $scen"
    elif ((proxy)); then
      # What the mock alone does decides what counts through kgw.
      run_one "$num" "$scen" "mock-$scen"
      ms=$r_status mr=$r_reason
      run_one "$num" "$scen"
      s=$r_status r=$r_reason
      if [[ $ms != passed && $s != passed ]]; then
        s=skipped r="$ms against the mock cluster alone too: $mr"
      elif [[ $ms != passed ]]; then
        r="(passes through kgw; $ms against the mock cluster alone: $mr)"
      fi
    else
      run_one "$num" "$scen"
      s=$r_status r=$r_reason
    fi
    [[ ${#scens[@]} -eq 1 || -z $r ]] || r="[$scen] $r"
    # failed beats passed beats skipped; keep the first reason of the winner.
    case $s/$status in
      failed/failed | passed/passed | skipped/skipped) ;;
      failed/*) status=failed reason=$r ;;
      passed/skipped | passed/) status=passed reason="" ;;
      skipped/) status=skipped reason=$r ;;
    esac
  done
  secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  emit "$num" "$status" "$secs" "$reason"
  if [[ $status == failed && $fail_fast -eq 1 ]]; then
    say "stopping after the first failure (--fail-fast)"
    clients=0
    break
  fi
done

for s in "${!gw_pid[@]}"; do gw_stop_one "$s"; done

# ---------------------------------------------------------------------------
# The client matrix (clients.sh: kcat, kafka-python, confluent-kafka-python,
# Sarama against their own fresh kgw): its rows join the table and the counts.

client_rows=()
if ((clients)); then
  say "running the client matrix (conformance/clients.sh)"
  mkdir -p "$rundir/clients"
  crc=0
  "$here/clients.sh" --kgw "$kgw_bin" --timeout "$timeout_s" --log-dir "$rundir/clients" \
    --rows "$rundir/clients/rows.tsv" >"$rundir/clients/output.txt" || crc=$?
  if ((crc > 1)) || [[ ! -s $rundir/clients/rows.tsv ]]; then
    printf 'client-matrix\tconformance/clients.sh\tfailed\t0\tclients.sh exited with status %s (see %s)\n' \
      "$crc" "$rundir/clients" >"$rundir/clients/rows.tsv"
  fi
  result_widths="22 40"
  while IFS=$'\t' read -r id nm st secs reason; do
    result_line "$id" "$nm" "$st" "$secs" "$reason"
    client_rows+=("$id"$'\t'"$nm"$'\t'"$st"$'\t'"$secs"$'\t'"$reason")
    case $st in passed) ((++passed)) ;; failed) ((++failed)) ;; *) ((++skipped)) ;; esac
  done <"$rundir/clients/rows.tsv"
fi

summary="$passed passed, $failed failed, $skipped skipped"
elapsed=$((SECONDS - t_start))

# ---------------------------------------------------------------------------
# The results file: the same table, with what was run against what.

mkdir -p "$(dirname "$results")"
{
  echo "# librdkafka conformance results"
  echo
  echo "Produced by \`conformance/run.sh\`; see conformance/README.md for how to read it."
  echo
  echo "- Date: $started (took $((elapsed / 60)) min $((elapsed % 60)) s)"
  echo "$kgw_line"
  echo "- librdkafka: $suite_version, tests/test-runner -L, TEST_KAFKA_VERSION=3.1.0, test.timeout.multiplier=2"
  echo "- KAFKA_PATH: kgw-admin's bin/kafka-*.sh entry points"
  for note in "${build_notes[@]}"; do echo "- Build: $note"; done
  if ((proxy)); then
    echo "- Gateway: proxy conformance (--proxy): each test ran against librdkafka's mock cluster alone (kgw-mock-cluster --brokers 3), then through one kgw --upstream in front of a mock cluster of its own (every topic upstream); a test that did not pass against the mock alone is skipped with the mock's result"
  fi
  if ((brokers > 1)); then
    echo "- Gateway: a ${brokers}-node kgw cluster (tools/dev/run-cluster.sh, co-located etcd members), test.conf with its ${brokers} bootstrap addresses; topics with replication factor $((brokers < 3 ? brokers : 3)) (default.replication.factor, as the suite's default scenario)$( ((internal_topics)) && echo "; __consumer_offsets and __transaction_state created first (--internal-topics)")$([[ -n $racks ]] && echo "; broker.rack $racks (--racks)")"
  fi
  echo "- Selection: ${selection}, ${#tests[@]} test(s); per-test limit ${timeout_s} s$( ((run_skipped)) && echo ", expected skips run too")"
  ((${#client_rows[@]} == 0)) || echo "- Client matrix: ${#client_rows[@]} client(s), in its section below and in the counts"
  echo
  result_table "${rows[@]}"
  if ((${#client_rows[@]})); then
    echo
    echo "## Client matrix"
    echo
    echo "\`conformance/clients.sh\`: one scenario per real client (\`conformance/clients/\`) against a fresh kgw with num.partitions=3; per-scenario limit ${timeout_s} s."
    echo
    result_table "${client_rows[@]}"
  fi
  echo
  echo "$summary"
} >"$results"
say "results written to $results; logs in $rundir"
echo "$summary"
((failed == 0))

#!/usr/bin/env bash
# The default test run: builds (installing what is missing), runs every test
# in a release build, then every test again under ASan+UBSan (but the
# three-node cluster tests, suite 'cluster': minutes each, their C++ is
# under ASan in tests/cluster/'s unit tests), then each
# libFuzzer target for a short while (tests/fuzz/run.sh, its own clang
# build; the long run is its own command, see README).
# Then, once, the quick conformance subset (librdkafka's suite; the first
# run fetches and builds it), the same subset through kgw as a proxy in
# front of librdkafka's mock cluster, and the client matrix (conformance/).
# Ends with one line "N passed, N failed, N skipped" (a fuzz target counts
# as one test, a conformance test or client scenario as one, the format
# check, tools/dev/check-format.sh, as one).
set -euo pipefail
cd "$(dirname "$0")/../.."

# Each step's time goes to stderr ("run-tests: STEP took N s"), so that a
# slow CI run shows where its minutes went.
step_start=$SECONDS
took() {
  echo "run-tests: $1 took $((SECONDS - step_start)) s" >&2
  step_start=$SECONDS
}

# Warnings are errors here (not by default, see meson.build). The normal
# build is the release build users and distributions make (-O3, NDEBUG):
# CI builds it once, warning-free, and every test runs against it; no test
# and no code relies on assert(), and build-asan keeps the debug settings.
tools/dev/setup.sh build -Dbuildtype=release -Dwerror=true
took "release build"
# The ASan build was CI's longest step (37 min on 2 cores at -O2 -g); -O1
# with line tables only (-g1) builds in ~60% of that, still names file and
# line in every sanitizer report, and stays warning-free.
tools/dev/setup.sh build-asan -Dsanitize=true -Dwerror=true \
  -Doptimization=1 -Dcpp_args=-g1 -Dc_args=-g1
took "ASan build"

status=0
meson test -C build --print-errorlogs --num-processes 2 || status=1
took "release tests"
KGW_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite cluster || status=1
took "ASan tests"

# 15 s per target: enough to replay the regressions and catch a shallow
# new crash, short enough for the suite's 20-minute budget.
fuzz_passed=0 fuzz_failed=0
if fuzz_out=$(tests/fuzz/run.sh "${KGW_FUZZ_SECONDS:-15}"); then
  fuzz_passed=$(grep -c "no crash" <<<"$fuzz_out" || true)
else
  fuzz_failed=1
  status=1
fi
printf '%s\n' "$fuzz_out"
took "fuzz"

# House style: every C++ file as clang-format makes it (counts as one test).
if tools/dev/check-format.sh; then
  fuzz_passed=$((fuzz_passed + 1))
else
  fuzz_failed=$((fuzz_failed + 1))
  status=1
fi

# The conformance scripts end with "N passed, N failed, N skipped"; their
# exit status 77 means the suite could not be set up here (a skip).
extra_passed=0 extra_failed=0 extra_skipped=0
for script in conformance/quick.sh "conformance/quick.sh --proxy" conformance/clients.sh; do
  echo "== $script" >&2
  rc=0
  # shellcheck disable=SC2086 # "$script" may carry an option
  out=$($script --kgw build/kgw) || rc=$?
  printf '%s\n' "$out"
  if ((rc == 77)); then
    extra_skipped=$((extra_skipped + 1))
    continue
  fi
  ((rc == 0)) || status=1
  if summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' <<<"$out" | tail -1); then
    read -r p _ f _ k _ <<<"$summary"
    extra_passed=$((extra_passed + p)) extra_failed=$((extra_failed + f)) extra_skipped=$((extra_skipped + k))
  fi
  if ((rc != 0)) && ((extra_failed == 0)); then extra_failed=1; fi
  took "$script"
done

FUZZ_PASSED=$((fuzz_passed + extra_passed)) FUZZ_FAILED=$((fuzz_failed + extra_failed)) \
EXTRA_SKIPPED=$extra_skipped \
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, os, sys
counts = {"passed": int(os.environ["FUZZ_PASSED"]), "failed": int(os.environ["FUZZ_FAILED"]),
          "skipped": int(os.environ["EXTRA_SKIPPED"])}
for path in sys.argv[1:]:
    with open(path) as fh:
        for line in fh:
            r = json.loads(line)["result"]
            key = {"OK": "passed", "SKIP": "skipped", "EXPECTEDFAIL": "passed"}.get(r, "failed")
            counts[key] += 1
print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
exit $status

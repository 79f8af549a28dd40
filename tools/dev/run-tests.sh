#!/usr/bin/env bash
# The default test run: builds (installing what is missing), runs every test
# in a normal build, then the unit tests again under ASan+UBSan.
# Ends with one line "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/../.."

tools/dev/setup.sh build
tools/dev/setup.sh build-asan -Dsanitize=true

status=0
meson test -C build --print-errorlogs --num-processes 2 || status=1
KGW_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 || status=1

python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    with open(path) as fh:
        for line in fh:
            r = json.loads(line)["result"]
            key = {"OK": "passed", "SKIP": "skipped", "EXPECTEDFAIL": "passed"}.get(r, "failed")
            counts[key] += 1
print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
exit $status

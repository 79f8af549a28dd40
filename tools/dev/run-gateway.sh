#!/usr/bin/env bash
# Builds kgw (installing what is missing) and runs it in the foreground on
# its embedded default: one node, 127.0.0.1:9092, data in ./data.
# Extra arguments go to kgw (see build/kgw --help).
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/setup.sh build
exec build/kgw "$@"

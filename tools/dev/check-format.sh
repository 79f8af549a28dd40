#!/usr/bin/env bash
# Fails, naming each file, when a C++ file of the tree differs from what
# clang-format makes of it with .clang-format (house style, STYLE.md).
#   tools/dev/check-format.sh          check; exit 1 if a file differs
#   tools/dev/check-format.sh --fix    rewrite the files that differ
# The default test run calls it. The tree is formatted with Debian
# bookworm's clang-format (14); another version may format differently.
set -euo pipefail
cd "$(dirname "$0")/../.."
mapfile -t files < <(git ls-files '*.cc' '*.h')
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  printf 'check-format: %s differs from clang-format (.clang-format)\n' "${bad[@]}" >&2
  echo "check-format: ${#bad[@]} file(s) differ; run tools/dev/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files match .clang-format"

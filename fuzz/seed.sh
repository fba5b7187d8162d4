#!/usr/bin/env bash
# Copies the parser fixtures, and BuildKit's parser corpus when ../shared/conformance exists, into
# fuzz/corpus/parse as the fuzzer's starting inputs.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/parse
n=0
while IFS= read -r -d '' f; do
    cp "$f" "corpus/parse/seed-$n"
    n=$((n + 1))
done < <(find ../fixtures ../../shared/conformance -name Dockerfile -print0 2>/dev/null)
echo "seeded $n inputs"

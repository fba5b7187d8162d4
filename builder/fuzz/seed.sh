#!/usr/bin/env bash
# Seeds the extract corpus with real layers: a few tars made by GNU tar from this repository.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/extract corpus/dockerignore
tar -cf corpus/extract/src.tar -C .. src
tar -cf corpus/extract/fuzz.tar fuzz_targets
printf 'node_modules\n!keep\n**/*.tmp\n\0node_modules/x\nkeep\n' > corpus/dockerignore/basic

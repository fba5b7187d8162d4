#!/usr/bin/env bash
# The main job on a fresh machine: build bale and read the demo Dockerfile with it.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p bale
target/release/bale parse --format text fixtures/demo/Dockerfile

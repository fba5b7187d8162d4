#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit tests, end-to-end tests against the real
# binary and real peer tools, and the conformance suites in ../shared when that folder exists.
# Needs root and the packages that .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

# The benchmark runner against buildah, once per case at tiny sizes with the debug binary just
# built, so that it keeps working; the full benchmark (bench/run) is not part of the tests.
BALE=target/debug/bale bench/run --smoke

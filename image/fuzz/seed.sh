#!/usr/bin/env bash
# Seeds the load fuzzer with small archives in each format bale reads: a bale save, and what
# skopeo writes (docker-archive, oci-archive), when those tools are installed.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/load corpus/reference
printf 'busybox\nlocalhost:5000/a/b:c\n[::1]:5000/x@sha256:%064d\nUpper/x\n' 0 |
    split -l 1 - corpus/reference/seed-
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/rootfs"
echo hi > "$work/rootfs/file"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
bale=../../target/debug/bale
cargo build -q -p bale --manifest-path ../../Cargo.toml
"$bale" --root "$work/root" import "$work/rootfs.tar" seed:1 > /dev/null
"$bale" --root "$work/root" save -o corpus/load/bale-save.tar seed:1
if command -v skopeo > /dev/null; then
    skopeo copy -q "oci:$work/root:seed:1" "docker-archive:corpus/load/docker.tar:seed:1"
    skopeo copy -q "oci:$work/root:seed:1" "oci-archive:corpus/load/oci.tar:seed:1"
fi
echo "seeded $(ls corpus/load | wc -l) archives"

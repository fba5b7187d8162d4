#!/usr/bin/env bash
# `bale build`'s cache, measured with a release build on a 20-step Dockerfile (COPY, RUN, ENV,
# LABEL, CMD, WORKDIR) over a 10,000-file context, on the busybox base:
#   - a cold build (empty cache);
#   - a rebuild with nothing changed (target: under 150 ms; it reads no file content and runs
#     nothing), with hyperfine;
#   - a rebuild after one file changed (the COPY and every RUN after it run again).
# Needs root (RUN runs in namespaces), busybox-static and hyperfine. BENCH_DIR keeps the
# scratch files somewhere else than /var/tmp.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p bale
BALE=$PWD/target/release/bale
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/bale-bench-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export BALE_ROOT=$WORK/root

rootfs=$WORK/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
tar --numeric-owner -C "$rootfs" -cf "$WORK/busybox.tar" .
"$BALE" import "$WORK/busybox.tar" busybox:local >/dev/null

ctx=$WORK/ctx
for d in $(seq 0 99); do
    mkdir -p "$ctx/src/d$d"
    for f in $(seq 0 99); do
        echo "file $d $f" >"$ctx/src/d$d/f$f.txt"
    done
done
{
    echo "FROM busybox:local"
    echo "WORKDIR /app"
    for i in $(seq 0 5); do echo "ENV V$i=$i"; done
    echo "COPY src/ /app/src/"
    for i in $(seq 0 7); do echo "RUN echo step$i > /step$i"; done
    echo "LABEL bench=build"
    echo 'CMD ["sh"]'
    echo "COPY src/d1 /app/d1"
} >"$ctx/Dockerfile"

start=$(date +%s%N)
"$BALE" build -q -t bench:1 "$ctx" >/dev/null
echo "cold build: $((($(date +%s%N) - start) / 1000000)) ms"
"$BALE" build -q -t bench:1 "$ctx" >/dev/null
hyperfine -w 2 -r 10 "$BALE build -q -t bench:1 $ctx"
echo changed >>"$ctx/src/d5/f5.txt"
start=$(date +%s%N)
"$BALE" build -q -t bench:1 "$ctx" >/dev/null
echo "rebuild after one file changed: $((($(date +%s%N) - start) / 1000000)) ms"

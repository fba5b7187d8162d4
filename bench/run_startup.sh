#!/bin/sh
# Container start-up: `bale run --rm busybox true` against `podman run --rm busybox true`,
# side by side with hyperfine, on the same busybox root filesystem (Debian's busybox-static).
#
#   bench/run_startup.sh            # uses target/release/bale (cargo build --release -p bale)
#   BALE=path/to/bale RUNS=100 bench/run_startup.sh
#   RT=1 bench/run_startup.sh       # also bale alone under chrt -f 50: on a machine shared
#                                   # with other work, waiting for a CPU dominates otherwise
#                                   # (podman cannot run so: runc may not put a real-time task
#                                   # in its cgroup)
#
# Needs root (namespaces, overlayfs), busybox-static, podman, runc and hyperfine. Nothing
# contacts a registry: both images come from the same local tar.
set -eu

BALE=${BALE:-target/release/bale}
RUNS=${RUNS:-50}
BALE=$(cd "$(dirname "$BALE")" && pwd)/$(basename "$BALE")
work=$(mktemp -d /tmp/bale-run-bench.XXXXXX)
trap 'podman $PODMAN_STORE rm -af >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The busybox root filesystem: /bin/busybox, its applet links, passwd, group, /tmp.
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
tar --numeric-owner -C "$rootfs" -cf "$work/busybox.tar" .

export BALE_ROOT="$work/bale"
"$BALE" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox >/dev/null

# podman with the flags that work on this kind of host (see PEERS.md), registries blocked.
printf 'unqualified-search-registries = []\n' > "$work/registries.conf"
export CONTAINERS_REGISTRIES_CONF="$work/registries.conf"
PODMAN_STORE="--root $work/podman/root --runroot $work/podman/runroot --storage-driver vfs --runtime runc --cgroup-manager cgroupfs --events-backend file"
# shellcheck disable=SC2086
podman $PODMAN_STORE import "$work/busybox.tar" localhost/busybox:latest >/dev/null
PODMAN_RUN="podman $PODMAN_STORE run --rm --network none --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 localhost/busybox:latest true"

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
hyperfine -N --warmup 5 --runs "$RUNS" \
    --command-name "bale run --rm busybox true" "$BALE run --rm busybox true" \
    --command-name "bale run --rm --network none busybox true" "$BALE run --rm --network none busybox true" \
    --command-name "podman run --rm busybox true" "$PODMAN_RUN" \
    --export-markdown "$work/results.md"
if [ "${RT:-0}" = 1 ]; then
    chrt -f 50 hyperfine -N --warmup 5 --runs "$RUNS" \
        --command-name "chrt -f 50 bale run --rm busybox true" "$BALE run --rm busybox true" \
        --export-markdown "$work/results-rt.md"
    tail -n 1 "$work/results-rt.md" >> "$work/results.md"
fi
cat "$work/results.md"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

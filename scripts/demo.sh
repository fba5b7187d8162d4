#!/usr/bin/env bash
# The main job on a fresh machine (as root): build bale, make a busybox base image with
# `bale import`, build fixtures/demo (two stages, RUN, COPY and a cache mount) with `bale build`,
# build it again (every step comes from the cache), and run the image with `bale run` and with
# podman after `bale save`, printing what each prints.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        apt-get update -q && apt-get install -y -q "$2"
    fi
}
[ -x /bin/busybox ] || { apt-get update -q && apt-get install -y -q busybox-static; }
need podman podman
need runc runc

cargo build --release --locked -p bale
bale="$PWD/target/release/bale"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BALE_ROOT="$work/store"

# A busybox root filesystem: the static binary, a link for every applet, users and /tmp.
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/root" "$rootfs/home/app" "$rootfs/tmp" "$rootfs/var"
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\napp:x:1000:\n' >"$rootfs/etc/group"
chown 1000:1000 "$rootfs/home/app"
tar --numeric-owner -C "$rootfs" -cf "$work/busybox.tar" .
"$bale" import "$work/busybox.tar" busybox:local

"$bale" build --progress plain -t bale-demo:latest fixtures/demo
echo "--- the same build again: every step is CACHED"
"$bale" build --progress plain -t bale-demo:latest fixtures/demo 2>&1 | grep -E 'CACHED|writing image'

echo "--- bale run bale-demo:latest"
"$bale" run --rm bale-demo:latest

"$bale" save -o "$work/demo.tar" bale-demo:latest

# podman on this kind of host: vfs storage, runc, no network, explicit ulimits; and no registry.
cat >"$work/registries.conf" <<'EOF'
unqualified-search-registries = []
[[registry]]
location = "docker.io"
blocked = true
EOF
export CONTAINERS_REGISTRIES_CONF="$work/registries.conf"
podman=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver vfs
    --runtime runc --cgroup-manager cgroupfs --events-backend file)
"${podman[@]}" load -q -i "$work/demo.tar" >/dev/null
echo "--- podman run bale-demo:latest"
"${podman[@]}" run --rm --pull=never --network none --ulimit nofile=4096:4096 \
    --ulimit nproc=4096:4096 docker.io/library/bale-demo:latest

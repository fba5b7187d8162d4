#!/usr/bin/env bash
# The registry client's speed targets, against Debian's docker-registry on 127.0.0.1 (storage
# in a scratch directory), side by side with the reference each is defined against:
#   - push of a 1 GiB image compresses at >= 1.6x the rate of single-threaded `gzip -6`;
#   - pull runs at >= 60% of single-threaded `gzip -d` speed on the same compressed layer,
#     with peak RSS under 100 MB;
#   - pushing it again with nothing changed takes under 1 s.
# The layer is real-world data (the machine's /usr, repeated to size), so it compresses as
# images do. Prints each figure and "met" or "NOT met". BENCH_SIZE_MIB changes the size (1024).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${BENCH_SIZE_MIB:-1024}
cargo build --release -q -p bale
BALE=$PWD/target/release/bale
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/bale-bench-registry.XXXXXX")
REGISTRY_PID=
cleanup() {
    if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
export BALE_ROOT=$WORK/root

ratio() { awk "BEGIN { printf \"%.2f\", ($1) / ($2) }"; }
verdict() { awk "BEGIN { exit !($1) }" && echo met || echo "NOT met"; }
timed() { local out=$1; shift; /usr/bin/time -f '%e %M' -o "$out" "$@"; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry"
cat > "$WORK/registry/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$WORK/registry/config.yml" > "$WORK/registry/log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
    sleep 0.1
done

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wall-clock figures)"
echo "== a ${SIZE_MIB} MiB image of real files"
# Files, not a valid tar of them: the first SIZE_MIB MiB of a tar of /usr (several GiB here).
{ tar -cf - /usr 2>/dev/null || true; } | head -c "${SIZE_MIB}M" > "$WORK/data.bin"
tar -C "$WORK" -cf "$WORK/layer.tar" data.bin
rm "$WORK/data.bin"
NAME=127.0.0.1:$PORT/bench/big:1
"$BALE" import "$WORK/layer.tar" "$NAME" > /dev/null
LAYER=$(ls -S "$BALE_ROOT"/blobs/sha256/* | head -1)
BYTES=$(stat -c %s "$LAYER")
rm "$WORK/layer.tar"
cat "$LAYER" > /dev/null

# gzip at the level bale uses (6), one thread, to nowhere: pure compression.
timed "$WORK/t" sh -c "gzip -6 -c '$LAYER' > '$WORK/layer.gz'"
T_GZIP=$(cut -d' ' -f1 "$WORK/t")
GZ_BYTES=$(stat -c %s "$WORK/layer.gz")
printf 'gzip -6, one thread: %.0f MB/s (compressed to %d%%)\n' \
    "$(ratio "$BYTES" "$T_GZIP * 1000000")" $((GZ_BYTES * 100 / BYTES))
timed "$WORK/t" sh -c "gzip -dc '$WORK/layer.gz' > /dev/null"
T_GUNZIP=$(cut -d' ' -f1 "$WORK/t")
printf 'gzip -d, one thread: %.0f MB/s of output\n' "$(ratio "$BYTES" "$T_GUNZIP * 1000000")"
rm "$WORK/layer.gz"

timed "$WORK/t" "$BALE" push -q "$NAME" > /dev/null
T_PUSH=$(cut -d' ' -f1 "$WORK/t")
PUSH_X=$(ratio "$T_GZIP" "$T_PUSH")
printf 'push (gzip on %d cores, upload included): %.0f MB/s = %sx gzip (target 1.6x): %s\n' \
    "$(nproc)" "$(ratio "$BYTES" "$T_PUSH * 1000000")" "$PUSH_X" "$(verdict "$PUSH_X >= 1.6")"

timed "$WORK/t" "$BALE" push -q "$NAME" > /dev/null
T_REPUSH=$(cut -d' ' -f1 "$WORK/t")
printf 'push again, nothing changed: %s s (target < 1 s): %s\n' "$T_REPUSH" "$(verdict "$T_REPUSH < 1")"

# Into an empty store: every byte crosses the wire, is verified and stored.
timed "$WORK/t" env BALE_ROOT="$WORK/pulled" "$BALE" pull -q "$NAME" > /dev/null
T_PULL=$(cut -d' ' -f1 "$WORK/t")
RSS_PULL=$(cut -d' ' -f2 "$WORK/t")
PULL_PCT=$(ratio "$T_GUNZIP * 100" "$T_PULL")
printf 'pull: %s s = %.0f%% of gzip -d speed (target 60%%): %s\n' \
    "$T_PULL" "$PULL_PCT" "$(verdict "$PULL_PCT >= 60")"
printf 'pull peak RSS: %d MB (target < 100 MB): %s\n' \
    $((RSS_PULL * 1024 / 1000000)) "$(verdict "$RSS_PULL * 1024 < 100000000")"

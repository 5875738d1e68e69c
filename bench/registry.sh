#!/usr/bin/env bash
# labforge's registry against Debian's docker-registry (distribution 2.8), same run, loopback:
#  1. push then pull of one large image with skopeo (dir: -> registry -> dir:), throughput;
#  2. bytes on disk after pushing ten images that share base layers, against the sum of their sizes.
# The "labforge x2" column is two labforge registry processes on one content store, as behind a
# load balancer: the push goes through one, the pull through the other, and the ten images
# alternate between them.
#
# Usage: bench/registry.sh [total MB of the large image, default 670]
# Needs: cargo, skopeo, docker-registry, python3. Only 127.0.0.1 is contacted.
set -euo pipefail

SIZE_MB=${1:-670}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/registry-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --quiet --release --example registry_server --manifest-path "$ROOT/Cargo.toml"
SERVER="$ROOT/target/release/examples/registry_server"

# Four distinct free ports, held open together while they are chosen.
free_ports() { python3 -c '
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))'; }

# ---- images: skopeo dir: layouts of uncompressed tar layers of random bytes ----
make_image() { # folder, then layer specs name:MB:seed ...
    python3 - "$@" <<'PY'
import hashlib, io, json, os, sys, tarfile
folder, specs = sys.argv[1], sys.argv[2:]
os.makedirs(folder, exist_ok=True)
layers, diff_ids = [], []
for spec in specs:
    name, mb, seed = spec.split(":")
    rng = __import__("random").Random(int(seed))
    size = int(float(mb) * 1024 * 1024)
    data = b"".join(rng.randbytes(min(1 << 24, size - offset)) for offset in range(0, size, 1 << 24))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
        archive.addfile(info, io.BytesIO(data))
    blob = buffer.getvalue()
    digest = hashlib.sha256(blob).hexdigest()
    open(os.path.join(folder, digest), "wb").write(blob)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + digest, "size": len(blob)})
    diff_ids.append("sha256:" + digest)
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
config_digest = hashlib.sha256(config).hexdigest()
open(os.path.join(folder, config_digest), "wb").write(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + config_digest, "size": len(config)},
    "layers": layers}).encode()
open(os.path.join(folder, "manifest.json"), "wb").write(manifest)
open(os.path.join(folder, "version"), "w").write("Directory Transport Version: 1.1\n")
PY
}
image_bytes() { find "$1" -type f ! -name version -printf '%s\n' | awk '{s+=$1} END {print s}'; }

echo "preparing images in $WORK ..."
# The large image: layers in the proportions of a JupyterLab datalab (base, python, packages, content).
make_image "$WORK/large" \
    "base.bin:$(echo "$SIZE_MB*0.28" | bc -l):1" "python.bin:$(echo "$SIZE_MB*0.27" | bc -l):2" \
    "packages.bin:$(echo "$SIZE_MB*0.40" | bc -l):3" "content.bin:$(echo "$SIZE_MB*0.05" | bc -l):4"
LARGE_BYTES=$(image_bytes "$WORK/large")
# Ten datalabs sharing a jl_base-like stack (3 layers, 150 MB) with one own layer each (5 MB).
for i in $(seq 0 9); do
    make_image "$WORK/lab$i" "base.bin:80:11" "python.bin:50:12" "jupyter.bin:20:13" "lab$i.bin:5:$((100 + i))"
done

# ---- registries ----
read -r DR_PORT LF_PORT LF2A_PORT LF2B_PORT < <(free_ports)
mkdir -p "$WORK/dr" "$WORK/lf" "$WORK/lf2"
cat > "$WORK/dr/config.yml" <<EOF
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $WORK/dr/store } }
http: { addr: 127.0.0.1:$DR_PORT }
EOF
docker-registry serve "$WORK/dr/config.yml" >"$WORK/dr/log" 2>&1 &
PIDS+=($!)

PASSWORD=bench-password
cat > "$WORK/lf/grants.toml" <<EOF
[[users]]
name = "ci"
password_hash = "$("$SERVER" hash-password "$PASSWORD")"
role = "builder"
EOF
cat > "$WORK/lf/labforge.toml" <<EOF
data_dir = "$WORK/lf"
[registry_server]
listen = "127.0.0.1:$LF_PORT"
storage_root = "$WORK/lf/store"
grants_file = "$WORK/lf/grants.toml"
EOF
LABFORGE_CONFIG="$WORK/lf/labforge.toml" "$SERVER" >"$WORK/lf/log" 2>&1 &
PIDS+=($!)
# Two processes on one store of their own (one data folder: the upload sessions and the token
# signing key live there).
cp "$WORK/lf/grants.toml" "$WORK/lf2/grants.toml"
# (The file has the last word over the environment: its address is left out, for each process's own.)
sed -e "s|$WORK/lf|$WORK/lf2|g" -e '/^listen/d' "$WORK/lf/labforge.toml" >"$WORK/lf2/labforge.toml"
for port in $LF2A_PORT $LF2B_PORT; do
    LABFORGE_CONFIG="$WORK/lf2/labforge.toml" LABFORGE_REGISTRY_LISTEN=127.0.0.1:$port "$SERVER" >>"$WORK/lf2/log" 2>&1 &
    PIDS+=($!)
done

for port in $DR_PORT $LF_PORT $LF2A_PORT $LF2B_PORT; do
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
    curl -s -o /dev/null "http://127.0.0.1:$port/v2/" || {
        echo "nothing answers on 127.0.0.1:$port; the registries' logs:" >&2
        cat "$WORK/dr/log" "$WORK/lf/log" "$WORK/lf2/log" >&2
        exit 1
    }
done

# ---- measurements ----
now() { date +%s.%N; }
copy() { # name, creds option..., source, destination
    skopeo copy --quiet --preserve-digests --src-tls-verify=false --dest-tls-verify=false "$@" >/dev/null
}
declare -A PUSH PULL DISK
NAMES=(docker-registry labforge "labforge x2")
for name in "${NAMES[@]}"; do
    case $name in
    docker-registry) push_port=$DR_PORT; pull_port=$DR_PORT; other_port=$DR_PORT; store=$WORK/dr/store
        creds=(); pull_creds=() ;;
    labforge) push_port=$LF_PORT; pull_port=$LF_PORT; other_port=$LF_PORT; store=$WORK/lf/store
        creds=(--dest-creds "ci:$PASSWORD"); pull_creds=(--src-creds "ci:$PASSWORD") ;;
    *) push_port=$LF2A_PORT; pull_port=$LF2B_PORT; other_port=$LF2B_PORT; store=$WORK/lf2/store
        creds=(--dest-creds "ci:$PASSWORD"); pull_creds=(--src-creds "ci:$PASSWORD") ;;
    esac
    sync
    start=$(now); copy "${creds[@]}" "dir:$WORK/large" "docker://127.0.0.1:$push_port/bench/large:1"; end=$(now)
    PUSH[$name]=$(echo "$end - $start" | bc -l)
    rm -rf "$WORK/pulled"
    start=$(now); copy "${pull_creds[@]}" "docker://127.0.0.1:$pull_port/bench/large:1" "dir:$WORK/pulled"; end=$(now)
    PULL[$name]=$(echo "$end - $start" | bc -l)
    cmp -s "$WORK/pulled/manifest.json" "$WORK/large/manifest.json" || { echo "$name: pulled manifest differs" >&2; exit 1; }
    before=$(du -sb "$store" | cut -f1)
    for i in $(seq 0 9); do
        port=$([ $((i % 2)) = 0 ] && echo "$push_port" || echo "$other_port")
        copy "${creds[@]}" "dir:$WORK/lab$i" "docker://127.0.0.1:$port/datalabs/lab$i:1"
    done
    DISK[$name]=$(( $(du -sb "$store" | cut -f1) - before ))
done

TEN_SUM=0
for i in $(seq 0 9); do TEN_SUM=$(( TEN_SUM + $(image_bytes "$WORK/lab$i") )); done
mb() { echo "scale=1; $1 / 1048576" | bc -l; }
rate() { echo "scale=1; $LARGE_BYTES / 1048576 / $1" | bc -l; }

echo
echo "large image: $(mb "$LARGE_BYTES") MB in 4 layers; skopeo dir: -> registry -> dir:, 127.0.0.1"
row() { printf '%-28s' "$1"; shift; for value in "$@"; do printf '%16s' "$value"; done; echo; }
row "" "${NAMES[@]}"
seconds() { printf '%.2f s' "$1"; }
row "push time" "$(seconds "${PUSH[docker-registry]}")" "$(seconds "${PUSH[labforge]}")" "$(seconds "${PUSH[labforge x2]}")"
row "push throughput" "$(rate "${PUSH[docker-registry]}") MB/s" "$(rate "${PUSH[labforge]}") MB/s" "$(rate "${PUSH[labforge x2]}") MB/s"
row "pull time" "$(seconds "${PULL[docker-registry]}")" "$(seconds "${PULL[labforge]}")" "$(seconds "${PULL[labforge x2]}")"
row "pull throughput" "$(rate "${PULL[docker-registry]}") MB/s" "$(rate "${PULL[labforge]}") MB/s" "$(rate "${PULL[labforge x2]}") MB/s"
declare -A TOTAL
for name in "${NAMES[@]}"; do TOTAL[$name]=$(echo "${PUSH[$name]} + ${PULL[$name]}" | bc -l); done
row "push + pull" "$(seconds "${TOTAL[docker-registry]}")" "$(seconds "${TOTAL[labforge]}")" "$(seconds "${TOTAL[labforge x2]}")"
ratio() { echo "scale=2; ${TOTAL[docker-registry]} / $1" | bc -l; }
row "throughput vs dr (>= 1.2)" "1.00" "$(ratio "${TOTAL[labforge]}")" "$(ratio "${TOTAL[labforge x2]}")"
echo
echo "ten datalabs sharing 150 MB of base layers, 5 MB own layer each: sum of image sizes $(mb "$TEN_SUM") MB"
row "bytes on disk after push" "$(mb "${DISK[docker-registry]}") MB" "$(mb "${DISK[labforge]}") MB" "$(mb "${DISK[labforge x2]}") MB"
share() { echo "scale=3; $1 / $TEN_SUM" | bc -l; }
row "disk / sum of sizes" "$(share "${DISK[docker-registry]}")" "$(share "${DISK[labforge]}")" "$(share "${DISK[labforge x2]}")"

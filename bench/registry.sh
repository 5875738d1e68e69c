#!/usr/bin/env bash
# labforge's registry against Debian's docker-registry (distribution 2.8), same run, loopback:
#  1. push then pull of one large image, by two clients, on empty stores, in several rounds
#     (default 5; the registries' order rotating), medians printed with each round's figures:
#     - crane (go-containerregistry, built with Go from its module): several layers at once, as
#       docker, containerd and BuildKit move images. Its figures decide the target: a client that
#       is not itself the bottleneck is what measures a server.
#     - skopeo (Debian's, built with Go 1.19): one layer after another. Its pull is bound by its own
#       CPU (about 4.5 s of the pull's 4.7 s), so it shows what a single slow client sees.
#  2. bytes on disk after pushing ten images that share base layers, against the sum of their sizes.
# The "labforge x2" column is two labforge registry processes on one content store, as behind a
# load balancer: the push goes through one, the pull through the other, and the ten images
# alternate between them.
#
# Usage: bench/registry.sh [total MB of the large image, default 670] [rounds, default 5]
# Needs: cargo, go, skopeo, docker-registry, python3. Only 127.0.0.1 is contacted.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SIZE_MB=${1:-670}
ROUNDS=${2:-5}
ROOT=$LABFORGE_ROOT
WORK=$(mktemp -d /tmp/registry-bench.XXXXXX)
# Pulls go to memory when the machine has a tmpfs: the client's own disk writes (670 MB, while
# the push's may still be going out) would otherwise decide the pull's time more than the server.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then PULLED=/dev/shm/$(basename "$WORK")-pulled; else PULLED=$WORK/pulled; fi
PIDS=()
stop_registries() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
cleanup() {
    stop_registries
    rm -rf "$WORK" "$PULLED"
}
trap cleanup EXIT

build_crane
cargo build --quiet --release --example registry_server --manifest-path "$ROOT/Cargo.toml"
SERVER="$ROOT/target/release/examples/registry_server"

# Four distinct free ports, held open together while they are chosen.
free_ports() { python3 -c '
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))'; }

# ---- images: uncompressed tar layers of random bytes, as a skopeo dir: layout in <folder>/dir and
# an OCI image layout in <folder>/oci (the same blob files, hard-linked) ----
make_image() { # folder, then layer specs name:MB:seed ...
    python3 - "$@" <<'PY'
import hashlib, io, json, os, random, sys, tarfile
folder, specs = sys.argv[1], sys.argv[2:]
plain, oci = os.path.join(folder, "dir"), os.path.join(folder, "oci")
os.makedirs(plain); os.makedirs(os.path.join(oci, "blobs", "sha256"))
def store(blob):
    digest = hashlib.sha256(blob).hexdigest()
    open(os.path.join(plain, digest), "wb").write(blob)
    os.link(os.path.join(plain, digest), os.path.join(oci, "blobs", "sha256", digest))
    return "sha256:" + digest
layers = []
for spec in specs:
    name, mb, seed = spec.split(":")
    rng = random.Random(int(seed))
    size = int(float(mb) * 1024 * 1024)
    data = b"".join(rng.randbytes(min(1 << 24, size - offset)) for offset in range(0, size, 1 << 24))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
        archive.addfile(info, io.BytesIO(data))
    blob = buffer.getvalue()
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": store(blob), "size": len(blob)})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": store(config), "size": len(config)},
    "layers": layers}).encode()
open(os.path.join(plain, "manifest.json"), "wb").write(manifest)
open(os.path.join(plain, "version"), "w").write("Directory Transport Version: 1.1\n")
manifest_digest = hashlib.sha256(manifest).hexdigest()
open(os.path.join(oci, "blobs", "sha256", manifest_digest), "wb").write(manifest)
open(os.path.join(oci, "oci-layout"), "w").write('{"imageLayoutVersion": "1.0.0"}')
json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": "sha256:" + manifest_digest, "size": len(manifest)}]},
          open(os.path.join(oci, "index.json"), "w"))
PY
}
image_bytes() { find "$1/dir" -type f ! -name version -printf '%s\n' | awk '{s+=$1} END {print s}'; }

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

# ---- registries: started afresh on empty stores for every client and round ----
read -r DR_PORT LF_PORT LF2A_PORT LF2B_PORT < <(free_ports)
PASSWORD=bench-password
mkdir -p "$WORK/docker"
cat > "$WORK/grants.toml" <<EOF
[[users]]
name = "ci"
password_hash = "$("$SERVER" hash-password "$PASSWORD")"
role = "builder"
EOF
# crane reads its credentials from a docker config.
AUTH=$(printf 'ci:%s' "$PASSWORD" | base64)
printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}, "127.0.0.1:%s": {"auth": "%s"}, "127.0.0.1:%s": {"auth": "%s"}}}\n' \
    "$LF_PORT" "$AUTH" "$LF2A_PORT" "$AUTH" "$LF2B_PORT" "$AUTH" >"$WORK/docker/config.json"
export DOCKER_CONFIG=$WORK/docker

NAMES=(docker-registry labforge "labforge x2")
declare -A STORE PUSH_PORT PULL_PORT
PUSH_PORT=([docker-registry]=$DR_PORT [labforge]=$LF_PORT ["labforge x2"]=$LF2A_PORT)
PULL_PORT=([docker-registry]=$DR_PORT [labforge]=$LF_PORT ["labforge x2"]=$LF2B_PORT)

start_registries() { # a name for the stores
    local stores=$WORK/stores/$1
    mkdir -p "$stores/dr" "$stores/lf" "$stores/lf2"
    STORE=([docker-registry]=$stores/dr/store [labforge]=$stores/lf/store ["labforge x2"]=$stores/lf2/store)
    cat > "$stores/dr/config.yml" <<EOF
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $stores/dr/store } }
http: { addr: 127.0.0.1:$DR_PORT }
EOF
    docker-registry serve "$stores/dr/config.yml" >>"$WORK/dr.log" 2>&1 &
    PIDS+=($!)
    cat > "$stores/lf/labforge.toml" <<EOF
data_dir = "$stores/lf"
[registry_server]
listen = "127.0.0.1:$LF_PORT"
storage_root = "$stores/lf/store"
grants_file = "$WORK/grants.toml"
EOF
    LABFORGE_CONFIG="$stores/lf/labforge.toml" "$SERVER" >>"$WORK/lf.log" 2>&1 &
    PIDS+=($!)
    # Two processes on one store of their own and one data folder (the upload sessions and the
    # token signing key live there). The file has the last word over the environment: its
    # address is left out, for each process's own.
    sed -e "s|$stores/lf|$stores/lf2|g" -e '/^listen/d' "$stores/lf/labforge.toml" >"$stores/lf2/labforge.toml"
    for port in $LF2A_PORT $LF2B_PORT; do
        LABFORGE_CONFIG="$stores/lf2/labforge.toml" LABFORGE_REGISTRY_LISTEN=127.0.0.1:$port "$SERVER" >>"$WORK/lf2.log" 2>&1 &
        PIDS+=($!)
    done
    for port in $DR_PORT $LF_PORT $LF2A_PORT $LF2B_PORT; do
        for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
        curl -s -o /dev/null "http://127.0.0.1:$port/v2/" || {
            echo "nothing answers on 127.0.0.1:$port; the registries' logs:" >&2
            cat "$WORK/dr.log" "$WORK/lf.log" "$WORK/lf2.log" >&2
            exit 1
        }
    done
}

# ---- clients ----
client_failed() { echo "$1 failed:" >&2; cat "$WORK/client.log" >&2; exit 1; }
push() { # client, registry name, image folder, repository
    local ref=127.0.0.1:${PUSH_PORT[$2]}/$4:1
    case $1 in
    crane) "$CRANE" push --insecure "$3/oci" "$ref" >/dev/null 2>"$WORK/client.log" || client_failed "crane push to $2" ;;
    skopeo) local creds=(); [ "$2" = docker-registry ] || creds=(--dest-creds "ci:$PASSWORD")
        skopeo copy --quiet --preserve-digests --dest-tls-verify=false "${creds[@]}" "dir:$3/dir" "docker://$ref" \
            >/dev/null 2>"$WORK/client.log" || client_failed "skopeo push to $2" ;;
    esac
}
pull() { # client, registry name; into $PULLED, checked against the large image's manifest
    local ref=127.0.0.1:${PULL_PORT[$2]}/bench/large:1 manifest_digest
    case $1 in
    crane) "$CRANE" pull --insecure --format oci "$ref" "$PULLED" >/dev/null 2>"$WORK/client.log" ||
            client_failed "crane pull from $2"
        manifest_digest=$(sha256sum "$WORK/large/dir/manifest.json" | cut -d' ' -f1)
        grep -q "sha256:$manifest_digest" "$PULLED/index.json" || { echo "$2: crane pulled another manifest" >&2; exit 1; } ;;
    skopeo) local creds=(); [ "$2" = docker-registry ] || creds=(--src-creds "ci:$PASSWORD")
        skopeo copy --quiet --preserve-digests --src-tls-verify=false "${creds[@]}" "docker://$ref" "dir:$PULLED" \
            >/dev/null 2>"$WORK/client.log" || client_failed "skopeo pull from $2"
        cmp -s "$PULLED/manifest.json" "$WORK/large/dir/manifest.json" || { echo "$2: skopeo pulled another manifest" >&2; exit 1; } ;;
    esac
}

# ---- measurements ----
now() { date +%s.%N; }
timed() { local start; sync; start=$(now); "$@"; echo "$(now) - $start" | bc -l; }
CLIENTS=(crane skopeo)
declare -A PUSH PULL
for round in $(seq "$ROUNDS"); do
    # The registries' order rotates from round to round.
    order=("${NAMES[@]:$(( (round - 1) % 3 ))}" "${NAMES[@]:0:$(( (round - 1) % 3 ))}")
    for client in "${CLIENTS[@]}"; do
        start_registries "$round-$client"
        for name in "${order[@]}"; do
            PUSH[$client|$name]+="$(timed push "$client" "$name" "$WORK/large" bench/large) "
            rm -rf "$PULLED"
            PULL[$client|$name]+="$(timed pull "$client" "$name") "
            rm -rf "$PULLED"
        done
        stop_registries
        echo "round $round, $client: done" >&2
    done
done

# Ten datalabs, on empty stores.
start_registries disk
declare -A DISK
for name in "${NAMES[@]}"; do
    first=${PUSH_PORT[$name]}
    for i in $(seq 0 9); do
        # Every other image through the pull port: labforge x2's two processes alternate.
        [ $((i % 2)) = 0 ] || PUSH_PORT[$name]=${PULL_PORT[$name]}
        push crane "$name" "$WORK/lab$i" "datalabs/lab$i"
        PUSH_PORT[$name]=$first
    done
    DISK[$name]=$(du -sb "${STORE[$name]}" | cut -f1)
done
stop_registries

# ---- results ----
TEN_SUM=0
for i in $(seq 0 9); do TEN_SUM=$(( TEN_SUM + $(image_bytes "$WORK/lab$i") )); done
mb() { echo "scale=1; $1 / 1048576" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rate() { echo "scale=1; $LARGE_BYTES / 1048576 / $1" | bc -l; }
seconds() { printf '%.2f s' "$1"; }
row() { printf '%-30s' "$1"; shift; for value in "$@"; do printf '%18s' "$value"; done; echo; }
each() { local values=() value; for value in $1; do values+=("$(printf '%.2f' "$value")"); done; echo "${values[*]}"; }

echo
echo "large image: $(mb "$LARGE_BYTES") MB in 4 uncompressed layers, 127.0.0.1, empty stores, pulled into $(dirname "$PULLED");"
echo "median of $ROUNDS rounds (the registries' order rotating), then each round's seconds"
for client in "${CLIENTS[@]}"; do
    echo
    case $client in
    crane) echo "crane $CRANE_VERSION (Go module, several layers at once): decides the target" ;;
    skopeo) echo "skopeo $(skopeo --version | cut -d' ' -f3) (Debian; one layer after another, its pull bound by its own CPU)" ;;
    esac
    row "" "${NAMES[@]}"
    declare -A MPUSH=() MPULL=() MTOTAL=()
    for name in "${NAMES[@]}"; do
        read -r -a pushes <<<"${PUSH[$client|$name]}"
        read -r -a pulls <<<"${PULL[$client|$name]}"
        totals=()
        for i in "${!pushes[@]}"; do totals+=("$(echo "${pushes[$i]} + ${pulls[$i]}" | bc -l)"); done
        MPUSH[$name]=$(median "${pushes[@]}")
        MPULL[$name]=$(median "${pulls[@]}")
        MTOTAL[$name]=$(median "${totals[@]}")
    done
    row "push time" "$(seconds "${MPUSH[docker-registry]}")" "$(seconds "${MPUSH[labforge]}")" "$(seconds "${MPUSH[labforge x2]}")"
    row "push throughput" "$(rate "${MPUSH[docker-registry]}") MB/s" "$(rate "${MPUSH[labforge]}") MB/s" "$(rate "${MPUSH[labforge x2]}") MB/s"
    row "pull time" "$(seconds "${MPULL[docker-registry]}")" "$(seconds "${MPULL[labforge]}")" "$(seconds "${MPULL[labforge x2]}")"
    row "pull throughput" "$(rate "${MPULL[docker-registry]}") MB/s" "$(rate "${MPULL[labforge]}") MB/s" "$(rate "${MPULL[labforge x2]}") MB/s"
    row "push + pull" "$(seconds "${MTOTAL[docker-registry]}")" "$(seconds "${MTOTAL[labforge]}")" "$(seconds "${MTOTAL[labforge x2]}")"
    ratio() { echo "scale=2; ${MTOTAL[docker-registry]} / $1" | bc -l; }
    row "throughput vs dr (>= 1.2)" "1.00" "$(ratio "${MTOTAL[labforge]}")" "$(ratio "${MTOTAL[labforge x2]}")"
    echo "each round, in seconds:"
    for name in "${NAMES[@]}"; do
        printf '  %-16s push %s   pull %s\n' "$name" "$(each "${PUSH[$client|$name]}")" "$(each "${PULL[$client|$name]}")"
    done
done
echo
echo "ten datalabs sharing 150 MB of base layers, 5 MB own layer each: sum of image sizes $(mb "$TEN_SUM") MB"
row "bytes on disk after push" "$(mb "${DISK[docker-registry]}") MB" "$(mb "${DISK[labforge]}") MB" "$(mb "${DISK[labforge x2]}") MB"
share() { echo "scale=3; $1 / $TEN_SUM" | bc -l; }
row "disk / sum of sizes" "$(share "${DISK[docker-registry]}")" "$(share "${DISK[labforge]}")" "$(share "${DISK[labforge x2]}")"

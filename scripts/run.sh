#!/usr/bin/env bash
# The main job on a fresh Debian machine: install what is missing, start dockerd and the registry,
# build the base images and the example datalabs, then keep the registry serving until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT

export LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-127.0.0.1:5000}
export LABFORGE_DATA_DIR=${LABFORGE_DATA_DIR:-/var/lib/labforge}

install_missing
start_dockerd
start_registry "$LABFORGE_REGISTRY" "$LABFORGE_DATA_DIR/registry"
say "building labforge"
cargo build --release --quiet
./target/release/labforge run --examples examples
say "datalab images: http://$LABFORGE_REGISTRY/v2/_catalog (Ctrl-C stops what this script started)"
wait

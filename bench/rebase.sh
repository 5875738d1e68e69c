#!/usr/bin/env bash
# Rebase benchmark (see bench/rebase.rs): ten datalabs built on the current bases, a patched
# jl_base pushed, then rebuilding the ten onto it from warm caches beside `labforge rebase`'s image
# step, in one run. Usage: bench/rebase.sh [--labs N]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT
export LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-127.0.0.1:5005}
export LABFORGE_DATA_DIR=${LABFORGE_DATA_DIR:-/var/tmp/labforge-bench}
export LABFORGE_REGISTRY_USERNAME=${LABFORGE_REGISTRY_USERNAME:-builder}
PASSWORD_FILE=$LABFORGE_DATA_DIR/registry-builder-password
install_missing
start_dockerd
cargo build --release --quiet --bin labforge --example rebase_bench
LABFORGE_REGISTRY_PASSWORD=$(registry_builder_password "$PASSWORD_FILE")
export LABFORGE_REGISTRY_PASSWORD
start_labforge_registry ./target/release/labforge "$LABFORGE_REGISTRY" "$LABFORGE_DATA_DIR" \
  "$LABFORGE_REGISTRY_USERNAME" "$PASSWORD_FILE"
./target/release/labforge base-images >/dev/null
./target/release/examples/rebase_bench "$@"

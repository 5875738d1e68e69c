#!/usr/bin/env bash
# SBOM benchmark (see bench/sbom.rs): builds the reference lab into labforge's registry (or takes
# IMAGE), then prints the SBOM time beside the time to read the same layers without parsing them.
# Usage: bench/sbom.sh [registry/repository:tag]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT
export LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-127.0.0.1:5005}
export LABFORGE_DATA_DIR=${LABFORGE_DATA_DIR:-/var/tmp/labforge-bench}
export LABFORGE_REGISTRY_USERNAME=${LABFORGE_REGISTRY_USERNAME:-builder}
PASSWORD_FILE=$LABFORGE_DATA_DIR/registry-builder-password
install_missing
start_dockerd
cargo build --release --quiet --bin labforge --example sbom_bench
LABFORGE_REGISTRY_PASSWORD=$(registry_builder_password "$PASSWORD_FILE")
export LABFORGE_REGISTRY_PASSWORD
start_labforge_registry ./target/release/labforge "$LABFORGE_REGISTRY" "$LABFORGE_DATA_DIR" \
  "$LABFORGE_REGISTRY_USERNAME" "$PASSWORD_FILE"
./target/release/labforge base-images >/dev/null
./target/release/examples/sbom_bench ${1:+--image "$1"}

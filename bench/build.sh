#!/usr/bin/env bash
# Build pipeline benchmark (see benches/build.rs): starts what it needs, prints the table.
# Note: it prunes this dockerd's whole BuildKit cache before each cold run.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT
export LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-127.0.0.1:5005}
export LABFORGE_DATA_DIR=${LABFORGE_DATA_DIR:-/var/tmp/labforge-bench}
install_missing
start_dockerd
start_registry "$LABFORGE_REGISTRY" "$LABFORGE_DATA_DIR/registry"
cargo run --release --quiet -- base-images >/dev/null
cargo bench --bench build

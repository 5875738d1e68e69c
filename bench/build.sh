#!/usr/bin/env bash
# Build pipeline benchmark (see benches/build.rs): starts what it needs, prints the table.
# Note: it prunes this dockerd's whole BuildKit cache before each cold run.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT
export LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-127.0.0.1:5005}
export LABFORGE_DATA_DIR=${LABFORGE_DATA_DIR:-/var/tmp/labforge-bench}
export LABFORGE_REGISTRY_USERNAME=${LABFORGE_REGISTRY_USERNAME:-builder}
PASSWORD_FILE=$LABFORGE_DATA_DIR/registry-builder-password
install_missing
start_dockerd
cargo build --release --quiet
LABFORGE_REGISTRY_PASSWORD=$(registry_builder_password "$PASSWORD_FILE")
export LABFORGE_REGISTRY_PASSWORD
start_labforge_registry ./target/release/labforge "$LABFORGE_REGISTRY" "$LABFORGE_DATA_DIR" \
  "$LABFORGE_REGISTRY_USERNAME" "$PASSWORD_FILE"
./target/release/labforge base-images >/dev/null
cargo bench --bench build

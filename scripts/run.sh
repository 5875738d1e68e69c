#!/usr/bin/env bash
# The main job on a fresh Debian machine: install what is missing, start dockerd and the labforge
# service (web UI, JSON API, registry and build workers in one process), build the base images into its
# registry, register the example datalabs with it (its workers build and smoke-test them; they are
# then published), and keep serving until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT

ADDRESS=${LABFORGE_LISTEN:-127.0.0.1:5000}
export LABFORGE_LISTEN=$ADDRESS LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-$ADDRESS}
export LABFORGE_DATA_DIR=${LABFORGE_DATA_DIR:-/var/lib/labforge}
# The account builds push as, which the service's registry accepts as a builder.
export LABFORGE_REGISTRY_USERNAME=${LABFORGE_REGISTRY_USERNAME:-builder}
PASSWORD_FILE=$LABFORGE_DATA_DIR/registry-builder-password

install_missing
start_dockerd
say "building labforge"
cargo build --release --quiet
build_web
LABFORGE_REGISTRY_PASSWORD=$(registry_builder_password "$PASSWORD_FILE")
export LABFORGE_REGISTRY_PASSWORD
start_labforge serve ./target/release/labforge "$ADDRESS" "$LABFORGE_DATA_DIR" \
  "$LABFORGE_REGISTRY_USERNAME" "$PASSWORD_FILE"
./target/release/labforge run --examples examples
say "the web UI: http://$ADDRESS/"
say "labforge serves on http://$ADDRESS: API under /api (OpenAPI: /api/openapi.json), registry under /v2,"
say "catalog at /catalog.jsonld, metrics at /metrics."
if grep -q 'one-time password' "$LABFORGE_DATA_DIR/serve.log"; then
  say "$(grep 'one-time password' "$LABFORGE_DATA_DIR/serve.log" | tail -1)"
fi
say "Ctrl-C stops what this script started"
wait

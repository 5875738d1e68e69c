#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: install what is missing, start dockerd and a
# registry on loopback, build the base images, run every test, and stop what was started.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT

export LABFORGE_REGISTRY=127.0.0.1:5005
export LABFORGE_DATA_DIR=${LABFORGE_TEST_DATA_DIR:-/var/tmp/labforge-test}
export LABFORGE_TEST_REGISTRY=$LABFORGE_REGISTRY

install_missing
start_dockerd
start_registry "$LABFORGE_REGISTRY" "$LABFORGE_DATA_DIR/registry"
start_postgres 5433 /var/tmp/labforge-test-postgres
export LABFORGE_TEST_POSTGRES_URL=$POSTGRES_URL
say "building the base images"
cargo run --quiet -- base-images
say "running the tests"
cargo test --lib --bins --tests -- --test-threads 2
